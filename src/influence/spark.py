"""Batch scoring on Apache Spark: the same features, the same model bundle, the same scores as `influence score`.

`score_with_spark(data_dir, out, master="local[*]")` cuts the dataset into chunks of whole accounts (everything
hanging off an account's deals, plus every seller/partner/other person those events reference: exactly what
`influence.batch` gives one chunk), ships each chunk as one row to Spark, and scores it with `mapInPandas`.
Every task runs the very same `Scorer.score_dataset` (so `build_features`, the models, the reasons, coverage)
on its accounts, so the rows equal the single-machine path; tested to 1e-9 in tests/spark/.

The model bundle is loaded and verified on the driver (allowed model folder, sha256 of every file, scikit-learn
version), then its files are broadcast as bytes; each executor checks every file's sha256 against the broadcast
metadata again before unpickling it in memory, and keeps one Scorer per Python worker.

Where the graph features are computed: inside each account's chunk (a deal's network never crosses accounts),
so no global graph is ever built and the work partitions by account. See docs/scaling.md for a real cluster.
The optional dependency is `pip install 'influence[spark]'` (pyspark) plus a Java 17 runtime.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from influence.contract import TABLE_ORDER, Dataset

if TYPE_CHECKING:
    from influence.batch import BatchSummary
    from influence.bundle import ModelBundle
    from influence.predict import Scorer

__all__ = [
    "DEFAULT_MASTER",
    "DRIVER_MEMORY_ENV",
    "SparkUnavailable",
    "bundle_files",
    "bundle_from_files",
    "score_with_spark",
]

DEFAULT_MASTER = "local[*]"
DRIVER_MEMORY_ENV = "INFLUENCE_SPARK_DRIVER_MEMORY"
WAVE_TASKS_PER_CORE = 4  # chunks per Spark job and executor core: bounds what is in flight, keeps cores busy
_RESULT_SCHEMA = "chunk_id long, n_accounts long, n_deals long, n_people long, payload binary"
_SCORERS: dict[str, Scorer] = {}  # per Python worker: built once from the broadcast bundle, then reused


class SparkUnavailable(RuntimeError):
    """pyspark (or the Java runtime it needs) is missing; the message says what to install."""


# -- the bundle as bytes -------------------------------------------------------------------------------------------
def bundle_files(bundle: ModelBundle) -> dict[str, bytes]:
    """The bytes of a loaded (hence verified) bundle's files: metadata.json plus every artifact it lists."""
    from influence.bundle import METADATA_FILE, BundleError

    if bundle.path is None:
        raise BundleError("the model bundle has no folder; save it with save_bundle before scoring on Spark")
    folder = Path(bundle.path)
    files = {METADATA_FILE: (folder / METADATA_FILE).read_bytes()}
    for name in json.loads(files[METADATA_FILE])["artifacts"]:
        files[name] = (folder / name).read_bytes()
    return files


def bundle_from_files(files: dict[str, bytes]) -> ModelBundle:
    """Rebuild a ModelBundle from `bundle_files` output after checking each artifact's sha256 against the
    metadata (what `load_bundle` checks on disk); raises BundleError naming the file on a mismatch."""
    import joblib

    from influence.bundle import ARTIFACT_FILES, METADATA_FILE, BundleError, ModelBundle
    from influence.contract import PROFILES

    meta = json.loads(files[METADATA_FILE])
    artifacts = meta.get("artifacts") or {}
    if set(artifacts) != set(ARTIFACT_FILES.values()):
        raise BundleError(
            f"broadcast {METADATA_FILE} does not list the artifacts {sorted(ARTIFACT_FILES.values())}"
        )
    for name, expected in artifacts.items():
        actual = hashlib.sha256(files.get(name, b"")).hexdigest()
        if actual != expected:
            raise BundleError(f"checksum mismatch for broadcast model file {name} on this executor: {actual}")
    import sklearn

    saved = str(meta.get("scikit_learn", ""))
    if saved.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise BundleError(
            f"the model was written with scikit-learn {saved}, this executor has {sklearn.__version__}; "
            "install the same version on every executor"
        )
    pipelines = {key: joblib.load(io.BytesIO(files[name])) for key, name in ARTIFACT_FILES.items()}
    return ModelBundle(
        name=str(meta["name"]),
        version=str(meta["version"]),
        created=str(meta["created"]),
        feature_columns=tuple(meta["feature_columns"]),
        profile_classes=tuple(meta.get("profile_classes", PROFILES)),
        influence_pipeline=pipelines["influence"],
        profile_pipeline=pipelines["profile"],
        metadata=meta,
        path=None,
    )


