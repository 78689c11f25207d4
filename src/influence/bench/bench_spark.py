"""Batch scoring on Spark local[2] against the single-machine path, on the same data and model in the same run.

Data: the batch benchmark's generated folder (`bench_batch._folder`: data/bench/features-<n>-seed11, gitignored,
written once). Full mode: INFLUENCE_BENCH_SPARK_ACCOUNTS accounts (default 42,000: about 1M scored people);
quick: 300 accounts (about 7k people). Model: the shipped default bundle. Reasons on (the CLI default).

Figures: people/s end to end (load + validate + features + models + reasons + write) for
- single machine: `influence.batch.score_accounts` in this process (one core);
- Spark local[2]: `influence.spark.score_with_spark` (2 executor cores), with the Spark session started before
  the clock (`spark_session_s` reports its start-up separately: a cluster pays it once, not per job);
and `spark_vs_single` = Spark people/s / single-machine people/s. The row counts are checked to be equal.
Skipped (with the reason) when pyspark is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path
from typing import Any

QUICK_ACCOUNTS = 300
FULL_ACCOUNTS = 42_000


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run(quick: bool) -> dict[str, Any]:
    """Score the same folder both ways; see the module docstring."""
    if importlib.util.find_spec("pyspark") is None:
        return {"skipped": "pyspark is not installed: pip install -e '.[spark]' (needs Java 17)"}
    from influence.batch import score_accounts
    from influence.bench.bench_batch import _folder
    from influence.spark import score_with_spark, spark_session

    n_accounts = (
        QUICK_ACCOUNTS if quick else int(os.environ.get("INFLUENCE_BENCH_SPARK_ACCOUNTS", FULL_ACCOUNTS))
    )
    folder = _folder(n_accounts)
    result: dict[str, Any] = {
        "accounts": n_accounts,
        "data": str(folder),
        "load_average_before": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        t0, c0 = time.perf_counter(), _cpu()
        single = score_accounts(folder, Path(tmp) / "single.parquet", progress=False)
        result["single_machine"] = {
            "people": single.people,
            "wall_s": time.perf_counter() - t0,
            "cpu_s_driver": _cpu() - c0,
            "people_per_s": single.people / (time.perf_counter() - t0),
        }
        t0 = time.perf_counter()
        session = spark_session("local[2]", app_name="influence bench")
        result["spark_session_s"] = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            spark = score_with_spark(folder, Path(tmp) / "spark.parquet", spark=session)
            wall = time.perf_counter() - t0
        finally:
            session.stop()
        result["spark_local_2"] = {
            "people": spark.people,
            "wall_s": wall,
            "people_per_s": spark.people / wall,
        }
    if spark.people != single.people:
        raise RuntimeError(f"Spark scored {spark.people} people, the single-machine path {single.people}")
    result["spark_vs_single"] = (
        result["spark_local_2"]["people_per_s"] / result["single_machine"]["people_per_s"]
    )
    result["load_average_after"] = os.getloadavg()[0]
    return result
