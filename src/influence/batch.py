"""Batch scoring of a dataset folder, a chunk of accounts at a time, to one CSV or Parquet file.

Features are computed per chunk with all deals of an account together (an account's earlier deals feed its
history features), so a chunk gives exactly the rows the whole dataset would. Memory is bounded by the chunk:
each chunk's features and scores are written and dropped before the next. The output is written to a temporary
file in the target folder and renamed only when every chunk succeeded, so a failed or killed job never leaves a
file that looks complete (a killed job may leave `.<name>.<pid>.tmp`, never `<name>`).
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from influence.contract import TABLE_ORDER, Dataset

if TYPE_CHECKING:
    from influence.predict import Scorer, ScoreResult

__all__ = [
    "AccountListError",
    "BatchSummary",
    "OUTPUT_SUFFIXES",
    "iter_account_chunks",
    "read_account_list",
    "remove_stale_temporaries",
    "score_accounts",
]

OUTPUT_SUFFIXES = (".csv", ".parquet")
REASON_SEPARATOR = " | "


class AccountListError(ValueError):
    """The account list file cannot be used; the message names the file (and row) and the fix."""


@dataclass
class BatchSummary:
    """What a batch run did."""

    out: Path
    model_version: str
    accounts_requested: int
    accounts_scored: int
    unknown_accounts: list[str] = field(default_factory=list)
    # Known accounts that gave no output row: no deal, or no buyer- or partner-side person in their deals. Named
    # so that a listed account missing from the output is never a mystery.
    accounts_without_people: list[str] = field(default_factory=list)
    deals: int = 0
    people: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0  # of `seconds`: loading/validating the dataset and the model
    warnings: int = 0  # validation warnings (chunked folder reading)
    deals_out: Path | None = None
    # CPU seconds by phase, summed over the processes: "load" (the model, the parents, routing the event rows
    # to chunks), "validate" (a chunk's event rows, and assembling it), "score" (features, model, reasons,
    # coverage), "write" (the output, in the main process)
    phase_cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def people_per_s(self) -> float:
        return self.people / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        lines = [
            f"scored {self.accounts_scored} of {self.accounts_requested} account(s): {self.deals} deal(s), "
            f"{self.people} people in {self.seconds:.1f} s ({self.people_per_s:,.0f} people/s; loading data and "
            f"model {self.load_seconds:.1f} s of it) with model {self.model_version}",
            f"written to {self.out}" + (f" (deals: {self.deals_out})" if self.deals_out else ""),
        ]
        if self.unknown_accounts:
            shown = ", ".join(self.unknown_accounts[:10]) + (
                " ..." if len(self.unknown_accounts) > 10 else ""
            )
            lines.append(f"{len(self.unknown_accounts)} unknown account(s) not in the dataset: {shown}")
        if self.accounts_without_people:
            empty = self.accounts_without_people
            shown = ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else "")
            lines.append(
                f"{len(empty)} account(s) with nobody to score (no deal, or no buyer- or partner-side person): "
                f"{shown}"
            )
        if self.warnings:
            lines.append(f"{self.warnings} validation warning(s); see `influence validate` for the list")
        if self.phase_cpu_seconds:
            lines.append(
                "CPU seconds by phase (all processes): "
                + ", ".join(f"{k} {v:.1f}" for k, v in self.phase_cpu_seconds.items())
            )
        return "\n".join(lines)


# -- the account list ----------------------------------------------------------------------------------------------
def _account_column(names: list[str]) -> int | None:
    """Index of the account id column: `account_id`, or a spreadsheet's spelling of it ("Account ID", "AccountId",
    "account-id"): CRM exports and hand-made lists rarely use the contract's snake_case."""
    if "account_id" in names:
        return names.index("account_id")
    loose = [
        i
        for i, name in enumerate(names)
        if name.lower().replace(" ", "").replace("_", "").replace("-", "") == "accountid"
    ]
    return loose[0] if len(loose) == 1 else None