# -- chunks as bytes -------------------------------------------------------------------------------------------------
def _frame_to_ipc(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _ipc_to_frame(data: bytes) -> pd.DataFrame:
    import pyarrow as pa

    return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pandas()


def _encode_chunk(chunk: Dataset) -> bytes:
    import pickle

    return pickle.dumps({name: _frame_to_ipc(chunk[name]) for name in TABLE_ORDER}, protocol=5)


def _decode_chunk(payload: bytes) -> Dataset:
    import pickle

    tables = pickle.loads(payload)  # noqa: S301 - our own driver wrote it in this job
    return Dataset.from_frames({name: _ipc_to_frame(tables[name]) for name in TABLE_ORDER})


def _scorer_for(files: dict[str, bytes]) -> Scorer:
    from influence.predict import Scorer

    # Keyed by every byte, not by the metadata alone: a reused worker must not skip the checksum check of
    # artifacts that differ from the ones it verified before (about 2 ms for the shipped 2 MB bundle).
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    key = digest.hexdigest()
    scorer = _SCORERS.get(key)
    if scorer is None:
        scorer = _SCORERS[key] = Scorer(bundle_from_files(files))
    return scorer


def _score_partition(
    batches: Iterator[pd.DataFrame], files: dict[str, bytes], as_of: pd.Timestamp | None, explain: bool
) -> Iterator[pd.DataFrame]:
    """The executor side: decode each chunk, score it with the shared Scorer, return the people as Arrow bytes."""
    from threadpoolctl import threadpool_limits

    scorer = _scorer_for(files)
    with threadpool_limits(1):  # one task per core already; OpenMP threads inside would only contend
        for batch in batches:
            rows = []
            for chunk_id, n_accounts, payload in zip(
                batch["chunk_id"], batch["n_accounts"], batch["payload"], strict=True
            ):
                result = scorer.score_dataset(_decode_chunk(bytes(payload)), as_of=as_of, explain=explain)
                people = result.people.assign(model_version=result.model_version)
                rows.append(
                    (int(chunk_id), int(n_accounts), len(result.deals), len(people), _frame_to_ipc(people))
                )
            yield pd.DataFrame(rows, columns=["chunk_id", "n_accounts", "n_deals", "n_people", "payload"])


def _run_waves(
    session: Any,
    shared: Any,
    encoded: Iterator[tuple[int, int, bytes]],
    as_of: pd.Timestamp | None,
    explain: bool,
    writer: Any,
    summary: BatchSummary,
) -> int:
    """Score the encoded chunks as a series of small Spark jobs ("waves", WAVE_TASKS_PER_CORE chunks per executor
    core), at most two in flight while the driver slices and encodes the next one, and write the results in chunk
    order; returns the number of chunks. Why waves: one job over every chunk would need them all encoded at once,
    in the driver's Python and again in the JVM (the whole dataset twice more); with waves both hold a few
    chunks, and the next wave's tasks fill the cores while the last tasks of the previous one finish."""
    import itertools
    import threading
    import uuid
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    sc = session.sparkContext
    wave_size = max(1, sc.defaultParallelism * WAVE_TASKS_PER_CORE)
    group = f"influence-score-{uuid.uuid4().hex[:12]}"
    failed = threading.Event()

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return _score_partition(batches, shared.value, as_of, explain)

    def run(wave: list[tuple[int, int, bytes]]) -> list[Any]:
        if failed.is_set():  # another wave failed: do not start this one
            raise RuntimeError("cancelled: another wave of this job failed")
        sc.setJobGroup(group, "influence score", interruptOnCancel=True)
        # one chunk per partition, so one task per chunk; no sort (it would sample, i.e. score, twice)
        frame = session.createDataFrame(
            sc.parallelize(wave, len(wave)), "chunk_id long, n_accounts long, payload binary"
        )
        return frame.mapInPandas(score, schema=_RESULT_SCHEMA).collect()

    def write(job: Future, first: int, n: int) -> None:
        rows = {int(r["chunk_id"]): r for r in job.result()}
        missing = [c for c in range(first, first + n) if c not in rows]
        if missing or len(rows) != n:
            raise RuntimeError(
                f"Spark returned {len(rows)} of chunks {first}..{first + n - 1}; nothing written"
            )
        for chunk_id in range(first, first + n):
            done = rows.pop(chunk_id)
            writer.write(_ipc_to_frame(bytes(done["payload"])))
            summary.accounts_scored += int(done["n_accounts"])
            summary.deals += int(done["n_deals"])
            summary.people += int(done["n_people"])

    in_flight: deque[tuple[Future, int, int]] = deque()
    n_chunks = 0
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="influence-spark") as pool:
        try:
            while wave := list(itertools.islice(encoded, wave_size)):
                in_flight.append((pool.submit(run, wave), n_chunks, len(wave)))
                n_chunks += len(wave)
                del wave
                if len(in_flight) >= 2:
                    write(*in_flight.popleft())
            while in_flight:
                write(*in_flight.popleft())
        except BaseException:
            failed.set()
            sc.cancelJobGroup(group)  # only this job's waves, not other work on a shared session
            raise
    return n_chunks


