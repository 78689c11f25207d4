"""Generation benchmark: N accounts (quick: 1,000; full: 10,000) streamed to Parquet in a temporary folder.

The headline run uses 2 worker processes (the target: 10,000 accounts, about 10M interaction rows, in under two
minutes on 2 cores with bounded memory). Its peer, measured in the same run, is a tenth of the size with 1 and 2
workers (median of 3 each), which gives the parallel speed-up and how time scales with size.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from influence.bench import median_time, peak_rss_mib

INTERACTIONS = ("meeting_attendees", "emails", "email_recipients", "signals")


def _children_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _write(n: int, workers: int) -> dict[str, int]:
    from influence.generate import write_generated

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        counts = write_generated(Path(tmp), n, seed=1, fmt="parquet", workers=workers)
        counts["bytes"] = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return counts


def run(quick: bool) -> dict[str, Any]:
    """Seconds, rows/s and peak memory for generating and writing a large dataset."""
    n = 1_000 if quick else 10_000
    t0 = time.perf_counter()
    counts = _write(n, workers=2)
    seconds = time.perf_counter() - t0
    interactions = sum(counts[t] for t in INTERACTIONS)
    total = sum(v for k, v in counts.items() if k != "bytes")
    small = max(100, n // 10)
    one, _ = median_time(lambda: _write(small, workers=1), repeat=3)
    two, _ = median_time(lambda: _write(small, workers=2), repeat=3)
    return {
        "accounts": n,
        "workers": 2,
        "seconds": round(seconds, 2),
        "rows": total,
        "interaction_rows": interactions,
        "interaction_rows_per_account": round(interactions / n, 1),
        "rows_per_s": round(total / seconds),
        "interaction_rows_per_s": round(interactions / seconds),
        "parquet_mib": round(counts["bytes"] / 2**20, 1),
        "peak_rss_mib_main": round(peak_rss_mib(), 1),
        "peak_rss_mib_worker": round(_children_peak_rss_mib(), 1),
        "peer_accounts": small,
        "peer_seconds_1_worker_median": round(one, 2),
        "peer_seconds_2_workers_median": round(two, 2),
        "speedup_2_vs_1_workers": round(one / two, 2),
        "seconds_per_1000_accounts_headline": round(seconds / n * 1000, 2),
        "seconds_per_1000_accounts_peer_2_workers": round(two / small * 1000, 2),
    }
