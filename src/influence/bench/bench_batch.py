"""Batch scoring throughput and memory (`influence score`), and single-row scoring latency.

Data: the project's generator, seed 11, written once to data/bench/features-<n>-seed11 (gitignored; the same
folder the features benchmark uses), or the folder INFLUENCE_BENCH_BATCH_DIR (generated beforehand, e.g. with
`influence generate --accounts 42000 --seed 11 --workers 2 --out /tmp/batch/gen-42000-seed11`).
Size: quick 300 accounts; default 1,000 (24k people, a few minutes); INFLUENCE_BENCH_BATCH_ACCOUNTS=42000 for
about 1M scored people (run it under `flock /work/helpers/bigmem.lock`). Model: the shipped default bundle.

Jobs, each `influence score DIR --out X.parquet` in its own process (so peak memory is the job's own), with
the resident memory of the job's process tree (the CLI and its workers) sampled every 0.1 s, and the job's CPU
seconds by phase (load, validate, score, write; from its summary) in `phase_cpu_s`:
- `chunked_w1`, `chunked_w2`: the chunked folder reader (influence.chunks) with 1 and 2 worker processes;
- peer `whole_load` (same run): the previous path, `data.load` of the whole folder then in-memory slicing, on
  the 1,000-account folder (or the folder itself when it is at most 6,000 accounts), plus `chunked_w2` there;
- model only (folders up to 6,000 accounts): `Scorer.score_features` vs the bundle's scikit-learn pipelines, and
  one-row latency.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from influence.bench import median_time, peak_rss_mib
from influence.settings import project_root

SEED = 11
FULL_ACCOUNTS = 1_000  # INFLUENCE_BENCH_BATCH_ACCOUNTS=42000: about 1M scored (deal, person) rows
QUICK_ACCOUNTS = 300
PEER_ACCOUNTS = 1_000
WHOLE_LOAD_MAX_ACCOUNTS = 6_000  # the whole-folder path needs ~8 KiB per person: keep the peer small


def _folder(n_accounts: int, *, given: bool = True) -> Path:
    from influence.generate import write_generated

    folder_env = os.environ.get("INFLUENCE_BENCH_BATCH_DIR")
    if given and folder_env:
        return Path(folder_env)
    folder = project_root() / "data" / "bench" / f"features-{n_accounts}-seed{SEED}"
    if not (folder / "accounts.parquet").exists():
        write_generated(folder, n_accounts, SEED, workers=2)
    return folder


def _accounts_from_env() -> int:
    return int(os.environ.get("INFLUENCE_BENCH_BATCH_ACCOUNTS", FULL_ACCOUNTS))


def _tree_rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            pid, ppid = int(entry), int(fields[1])
            rss[pid] = int(fields[21]) * page / 2**20
            children.setdefault(ppid, []).append(pid)
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def _job(args: list[str], label: str) -> dict[str, Any]:
    """Run one scoring process; wall seconds, CPU seconds of the tree, peak RSS of the tree and of the main."""
    peak = {"tree": 0.0}
    t0 = time.perf_counter()
    before = os.times()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["tree"] = max(peak["tree"], _tree_rss_mib(proc.pid))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - t0
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed ({proc.returncode}): {err[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": (after.children_user - before.children_user)
        + (after.children_system - before.children_system),
        "peak_tree_rss_mib": peak["tree"],
        "summary": out.strip(),
    }


def _score_job(
    folder: Path, out: Path, label: str, *, workers: int = 1, whole: bool = False
) -> dict[str, Any]:
    import pyarrow.parquet as pq

    if whole:
        code = (
            "import sys; from influence.batch import score_accounts; from influence.data import load; "
            "print(score_accounts(load(sys.argv[1]), sys.argv[2], progress=False).format())"
        )
        args = [sys.executable, "-c", code, str(folder), str(out)]
    else:
        influence = str(Path(sys.executable).parent / "influence")
        args = [
            influence,
            "score",
            str(folder),
            "--out",
            str(out),
            "--no-progress",
            "--workers",
            str(workers),
        ]
    result = _job(args, label)
    people = pq.ParquetFile(out).metadata.num_rows
    out.unlink()
    result.update(
        people=people, people_per_s=people / result["wall_s"], people_per_cpu_s=people / result["cpu_s"]
    )
    phases = _phase_cpu(result["summary"])
    if phases:
        result["phase_cpu_s"] = phases
        result["phase_cpu_us_per_person"] = {k: v * 1e6 / max(people, 1) for k, v in phases.items()}
    return result


def _phase_cpu(summary: str) -> dict[str, float]:
    """The job's "CPU seconds by phase" line (see `BatchSummary.format`) as {phase: seconds}."""
    for line in summary.splitlines():
        if line.startswith("CPU seconds by phase"):
            pairs = (item.strip().rsplit(" ", 1) for item in line.split(":", 1)[1].split(","))
            return {name: float(value) for name, value in pairs}
    return {}


