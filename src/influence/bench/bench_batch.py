"""Batch scoring throughput and memory, and single-row scoring latency.

Data: the project's generator, seed 11, written once to data/bench/features-<n>-seed11 (gitignored; the same
folder the features benchmark uses, identical content for the same n). Full mode: INFLUENCE_BENCH_BATCH_ACCOUNTS
accounts (default 42,000, about 1M scored people); quick: 300. Model: the shipped default bundle.

Figures (medians of wall-clock seconds; CPU seconds too, since the 2-core machine is shared):
- end to end: `score_accounts` from the loaded dataset to a Parquet file (features + models + reasons +
  coverage), people/s, with and without reasons; loading/validating the folder is timed separately;
- model only, on the same feature rows: `Scorer.score_features(explain=False)` vs the peer, the bundle's
  scikit-learn pipelines (`predict_influence` + `predict_profile_proba`) measured in the same run;
- one row: `Scorer.score_rows` (with reasons) and `score_matrix` vs the scikit-learn pipelines on one row;
- peak RSS of this process (the runner starts one process per benchmark).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from influence.bench import median_time, peak_rss_mib
from influence.settings import project_root

SEED = 11
FULL_ACCOUNTS = 42_000  # about 1M scored (deal, person) rows with the default generator settings
QUICK_ACCOUNTS = 300


def _folder(n_accounts: int) -> Path:
    from influence.generate import write_generated

    folder = project_root() / "data" / "bench" / f"features-{n_accounts}-seed{SEED}"
    if not (folder / "accounts.parquet").exists():
        write_generated(folder, n_accounts, SEED)
    return folder


def _rss_mib() -> float:
    """Current resident memory (Linux /proc), to split the peak into fixed, dataset and scoring parts."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _latency(fn: Any, repeat: int) -> dict[str, float]:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return {
        "p50_us": statistics.median(samples) * 1e6,
        "p90_us": samples[int(0.9 * (len(samples) - 1))] * 1e6,
    }


def run(quick: bool) -> dict[str, Any]:
    from influence.batch import score_accounts
    from influence.data import load
    from influence.features import build_features
    from influence.predict import Scorer

    n_accounts = (
        QUICK_ACCOUNTS if quick else int(os.environ.get("INFLUENCE_BENCH_BATCH_ACCOUNTS", FULL_ACCOUNTS))
    )
    folder = _folder(n_accounts)
    t0 = time.perf_counter()
    scorer = Scorer.from_ref(None)
    scorer_s = time.perf_counter() - t0
    rss_before_data = _rss_mib()
    t0 = time.perf_counter()
    ds = load(folder)
    load_s = time.perf_counter() - t0
    rss_with_data = _rss_mib()
    peak_after_load = peak_rss_mib()
    frames_mib = sum(float(ds[name].memory_usage(deep=True).sum()) for name in ds) / 2**20
    bundle = scorer.bundle
    repeat = 3 if quick else 1

    result: dict[str, Any] = {
        "accounts": n_accounts,
        "model": scorer.model_version,
        "trees": {"influence": scorer._influence.n_trees, "profile": scorer._profile.n_trees},
        "load_validate_s": load_s,
        "scorer_build_s": scorer_s,
        "load_average": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, explain in (("with_reasons", True), ("no_reasons", False)):
            out = Path(tmp) / f"{label}.parquet"
            summaries = []
            cpu0 = _cpu()

            def job(explain: bool = explain, out: Path = out, summaries: list = summaries) -> None:
                summaries.append(score_accounts(ds, out, model=scorer, explain=explain, progress=False))

            wall, samples = median_time(job, repeat=repeat)
            people = summaries[-1].people
            result[f"end_to_end_{label}"] = {
                "people": people,
                "deals": summaries[-1].deals,
                "wall_s": wall,
                "cpu_s": (_cpu() - cpu0) / repeat,
                "people_per_s": people / wall,
                "people_per_cpu_s": people / ((_cpu() - cpu0) / repeat),
                "samples_s": samples,
            }

    people = result["end_to_end_with_reasons"]["people"]
    peak = peak_rss_mib()
    dataset_mib = max(rss_with_data - rss_before_data, 0.0)
    # Measured before the model-only part, which holds a whole feature frame. The dataset (and loading's
    # transient peak) grows with the number of people; scoring works a chunk at a time, so its part does not.
    scale = 1_000_000 / max(people, 1)
    scoring = max(peak - rss_with_data, 0.0)
    result["memory_mib"] = {
        "peak": peak,
        "peak_after_load": peak_after_load,
        "code_and_model": rss_before_data,
        "dataset": dataset_mib,
        "dataset_frames": frames_mib,
        "scoring_above_dataset": scoring,
        # What `data.load` peaks at, scaled (its validation holds copies), and what scoring needs once the
        # frames are loaded (code + frames + one chunk).
        "estimate_for_1m_people": max(
            rss_before_data + (peak_after_load - rss_before_data) * scale,
            rss_before_data + dataset_mib * scale + scoring,
        ),
        "estimate_for_1m_people_scoring_only": rss_before_data + frames_mib * scale + scoring,
    }

    # Model only, same rows: our numpy path vs the scikit-learn pipelines.
    t0 = time.perf_counter()
    features = build_features(ds)
    result["build_features_s"] = time.perf_counter() - t0
    rows = features if quick else features.iloc[:200_000]

    def sklearn_peer() -> None:
        bundle.predict_influence(rows)
        bundle.predict_profile_proba(rows)

    ours, _ = median_time(lambda: scorer.score_features(rows, explain=False), repeat=repeat)
    theirs, _ = median_time(sklearn_peer, repeat=repeat)
    explained, _ = median_time(lambda: scorer.score_features(rows, explain=True), repeat=repeat)
    result["model_only"] = {
        "rows": len(rows),
        "scorer_rows_per_s": len(rows) / ours,
        "scorer_with_reasons_rows_per_s": len(rows) / explained,
        "sklearn_pipelines_rows_per_s": len(rows) / theirs,
        "ratio_scorer_vs_sklearn": theirs / ours,
    }

    # One row (the API's /v1/people/score case).
    one = features.iloc[[len(features) // 2]]
    x = scorer.feature_matrix(one)
    n = 200 if quick else 1000
    result["one_row"] = {
        "score_rows_with_reasons": _latency(lambda: scorer.score_rows(x), n),
        "score_rows_no_reasons": _latency(lambda: scorer.score_rows(x, explain=False), n),
        "score_matrix": _latency(lambda: scorer.score_matrix(x), n),
        "sklearn_pipelines": _latency(
            lambda: (bundle.predict_influence(one), bundle.predict_profile_proba(one)), n
        ),
    }
    result["one_row"]["ratio_sklearn_vs_score_rows_no_reasons"] = (
        result["one_row"]["sklearn_pipelines"]["p50_us"]
        / result["one_row"]["score_rows_no_reasons"]["p50_us"]
    )
    result["goals"] = {
        "people_per_s>=100k (with reasons)": result["end_to_end_with_reasons"]["people_per_s"] >= 100_000,
        "peak<4GiB for 1M people (estimate)": result["memory_mib"]["estimate_for_1m_people"] < 4096,
        "scoring<4GiB for 1M people once loaded (estimate)": result["memory_mib"][
            "estimate_for_1m_people_scoring_only"
        ]
        < 4096,
        "one row p50 < 1 ms (score_matrix)": result["one_row"]["score_matrix"]["p50_us"] < 1000,
    }
    return result