# -- the session --------------------------------------------------------------------------------------------------
def spark_session(
    master: str | None = None, *, app_name: str = "influence score", driver_memory: str | None = None
) -> Any:
    """A SparkSession on `master` (default local[*]) whose Python workers run this interpreter with one
    BLAS/OpenMP thread each. Raises SparkUnavailable with the fix when pyspark or Java is missing.

    `driver_memory`: the driver JVM's heap (default INFLUENCE_SPARK_DRIVER_MEMORY, else 2g). The JVM only holds
    the chunks in flight (a few waves, see `score_with_spark`), never the dataset, so 2g is enough for local[*]
    on any dataset size; it applies only when this call starts the JVM (in local mode the executors live in it).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable(
            "--engine spark needs pyspark: pip install 'influence[spark]' (and a Java 17 runtime, e.g. "
            "apt-get install openjdk-17-jre-headless)"
        ) from exc
    import warnings

    # pyspark 4.x warns on every import under pandas 3; we only use mapInPandas with plain frames (tested).
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    builder = (
        SparkSession.builder.master(master or DEFAULT_MASTER)
        .appName(app_name)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.executorEnv.OMP_NUM_THREADS", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", driver_memory or os.environ.get(DRIVER_MEMORY_ENV) or "2g")
        # the results of one wave come back with collect(); bounded by the wave, far below this
        .config("spark.driver.maxResultSize", "2g")
    )
    try:
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session
    except Exception as exc:  # most often: no Java, or a master URL that does not answer
        raise SparkUnavailable(f"could not start Spark on {master or DEFAULT_MASTER}: {exc}") from exc


# -- the job ------------------------------------------------------------------------------------------------------
def score_with_spark(
    data_dir: str | Path | Dataset,
    out: str | Path,
    *,
    model: str | Path | None = None,
    master: str | None = None,
    accounts: Sequence[str] | str | Path | None = None,
    as_of: pd.Timestamp | str | None = None,
    chunk_accounts: int | None = None,
    explain: bool = True,
    spark: Any = None,
    echo: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Score a dataset folder on Spark into `out` (.csv or .parquet, same columns and row order as
    `influence.batch.score_accounts`); the file appears only when every chunk succeeded.

    `master`: Spark master URL (default local[*]); `spark`: an existing SparkSession (then `master` is ignored and
    the session is left running; so is an already active session). `chunk_accounts`: accounts per Spark row
    (default: enough rows for 4 per executor core, at most 200 accounts each, so the cores stay evenly busy).
    """
    from influence.batch import OUTPUT_SUFFIXES, BatchSummary, _Writer, iter_account_chunks, read_account_list
    from influence.bundle import load_bundle
    from influence.features import parse_as_of
    from influence.predict import PEOPLE_COLUMNS
    from influence.settings import default_model_path

    t0 = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--out {out}: use a file name ending in .csv or .parquet")
    if chunk_accounts is not None and chunk_accounts < 1:
        raise ValueError("chunk_accounts must be at least 1")
    as_of_ts = parse_as_of(as_of)
    if isinstance(accounts, str | Path):
        accounts = read_account_list(accounts)
    try:
        import pyspark  # noqa: F401 - fail before the (slow) data loading when Spark is not installed
    except ImportError:
        spark_session(master)  # raises SparkUnavailable with the fix
    bundle = load_bundle(default_model_path() if model is None else model)
    files = bundle_files(bundle)
    if isinstance(data_dir, Dataset):
        ds = data_dir
    else:
        from influence.data import load

        ds = load(data_dir)
    known = set(ds.accounts["account_id"].astype(str))
    requested = (
        list(dict.fromkeys(accounts)) if accounts is not None else list(ds.accounts["account_id"].astype(str))
    )
    unknown = [a for a in requested if a not in known]
    if unknown and echo:
        echo(f"{len(unknown)} account(s) in the list are not in the dataset: {', '.join(unknown[:20])}")
    summary = BatchSummary(
        out=out,
        model_version=f"{bundle.name}/{bundle.version}",
        accounts_requested=len(requested),
        accounts_scored=0,
        unknown_accounts=unknown,
    )
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()  # e.g. inside a notebook or a test: use it, leave it running
    own_session = spark is None
    session = spark_session(master) if own_session else spark
    try:
        sc = session.sparkContext
        n_known = len(requested) - len(unknown)
        if chunk_accounts is None:
            chunk_accounts = max(1, min(200, -(-n_known // (sc.defaultParallelism * 4))))
        encoded = (
            (i, len(ids), _encode_chunk(chunk))
            for i, (ids, chunk) in enumerate(
                iter_account_chunks(ds, requested if accounts is not None else None, chunk_accounts)
            )
        )
        summary.load_seconds = time.perf_counter() - t0
        shared = sc.broadcast(files)
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = _Writer(out)
        try:
            n_chunks = _run_waves(session, shared, encoded, as_of_ts, explain, writer, summary)
            if summary.accounts_scored != n_known:
                raise RuntimeError(
                    f"Spark returned {summary.accounts_scored} of {n_known} accounts in {n_chunks} chunks; "
                    "nothing written"
                )
            writer.commit([*PEOPLE_COLUMNS, "model_version"])
        except BaseException:
            writer.abort()
            raise
        finally:
            shared.unpersist()
    finally:
        if own_session:
            session.stop()
    summary.seconds = time.perf_counter() - t0
    return summary
