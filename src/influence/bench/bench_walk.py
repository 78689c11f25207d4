"""The compiled tree walk (`fastpath`, numba) against its peer, the numpy / scikit-learn walk it replaces, on the
shipped model: CPU microseconds per row for what `Scorer` needs per block (leaves and margins of both models,
probabilities, attributions of the influence and of the best profile), at 1, 31, 1,024 and 4,096 rows.

Both run in this process, alternating call by call (the peer is the same module with the kernels switched off,
i.e. the fallback path), so machine noise hits both alike: compare `ratio`, not absolute figures. Rows are
feature rows of a generated dataset (fixed seed), cycled to the block size. Compile cost is measured in fresh
subprocesses with an empty numba cache (`compile_cold_s`) and then with that cache filled (`compile_warm_s`):
what a server pays once at start-up.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROW_COUNTS = (1, 31, 1024, 4096)

_COMPILE = (
    "import time; t = time.perf_counter(); from influence import fastpath; "
    "assert fastpath._kernels() is not None; print(time.perf_counter() - t)"
)


def _compile_seconds(cache_dir: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", _COMPILE], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> dict[str, Any]:
    """Per-row CPU of the compiled walk vs the numpy path, and compile times."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy as np

    from influence import fastpath
    from influence.features import build_features
    from influence.generate import generate
    from influence.predict import Scorer

    scorer = Scorer.from_ref()
    frame = build_features(generate(12 if quick else 40, 11))
    rows = frame[list(scorer.feature_columns)].to_numpy(dtype=np.float64)
    influence, profile = scorer._influence, scorer._profile
    kernels = fastpath._kernels

    def block(X: np.ndarray) -> None:
        leaves_i, _ = influence.walk(X)
        leaves_p, raw_p = profile.walk(X)
        best = np.argmax(profile.proba_from_margin(raw_p), axis=1)
        influence.contributions(leaves=leaves_i, output=0)
        profile.contributions(leaves=leaves_p, output=best)

    def numpy_block(X: np.ndarray) -> None:
        fastpath._kernels = lambda: None  # type: ignore[assignment]
        try:
            block(X)
        finally:
            fastpath._kernels = kernels

    result: dict[str, Any] = {"compiled_available": kernels() is not None, "rows": {}}
    rng = np.random.default_rng(0)
    for n in ROW_COUNTS:
        repeat = max(3, (200 if quick else 2000) // n) if n < 1024 else (2 if quick else 5)
        samples: dict[str, list[float]] = {"compiled": [], "numpy": []}
        for _ in range(repeat):
            X = rows[rng.integers(0, len(rows), size=n)]
            for name, fn in (("compiled", block), ("numpy", numpy_block)):
                t0 = time.process_time()
                fn(X)
                samples[name].append(time.process_time() - t0)
        compiled = statistics.median(samples["compiled"]) / n * 1e6
        peer = statistics.median(samples["numpy"]) / n * 1e6
        result["rows"][str(n)] = {
            "compiled_us_per_row": round(compiled, 2),
            "numpy_us_per_row": round(peer, 2),
            "ratio": round(peer / compiled, 2),
            "repeat": repeat,
        }
    with tempfile.TemporaryDirectory() as cache:
        result["compile_cold_s"] = round(_compile_seconds(cache), 2)
        result["compile_warm_s"] = round(_compile_seconds(cache), 2)
    result["load_average"] = os.getloadavg()
    return result