def read_account_list(path: str | Path) -> list[str]:
    """Account ids from a CSV file with an `account_id` column (other columns ignored), in file order, duplicates
    dropped. The column may also be spelt like a spreadsheet header ("Account ID"); the delimiter may be a comma,
    a semicolon (Excel in many European locales) or a tab. Raises AccountListError for a missing/empty file, a
    header without the column, or an empty id."""
    file = Path(path)
    if not file.is_file():
        raise AccountListError(f"{file}: account list not found")
    with open(file, newline="", encoding="utf-8-sig") as handle:
        first = handle.readline()
        # The header decides the delimiter: a comma unless the header holds none and has a semicolon or tab.
        delimiter = ","
        if "," not in first:
            delimiter = next((d for d in (";", "\t") if d in first), ",")
        handle.seek(0)
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise AccountListError(f"{file}: the account list is empty; expected a header row 'account_id'")
        names = [h.strip() for h in header]
        col = _account_column(names)
        if col is None:
            raise AccountListError(
                f"{file}: header {header!r} has no 'account_id' column (or 'Account ID'); the first line must "
                "name it, e.g. 'account_id'"
            )
        ids: list[str] = []
        for row_number, row in enumerate(reader, start=1):
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line
            value = row[col].strip() if col < len(row) else ""
            if not value:
                raise AccountListError(f"{file}: row {row_number}: {names[col]} is empty")
            ids.append(value)
    if not ids:
        raise AccountListError(f"{file}: the account list has a header but no account ids")
    return list(dict.fromkeys(ids))


