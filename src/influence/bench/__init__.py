"""Benchmarks for `make bench`. Each module `bench_<name>.py` exposes `run(quick: bool) -> dict` and is measured
in the same run as its peer, so figures are medians and ratios rather than absolute timings on a noisy machine.
Results are written to reports/bench/<name>.json; docs/benchmarks.md records them with the machine."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from influence.settings import reports_dir


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "system": platform.platform(),
    }


def median_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, list[float]]:
    """Median wall-clock seconds of `repeat` calls (and every sample)."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, result: dict[str, Any]) -> Path:
    out = reports_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    payload = {
        "name": name,
        "machine": machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **result,
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
