"""Batch scoring on Spark local[2] against the single-machine path, on the same data and model in the same run.

Sizes (the default `make bench` stays short; the 1M-people run is opt-in):
- quick (`--quick`): 300 generated accounts, about 7k people;
- default: INFLUENCE_BENCH_SPARK_ACCOUNTS generated accounts (default 1,000: about 24k people);
- 1M+ people: `INFLUENCE_BENCH_SPARK_ACCOUNTS=42000 python -m influence.bench spark` (about 1.1M scored
  people; the same variable applies under `make bench`), or point INFLUENCE_BENCH_SPARK_DATA at an existing
  dataset folder (e.g. one written by `influence generate --accounts 42000 --seed 11 --out /tmp/...`) to skip
  generating it. Needs about 11 GiB at peak (measured: the Spark driver loads the whole folder; the single
  path 1.8 GiB): on a shared machine run it under the shared memory lock, see docs/scaling.md.
Generated data: the project's generator, seed 11, in data/bench/features-<n>-seed11 (gitignored; the same folder
the batch and features benchmarks use).

Each side runs in its own fresh process, one after the other, so neither inherits the other's memory or warm
caches; a sampler in this process records the peak resident memory of that process *and all its descendants*
(for Spark: the driver's Python, the JVM and the Python workers), every 0.2 s.
- single machine: `influence.batch.score_accounts` (what `influence score` runs), one process;
- Spark local[2]: `influence.spark.score_with_spark` with 2 executor cores; the session is started before the
  clock (`spark.session_s` reports its start-up: a cluster pays it once per application, not per job).
Reasons are on (the CLI default) unless INFLUENCE_BENCH_SPARK_REASONS=0 (then off on both sides).
Figures: people/s end to end (load + validate + features + models + reasons + write), `spark_vs_single` = Spark
people/s / single-machine people/s; the row counts are checked to be equal; load averages before, between, after.
Skipped (with the reason) when pyspark is not installed.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from influence.settings import project_root

SEED = 11
QUICK_ACCOUNTS = 300
DEFAULT_ACCOUNTS = 1_000
ACCOUNTS_ENV = "INFLUENCE_BENCH_SPARK_ACCOUNTS"
DATA_ENV = "INFLUENCE_BENCH_SPARK_DATA"
REASONS_ENV = "INFLUENCE_BENCH_SPARK_REASONS"  # "0": score without reasons on both sides (about 1.7x faster)
SAMPLE_EVERY_S = 0.2


def _folder(n_accounts: int) -> Path:
    from influence.generate import write_generated

    folder = project_root() / "data" / "bench" / f"features-{n_accounts}-seed{SEED}"
    if not (folder / "accounts.parquet").exists():
        write_generated(folder, n_accounts, SEED)
    return folder


def _tree_rss_mib(root: int) -> float:
    """Resident memory of `root` and every descendant (Linux /proc), in MiB."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    # the command name may hold spaces: the fields after its closing parenthesis are fixed
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    pages = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                pages += int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _side(kind: str, folder: str, out: str, explain: bool, conn: Any) -> None:
    """One side of the comparison, in a fresh process: score `folder` into `out`, send the figures back."""
    import resource

    try:
        result: dict[str, Any] = {}
        if kind == "single":
            from influence.batch import score_accounts

            t0, c0 = time.perf_counter(), os.times()
            summary = score_accounts(folder, out, explain=explain, progress=False)
            wall = time.perf_counter() - t0
            c1 = os.times()
            result["cpu_s"] = (c1.user + c1.system) - (c0.user + c0.system)
        else:
            from influence.spark import score_with_spark, spark_session

            t0 = time.perf_counter()
            session = spark_session("local[2]", app_name="influence bench")
            result["session_s"] = time.perf_counter() - t0
            try:
                t0 = time.perf_counter()
                summary = score_with_spark(folder, out, spark=session, explain=explain)
                wall = time.perf_counter() - t0
            finally:
                session.stop()
        result.update(
            people=summary.people,
            deals=summary.deals,
            accounts=summary.accounts_scored,
            wall_s=wall,
            load_s=summary.load_seconds,
            people_per_s=summary.people / wall,
            driver_peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
        conn.send(result)
    except BaseException as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        conn.close()


def _measure(kind: str, folder: Path, out: Path, explain: bool) -> dict[str, Any]:
    """Run one side in a spawned process while sampling its process tree's memory."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_side, args=(kind, str(folder), str(out), explain, send), name=f"bench-spark-{kind}"
    )
    process.start()
    send.close()
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_mib(process.pid))
            stop.wait(SAMPLE_EVERY_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = receive.recv()
    except EOFError:
        result = {"error": "the benchmark process died without a result (out of memory?)"}
    process.join()
    stop.set()
    sampler.join()
    if "error" in result:
        raise RuntimeError(f"{kind} side failed (exit code {process.exitcode}): {result['error']}")
    result["peak_rss_mib_process_tree"] = peak
    return result


def run(quick: bool) -> dict[str, Any]:
    """Score the same folder both ways, one side after the other in fresh processes; see the module docstring."""
    if importlib.util.find_spec("pyspark") is None:
        return {"skipped": "pyspark is not installed: pip install -e '.[spark]' (needs Java 17)"}
    given = os.environ.get(DATA_ENV)
    if given:
        folder = Path(given)
        if not (folder / "accounts.parquet").exists():
            raise FileNotFoundError(
                f"{DATA_ENV}={given}: no accounts.parquet there (a dataset folder is needed)"
            )
        n_accounts = None
    else:
        n_accounts = QUICK_ACCOUNTS if quick else int(os.environ.get(ACCOUNTS_ENV, DEFAULT_ACCOUNTS))
        folder = _folder(n_accounts)
    explain = os.environ.get(REASONS_ENV, "1") != "0"
    result: dict[str, Any] = {
        "data": str(folder),
        "accounts": n_accounts,
        "reasons": explain,
        "load_average_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        result["single_machine"] = _measure("single", folder, Path(tmp) / "single.parquet", explain)
        (Path(tmp) / "single.parquet").unlink()
        result["load_average_between"] = os.getloadavg()
        result["spark_local_2"] = _measure("spark", folder, Path(tmp) / "spark.parquet", explain)
    result["load_average_after"] = os.getloadavg()
    single, spark = result["single_machine"], result["spark_local_2"]
    result["accounts"] = single["accounts"]
    if spark["people"] != single["people"]:
        raise RuntimeError(
            f"Spark scored {spark['people']} people, the single-machine path {single['people']}"
        )
    result["people"] = single["people"]
    result["spark_vs_single"] = spark["people_per_s"] / single["people_per_s"]
    result["peak_memory_ratio_spark_vs_single"] = (
        spark["peak_rss_mib_process_tree"] / single["peak_rss_mib_process_tree"]
    )
    return result