# -- slicing a dataset by account ---------------------------------------------------------------------------------
def _arrow_text(values: pd.Series | np.ndarray | Any) -> Any:
    """Ids as an Arrow string array (nulls kept), without building Python string objects."""
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        array = values
    elif isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        array = pa.array(values.array)  # Arrow-backed: no copy
    else:  # object or other dtypes (a Dataset built by hand): through pandas' string cast
        array = pa.array(pd.Series(values).astype("string").array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array if pa.types.is_string(array.type) else array.cast(pa.string())


def _index_in(values: pd.Series | np.ndarray | Any, keys: Any) -> np.ndarray:
    """Position of each value in `keys` (an Arrow array of unique ids), -1 when absent or null. Arrow's hash
    kernel: hashing Python string objects through pd.Index cost most of the slicing time on large folders."""
    import pyarrow.compute as pc

    found = pc.index_in(_arrow_text(values), value_set=keys)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def chunk_people(
    events: Mapping[str, pd.DataFrame], person_keys: Any, own: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in the people table keyed by `person_keys`) of a chunk's people: the chunk accounts' `own`
    people plus every person its event tables reference (sellers, partners, other accounts' people), and the
    positions of those referenced people who are not `own`. Shared by the in-memory slicer and the chunked loader.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    referenced = pa.concat_arrays(
        [
            _arrow_text(events["meeting_attendees"]["person_id"]),
            _arrow_text(events["meetings"]["organizer_id"]),
            _arrow_text(events["emails"]["sender_id"]),
            _arrow_text(events["email_recipients"]["person_id"]),
            _arrow_text(events["labels"]["person_id"]),
        ]
    ).unique()
    # The people's ids are hashed and sorted once per process (`chunks.key_index`); each chunk then looks up its
    # few thousand ids. (Arrow's is_in the other way round builds a hash set of ~1M people per call, and probing
    # all of them with the chunk's set still cost ~30 ms per chunk.)
    from influence.chunks import key_index

    index = key_index(person_keys)
    if index.usable:
        extra = index.members(referenced)
    else:  # null or "" ids (a dataset built by hand): Arrow's own null semantics
        named = pc.is_in(person_keys, value_set=referenced.cast(person_keys.type))
        extra = np.flatnonzero(named.fill_null(False).to_numpy(zero_copy_only=False))
    people_pos = np.union1d(own, extra)
    return people_pos, np.setdiff1d(people_pos, own)


class _AccountSlicer:
    """Pre-sorted row positions per account for every table, so a chunk of accounts is sliced in O(chunk)."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        account_keys = _arrow_text(ds.accounts["account_id"])
        self.account_ids = np.asarray(account_keys.to_pylist(), dtype=object)
        self.n = len(self.account_ids)

        deals = ds.deals
        deal_acc = _index_in(deals["account_id"], account_keys)
        deal_keys = _arrow_text(deals["deal_id"])

        def by_deal(frame: pd.DataFrame) -> np.ndarray:
            pos = _index_in(frame["deal_id"], deal_keys)
            return np.where(pos >= 0, deal_acc[np.maximum(pos, 0)], -1)

        meeting_acc = by_deal(ds.meetings)
        meeting_keys = _arrow_text(ds.meetings["meeting_id"])
        email_acc = by_deal(ds.emails)
        email_keys = _arrow_text(ds.emails["message_id"])

        def via(frame: pd.DataFrame, column: str, keys: Any, acc: np.ndarray) -> np.ndarray:
            pos = _index_in(frame[column], keys)
            return np.where(pos >= 0, acc[np.maximum(pos, 0)], -1)

        people = ds.people
        self.person_keys = _arrow_text(people["person_id"])
        person_acc = _index_in(people["account_id"], account_keys)
        self.person_acc = person_acc
        codes = {
            "accounts": np.arange(self.n),
            "deals": deal_acc,
            "meetings": meeting_acc,
            "meeting_attendees": via(ds.meeting_attendees, "meeting_id", meeting_keys, meeting_acc),
            "emails": email_acc,
            "email_recipients": via(ds.email_recipients, "message_id", email_keys, email_acc),
            "labels": by_deal(ds.labels),
            "people": person_acc,
            "signals": via(ds.signals, "person_id", self.person_keys, person_acc),
        }
        # Signals by person, for people pulled in from outside the chunk's accounts.
        sig_person = _index_in(ds.signals["person_id"], self.person_keys)
        self._sig_order = np.argsort(sig_person, kind="stable")
        self._sig_bounds = np.searchsorted(sig_person[self._sig_order], np.arange(len(self.person_keys) + 1))
        self._order: dict[str, np.ndarray] = {}
        self._bounds: dict[str, np.ndarray] = {}
        for name, code in codes.items():
            order = np.argsort(code, kind="stable")
            self._order[name] = order
            # code -1 (no account: sellers, partners, their signals) sorts first and is never sliced by account
            self._bounds[name] = np.searchsorted(code[order], np.arange(self.n + 1))

    def positions(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for name, order in self._order.items():
            bounds = self._bounds[name]
            parts = [order[bounds[c] : bounds[c + 1]] for c in codes]
            out[name] = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.intp)
        return out

    def chunk(self, codes: np.ndarray) -> Dataset:
        """The sub-dataset of these accounts: their deals and everything hanging off them, plus every person
        (seller, partner, or from another account) their events reference, with those people's signals."""
        ds = self.ds
        pos = self.positions(codes)
        tables = {name: ds.tables[name].iloc[pos[name]] for name in pos}
        people_pos, outside = chunk_people(tables, self.person_keys, pos["people"])
        tables["people"] = ds.people.iloc[people_pos]
        if len(outside):  # sellers, partners, other accounts' people: add their signals (and accounts) too
            theirs = self.person_acc[outside]
            tables["accounts"] = ds.accounts.iloc[np.union1d(np.sort(codes), theirs[theirs >= 0])]
            parts = [self._sig_order[self._sig_bounds[p] : self._sig_bounds[p + 1]] for p in outside]
            sig_pos = np.union1d(pos["signals"], np.concatenate(parts))
            tables["signals"] = ds.signals.iloc[sig_pos]
        return Dataset({name: tables[name].reset_index(drop=True) for name in TABLE_ORDER}, path=ds.path)


def iter_account_chunks(
    ds: Dataset, accounts: Sequence[str] | None, chunk_accounts: int
) -> Iterator[tuple[list[str], Dataset]]:
    """(account ids, sub-dataset) per chunk of `chunk_accounts` known accounts, in list (or dataset) order."""
    slicer = _AccountSlicer(ds)
    if accounts is None:
        codes = np.arange(slicer.n)
    else:
        found = pd.Index(slicer.account_ids).get_indexer(list(accounts))
        codes = found[found >= 0]
    for start in range(0, len(codes), chunk_accounts):
        part = codes[start : start + chunk_accounts]
        yield [str(a) for a in slicer.account_ids[part]], slicer.chunk(part)


# -- writers -----------------------------------------------------------------------------------------------------
class _Writer:
    """Appends people frames to a temporary CSV or Parquet file; `commit` renames it into place."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.kind = out.suffix.lower()
        self.tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        self._parquet: Any = None
        self._header = True

    def write(self, people: pd.DataFrame | Any) -> None:
        """Append a people frame, or (Parquet) the Arrow table `_people_table` made of one."""
        # A chunk without people (accounts without deals) adds nothing; commit() still writes a valid file.
        if _rows(people) == 0:
            return
        if self.kind == ".csv":
            frame = people.copy()
            frame["reasons"] = [REASON_SEPARATOR.join(r) for r in frame["reasons"]]
            frame.to_csv(self.tmp, mode="w" if self._header else "a", header=self._header, index=False)
            self._header = False
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = people if isinstance(people, pa.Table) else _people_table(people)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.tmp, table.schema)
        self._parquet.write_table(table)

    def commit(self, empty_columns: Sequence[str]) -> None:
        if self.kind == ".csv" and self._header:  # nothing written: still a valid file with the header
            pd.DataFrame(columns=list(empty_columns)).to_csv(self.tmp, index=False)
        if self.kind == ".parquet":
            if self._parquet is None:
                import pyarrow.parquet as pq

                pq.write_table(_empty_people_table(empty_columns), self.tmp)
            else:
                self._parquet.close()
        self.tmp.replace(self.out)

    def abort(self) -> None:
        if self._parquet is not None:
            with contextlib.suppress(Exception):  # best effort while already failing
                self._parquet.close()
        self.tmp.unlink(missing_ok=True)


def _people_table(people: pd.DataFrame) -> Any:
    """The people frame as the Arrow table the Parquet output holds (`_people_schema`)."""
    import pyarrow as pa

    return pa.Table.from_pandas(people, schema=_people_schema(people), preserve_index=False)


def _rows(people: pd.DataFrame | Any) -> int:
    return people.num_rows if hasattr(people, "num_rows") else len(people)


def _accounts_present(people: pd.DataFrame | Any) -> set[str]:
    """The account ids with at least one output row (a frame or its Arrow table)."""
    if _rows(people) == 0:
        return set()
    if isinstance(people, pd.DataFrame):
        return set(people["account_id"].dropna().astype(str))
    import pyarrow.compute as pc

    return {str(a) for a in pc.unique(people.column("account_id")).drop_null().to_pylist()}


def _people_schema(people: pd.DataFrame) -> Any:
    import pyarrow as pa

    fields = []
    for column in people.columns:
        if column == "reasons":
            fields.append(pa.field(column, pa.list_(pa.string())))
        elif column in ("influence_rank", "seller_meetings", "seller_emails"):
            fields.append(pa.field(column, pa.int64()))
        elif column == "influence" or column == "profile_confidence" or column.startswith("p_"):
            fields.append(pa.field(column, pa.float64()))
        else:
            fields.append(pa.field(column, pa.string()))
    return pa.schema(fields)


def _empty_people_table(columns: Sequence[str]) -> Any:
    return _people_schema(pd.DataFrame(columns=list(columns))).empty_table()


def _write_deals(path: Path, deals: pd.DataFrame) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix.lower() == ".csv":
            frame = deals.copy()
            for column in ("gaps", "next_best_contacts"):
                frame[column] = [REASON_SEPARATOR.join(v) for v in frame[column]]
            frame.to_csv(tmp, index=False)
        else:
            deals.to_parquet(tmp, index=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _deal_rows(result: ScoreResult) -> pd.DataFrame:
    deals = result.deals.copy()
    nbc = result.next_best_contacts
    texts = {
        d: [
            f"{r.full_name or r.person_id} ({str(r.profile).replace('_', ' ')}, influence {r.influence:.2f}): "
            f"{r.angle}"
            for r in g.itertuples()
        ]
        for d, g in nbc.groupby("deal_id", sort=False)
    }
    deals["next_best_contacts"] = [texts.get(d, []) for d in deals["deal_id"].astype(str)]
    deals["model_version"] = result.model_version
    return deals


# -- the job ------------------------------------------------------------------------------------------------------
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")
_SPILL = re.compile(r"^influence-spill\.(?P<pid>\d+)\.")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(out: str | Path) -> list[Path]:
    """Remove what killed jobs left behind: the `.<name>.<pid>.tmp` files of `out`, and the spill folders
    `influence-spill.<pid>.*` in the temporary folder (TMPDIR), whose process is gone. Those of a job still
    running (its pid alive) are left alone."""
    import tempfile

    out = Path(out)
    removed: list[Path] = []
    if out.parent.is_dir():
        for path in out.parent.iterdir():
            match = _TEMPORARY.match(path.name)
            if match is not None and match["name"] == out.name and not _alive(int(match["pid"])):
                path.unlink(missing_ok=True)
                removed.append(path)
    spills = Path(tempfile.gettempdir())
    for path in spills.iterdir() if spills.is_dir() else ():
        match = _SPILL.match(path.name)
        if match is not None and path.is_dir() and not _alive(int(match["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@dataclass
class _Outcome:
    group: int
    account_ids: list[str]
    report: Any  # data.ValidationReport of the group's rows (chunked folder reading), else None
    people: pd.DataFrame | Any | None  # the frame, or (Parquet output) already the Arrow table to write
    deals: pd.DataFrame | None
    n_deals: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of this chunk by phase


class _SliceSource:
    """Chunks sliced from a dataset already in memory (`score_accounts(Dataset, ...)`)."""

    def __init__(self, ds: Dataset, accounts: Sequence[str] | None, chunk_accounts: int) -> None:
        self.ds = ds
        self.accounts = list(accounts) if accounts is not None else None
        self.chunk_accounts = chunk_accounts
        self._chunks: list[tuple[list[str], np.ndarray]] | None = None
        self._slicer: _AccountSlicer | None = None

    def _prepare(self) -> None:
        if self._slicer is None:
            self._slicer = _AccountSlicer(self.ds)
            slicer = self._slicer
            if self.accounts is None:
                codes = np.arange(slicer.n)
            else:
                found = pd.Index(slicer.account_ids).get_indexer(self.accounts)
                codes = found[found >= 0]
            self._chunks = [
                ([str(a) for a in slicer.account_ids[part]], part)
                for part in (
                    codes[i : i + self.chunk_accounts] for i in range(0, len(codes), self.chunk_accounts)
                )
            ]

    def __getstate__(self) -> dict[str, Any]:  # workers rebuild the slicer from the dataset
        return {**self.__dict__, "_slicer": None, "_chunks": None}

    @property
    def groups(self) -> list[int]:
        self._prepare()
        assert self._chunks is not None
        return list(range(len(self._chunks)))

    def known(self) -> set[str]:
        return set(self.ds.accounts["account_id"].astype(str))

    def run(self, group: int, score: bool) -> tuple[list[str], Any, Dataset | None]:
        self._prepare()
        assert self._chunks is not None and self._slicer is not None
        ids, codes = self._chunks[group]
        return ids, None, self._slicer.chunk(codes) if score else None

    def close(self) -> None:
        pass


class _PlanSource:
    """Chunks read from a folder by `influence.chunks` (event tables validated chunk by chunk)."""

    def __init__(self, plan: Any) -> None:
        self.plan = plan

    @property
    def groups(self) -> list[int]:
        plan = self.plan
        return [*range(len(plan.group_accounts)), plan.rest]  # the global group was validated by the plan

    def known(self) -> set[str]:
        return set(self.plan.parents.accounts["account_id"].astype(str))

    def run(self, group: int, score: bool) -> tuple[list[str], Any, Dataset | None]:
        from influence.chunks import validate_group

        result = validate_group(self.plan, group, assemble=score)
        return result.account_ids, result.report, result.dataset

    def close(self) -> None:
        self.plan.close()


def _score_group(
    source: Any,
    scorer: Scorer,
    group: int,
    score: bool,
    as_of: Any,
    explain: bool,
    deals: bool,
    arrow: bool = False,
) -> _Outcome:
    """Validate (and score) one group. `arrow`: hand back the people as the Arrow table the Parquet writer takes,
    converted here, in the worker: an Arrow table also crosses to the writing process ~10x cheaper than a frame
    (whose list column of reasons pickles string by string), and the writing process is the one serial stage."""
    t0 = time.process_time()
    ids, report, chunk = source.run(group, score)
    t1 = time.process_time()
    if chunk is None:
        return _Outcome(group, ids, report, None, None, 0, {"validate": t1 - t0})
    result = scorer.score_dataset(chunk, as_of=as_of, explain=explain)
    people: Any = result.people.assign(model_version=result.model_version)
    t2 = time.process_time()
    if arrow:
        people = _people_table(people)
    outcome = _Outcome(group, ids, report, people, _deal_rows(result) if deals else None, len(result.deals))
    outcome.cpu = {"validate": t1 - t0, "score": t2 - t1, "write": time.process_time() - t2}
    return outcome


_WORKER: dict[str, Any] = {}


def _init_worker(state: str) -> None:
    import pickle

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with open(state, "rb") as handle:
        _WORKER.update(pickle.load(handle))


def _ready() -> int:
    return os.getpid()


def _work(source_state: str, group: int, score: bool) -> _Outcome:
    import pickle

    w = _WORKER
    if w.get("source_state") != source_state:  # the first chunk of this worker: the source, read once
        with open(source_state, "rb") as handle:
            w["source"] = pickle.load(handle)
        w["source_state"] = source_state
    return _score_group(
        w["source"], w["scorer"], group, score, w["as_of"], w["explain"], w["deals"], w.get("arrow", False)
    )


class _Workers:
    """Worker processes, started (and loading the model) before the folder is read, so that their start-up
    (imports, the model) runs beside the single-process reading instead of after it. Spawned, not forked: a fork
    after OpenMP has run in this process can hang the child."""

    def __init__(self, n: int, scorer: Scorer, state_dir: Path, **options: Any) -> None:
        import multiprocessing
        import pickle
        from concurrent.futures import ProcessPoolExecutor

        state_dir.mkdir(parents=True, exist_ok=True)
        self.n = n
        self.state_dir = state_dir
        self.model_state = state_dir / "worker-model.pickle"
        with open(self.model_state, "wb") as handle:
            pickle.dump({"scorer": scorer, **options}, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.pool = ProcessPoolExecutor(
            max_workers=n,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(self.model_state),),
        )
        # One trivial task per worker: processes are spawned on submission, so this starts all of them now.
        self._started = [self.pool.submit(_ready) for _ in range(n)]

    def run(self, job: dict[str, Any], tasks: Iterator[tuple[int, bool]]) -> Iterator[_Outcome]:
        """Outcomes in task order, at most 2 chunks per worker in flight (so finished chunks waiting to be
        written stay few). `job["source"]` is handed over to the workers and dropped here."""
        import pickle
        from collections import deque

        source_state = self.state_dir / "worker-source.pickle"
        with open(source_state, "wb") as handle:
            pickle.dump(job["source"], handle, protocol=pickle.HIGHEST_PROTOCOL)
        job.clear()
        pending: deque = deque()
        for group, score in tasks:
            pending.append(self.pool.submit(_work, str(source_state), group, score))
            if len(pending) >= 2 * self.n:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for name in ("worker-model.pickle", "worker-source.pickle"):
            (self.state_dir / name).unlink(missing_ok=True)


def _run_groups(
    job: dict[str, Any],
    tasks: Iterator[tuple[int, bool]],
    *,
    as_of: Any,
    explain: bool,
    deals: bool,
    workers: _Workers | None,
    arrow: bool = False,
) -> Iterator[_Outcome]:
    """Outcomes in task order: from the worker processes, or (`workers` None) in this process."""
    if workers is None:
        for group, score in tasks:
            yield _score_group(job["source"], job["scorer"], group, score, as_of, explain, deals, arrow)
        return
    yield from workers.run(job, tasks)


def score_accounts(
    data_dir: str | Path | Dataset,
    out: str | Path,
    *,
    accounts: Sequence[str] | str | Path | None = None,
    model: str | Path | Scorer | None = None,
    as_of: pd.Timestamp | str | None = None,
    chunk_accounts: int = 500,
    explain: bool = True,
    deals_out: str | Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    workers: int = 1,
) -> BatchSummary:
    """Score the accounts of a dataset folder (all, or those of `accounts`: a list of ids or an account-list
    CSV) chunk by chunk into `out` (.csv: reasons joined with " | "; .parquet: reasons as a list).

    A folder is read chunk by chunk (`influence.chunks`: parents whole, event tables per chunk of accounts);
    any validation error stops the job with the same `DatasetError` and report `data.load` gives, and no output.
    A `Dataset` already in memory is sliced instead. `workers` > 1 scores chunks in that many processes; the
    output is the same for any value. Unknown account ids are reported (`echo`, and in the summary), never
    skipped silently. `model`: a bundle reference (`models/<name>[/<version>]`, `models:/NAME@ALIAS`) or a ready
    Scorer; default: the shipped model. `deals_out`: optional per-deal file with coverage gaps and next-best
    contacts. Temporary files of killed earlier jobs for the same `out` are removed first.
    """
    from influence.features import parse_as_of
    from influence.predict import Scorer

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--out {out}: use a file name ending in .csv or .parquet")
    deals_path = Path(deals_out) if deals_out is not None else None
    if deals_path is not None and deals_path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--deals-out {deals_path}: use a file name ending in .csv or .parquet")
    if chunk_accounts < 1:
        raise ValueError("chunk_accounts must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    as_of_ts = parse_as_of(as_of)
    if isinstance(accounts, str | Path):
        accounts = read_account_list(accounts)
    listed = list(dict.fromkeys(accounts)) if accounts is not None else None
    scorer = model if isinstance(model, Scorer) else Scorer.from_ref(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    if deals_path is not None:
        remove_stale_temporaries(deals_path)
    import tempfile

    # Scratch space for the event rows by chunk (about the size of the event tables): TMPDIR, not the output's
    # folder, which then only ever holds the output and its `.tmp`.
    spill = Path(tempfile.mkdtemp(prefix=f"influence-spill.{os.getpid()}."))
    pool = None
    if workers > 1:
        try:
            pool = _Workers(
                workers,
                scorer,
                spill / "workers",
                as_of=as_of_ts,
                explain=explain,
                deals=deals_path is not None,
                arrow=out.suffix.lower() == ".parquet",
            )
        except BaseException:
            shutil.rmtree(spill, ignore_errors=True)
            raise
    job = {"scorer": scorer}
    del scorer  # with workers, this process lets the model go once the chunks are handed over
    try:
        return _score_job(
            data_dir, out, listed, job, pool, spill, t0, cpu0,
            as_of_ts=as_of_ts, chunk_accounts=chunk_accounts, explain=explain, deals_path=deals_path,
            progress=progress, echo=echo,
        )  # fmt: skip
    finally:
        if pool is not None:
            pool.close()
        shutil.rmtree(spill, ignore_errors=True)


def _score_job(
    data_dir: str | Path | Dataset,
    out: Path,
    listed: list[str] | None,
    job: dict[str, Any],
    pool: _Workers | None,
    spill: Path,
    t0: float,
    cpu0: float,
    *,
    as_of_ts: pd.Timestamp | None,
    chunk_accounts: int,
    explain: bool,
    deals_path: Path | None,
    progress: bool,
    echo: Callable[[str], None] | None,
) -> BatchSummary:
    """`score_accounts` once its options are checked, the model loaded (`job["scorer"]`) and the workers (if
    any) started."""
    from influence.data import DatasetError, _error_summary
    from influence.predict import PEOPLE_COLUMNS

    source: Any
    parts: list[Any] = []
    if isinstance(data_dir, Dataset):
        source = _SliceSource(data_dir, listed, chunk_accounts)
    else:
        from influence.chunks import NeedsWholeLoad, plan_folder

        try:
            source = _PlanSource(plan_folder(data_dir, listed, chunk_accounts, spill / "plan"))
            parts = [source.plan.parent_report, source.plan.global_report]
        except NeedsWholeLoad:
            shutil.rmtree(spill / "plan", ignore_errors=True)
            from influence.data import load

            # A file only the whole reader can report on: load whole (it raises with every problem).
            source = _SliceSource(load(data_dir), listed, chunk_accounts)

    load_seconds = time.perf_counter() - t0
    load_cpu = time.process_time() - cpu0
    known = source.known()
    requested = listed if listed is not None else None
    if requested is None:
        requested = (
            list(source.plan.parents.accounts["account_id"].astype(str))
            if isinstance(source, _PlanSource)
            else list(source.ds.accounts["account_id"].astype(str))
        )
    unknown = [a for a in requested if a not in known]
    say = echo or (lambda _m: None)
    if unknown:
        say(f"{len(unknown)} account(s) in the list are not in the dataset: {', '.join(unknown[:20])}")
    if listed and len(unknown) == len(requested):
        # Not one listed account is known: almost surely the wrong list or the wrong folder. A nightly job that
        # "succeeds" with an empty file would hide that until someone opens the file.
        where = data_dir if isinstance(data_dir, str | Path) else "the dataset"
        raise AccountListError(
            f"none of the {len(listed)} account id(s) in the list is in {where} "
            f"(e.g. {', '.join(unknown[:5])}); nothing was written"
        )
    summary = BatchSummary(
        out=out,
        model_version=job["scorer"].model_version,
        accounts_requested=len(requested),
        accounts_scored=0,
        unknown_accounts=unknown,
        deals_out=deals_path,
        load_seconds=load_seconds,
    )
    writer = _Writer(out)
    deal_frames: list[pd.DataFrame] = []
    n_known = len(requested) - len(unknown)
    bar = _progress(n_known, progress)
    n_scoring = source.plan.n_scoring if isinstance(source, _PlanSource) else len(source.groups)
    groups = source.groups
    ok = {"score": all(p.ok for p in parts)}

    def tasks() -> Iterator[tuple[int, bool]]:
        for group in groups:  # read `ok` at submission: after an error, chunks are only validated
            yield group, group < n_scoring and ok["score"]

    cpu = {"load": load_cpu, "validate": 0.0, "score": 0.0, "write": 0.0}
    summary.phase_cpu_seconds = cpu
    job["source"] = source
    del source  # with workers, `_run_groups` hands it over and this process lets it go
    try:
        for outcome in _run_groups(
            job,
            tasks(),
            as_of=as_of_ts,
            explain=explain,
            deals=deals_path is not None,
            workers=pool,
            arrow=writer.kind == ".parquet",
        ):
            for phase, seconds in outcome.cpu.items():
                cpu[phase] = cpu.get(phase, 0.0) + seconds
            if outcome.report is not None:
                parts.append(outcome.report)
                if not outcome.report.ok:
                    ok["score"] = False
            if outcome.people is None or not ok["score"]:
                continue
            t_write = time.process_time()
            writer.write(outcome.people)
            cpu["write"] += time.process_time() - t_write
            if outcome.deals is not None:
                deal_frames.append(outcome.deals)
            summary.accounts_scored += len(outcome.account_ids)
            present = _accounts_present(outcome.people)
            summary.accounts_without_people.extend(a for a in outcome.account_ids if a not in present)
            summary.deals += outcome.n_deals
            summary.people += _rows(outcome.people)
            bar.update(len(outcome.account_ids))
        if parts:
            from influence.chunks import merge_reports

            report = merge_reports(parts)
            summary.warnings = int((report.problems_frame["severity"] == "warning").sum())
            if not report.ok:
                raise DatasetError(_error_summary(str(data_dir), report), report)
        writer.commit([*PEOPLE_COLUMNS, "model_version"])
        if deals_path is not None:
            deals = (
                pd.concat(deal_frames, ignore_index=True)
                if deal_frames
                else pd.DataFrame(
                    columns=[
                        "deal_id",
                        "account_id",
                        "n_people",
                        "engagement_assessable",
                        "gaps",
                        "next_best_contacts",
                        "model_version",
                    ]  # fmt: skip
                )
            )
            _write_deals(deals_path, deals)
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="account", desc="scoring", leave=False)