def _jobs(folder: Path, n_accounts: int, tmp: Path) -> dict[str, Any]:
    env_ok = {"OMP_NUM_THREADS": os.environ.setdefault("OMP_NUM_THREADS", "1")}
    jobs: dict[str, Any] = {"env": env_ok, "folder": str(folder), "accounts": n_accounts}
    big = n_accounts > WHOLE_LOAD_MAX_ACCOUNTS
    if not big or os.environ.get("INFLUENCE_BENCH_BATCH_W1"):
        jobs["chunked_w1"] = _score_job(folder, tmp / "w1.parquet", "chunked_w1")
    jobs["chunked_w2"] = _score_job(folder, tmp / "w2.parquet", "chunked_w2", workers=2)
    peer_folder = _folder(PEER_ACCOUNTS, given=False) if big else folder
    jobs["peer_folder"] = str(peer_folder)
    jobs["peer_whole_load"] = _score_job(peer_folder, tmp / "whole.parquet", "whole_load", whole=True)
    if big:
        jobs["peer_chunked_w2"] = _score_job(peer_folder, tmp / "pw2.parquet", "peer_chunked_w2", workers=2)
    return jobs


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
    from influence.data import load
    from influence.features import build_features
    from influence.predict import Scorer

    n_accounts = QUICK_ACCOUNTS if quick else _accounts_from_env()
    folder = _folder(n_accounts)
    result: dict[str, Any] = {"accounts": n_accounts, "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        result["jobs"] = _jobs(folder, n_accounts, Path(tmp))
    result["load_average_after"] = os.getloadavg()
    jobs = result["jobs"]
    main = jobs["chunked_w2"]
    peer_people = jobs["peer_whole_load"]["people"]
    result["headline"] = {
        "people": main["people"],
        "people_per_s_w2": main["people_per_s"],
        "peak_tree_rss_mib_w2": main["peak_tree_rss_mib"],
        "peak_rss_per_1m_people_mib_w2": main["peak_tree_rss_mib"] * 1e6 / max(main["people"], 1),
        "peer_whole_load_people": peer_people,
        "peer_whole_load_people_per_s": jobs["peer_whole_load"]["people_per_s"],
        "peer_whole_load_peak_mib": jobs["peer_whole_load"]["peak_tree_rss_mib"],
    }
    if "chunked_w1" in jobs:
        result["headline"]["ratio_w2_vs_w1"] = main["people_per_s"] / jobs["chunked_w1"]["people_per_s"]
    if "peer_chunked_w2" in jobs:
        result["headline"]["ratio_peer_chunked_w2_vs_whole_load"] = (
            jobs["peer_chunked_w2"]["people_per_s"] / jobs["peer_whole_load"]["people_per_s"]
        )
    result["goals"] = {
        "people_per_s>=100k (with reasons, 2 workers)": main["people_per_s"] >= 100_000,
        "peak<4GiB (measured)" if main["people"] >= 900_000 else "peak<4GiB (this size)": main[
            "peak_tree_rss_mib"
        ]
        < 4096,
    }
    if n_accounts > WHOLE_LOAD_MAX_ACCOUNTS:
        return result

    scorer = Scorer.from_ref(None)
    ds = load(folder)
    bundle = scorer.bundle
    repeat = 3 if quick else 1
    result["trees"] = {"influence": scorer._influence.n_trees, "profile": scorer._profile.n_trees}
    result["peak_rss_bench_process_mib"] = peak_rss_mib()

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
    result["goals"]["one row p50 < 1 ms (score_matrix)"] = result["one_row"]["score_matrix"]["p50_us"] < 1000
    return result
