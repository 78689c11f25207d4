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

__all__ = ["DEFAULT_MASTER", "SparkUnavailable", "bundle_files", "bundle_from_files", "score_with_spark"]

DEFAULT_MASTER = "local[*]"
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
    from influence.bundle import METADATA_FILE
    from influence.predict import Scorer

    key = hashlib.sha256(files[METADATA_FILE]).hexdigest()
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


# -- the session --------------------------------------------------------------------------------------------------
def spark_session(master: str | None = None, *, app_name: str = "influence score") -> Any:
    """A SparkSession on `master` (default local[*]) whose Python workers run this interpreter with one
    BLAS/OpenMP thread each. Raises SparkUnavailable with the fix when pyspark or Java is missing."""
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
        if chunk_accounts is None:
            n_known = len(requested) - len(unknown)
            chunk_accounts = max(1, min(200, -(-n_known // (sc.defaultParallelism * 4))))
        chunks = [
            (i, len(ids), _encode_chunk(chunk))
            for i, (ids, chunk) in enumerate(
                iter_account_chunks(ds, requested if accounts is not None else None, chunk_accounts)
            )
        ]
        del ds
        summary.load_seconds = time.perf_counter() - t0
        shared = sc.broadcast(files)
        n_slices = max(1, min(len(chunks), sc.defaultParallelism * 4))
        frame = session.createDataFrame(
            sc.parallelize(chunks, n_slices), "chunk_id long, n_accounts long, payload binary"
        )

        def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return _score_partition(batches, shared.value, as_of_ts, explain)

        # No orderBy: a Spark sort samples its input first, which would run the scoring twice. Results stream
        # back partition by partition and are written in chunk order through a small reorder buffer.
        scored = frame.mapInPandas(score, schema=_RESULT_SCHEMA)
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = _Writer(out)
        pending: dict[int, Any] = {}
        next_chunk = 0
        try:
            for row in scored.toLocalIterator(prefetchPartitions=True):
                pending[int(row["chunk_id"])] = row
                while next_chunk in pending:
                    done = pending.pop(next_chunk)
                    writer.write(_ipc_to_frame(bytes(done["payload"])))
                    summary.accounts_scored += int(done["n_accounts"])
                    summary.deals += int(done["n_deals"])
                    summary.people += int(done["n_people"])
                    next_chunk += 1
            if pending or next_chunk != len(chunks):
                raise RuntimeError(f"Spark returned {next_chunk} of {len(chunks)} chunks; nothing written")
            writer.commit([*PEOPLE_COLUMNS, "model_version"])
        except BaseException:
            writer.abort()
            raise
        shared.unpersist()
    finally:
        if own_session:
            session.stop()
    summary.seconds = time.perf_counter() - t0
    return summary
