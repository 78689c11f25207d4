"""Chunked reading of a dataset folder for batch scoring: memory bounded by the parents plus one chunk.

`data.load` validates a folder whole, which holds every event table at once (about 8 KiB per person). Batch
scoring needs much less: the parent tables (accounts, people, deals) are read and validated whole, and the event
tables (meetings, meeting_attendees, emails, email_recipients, signals, labels) are read once, in batches of
rows, and written to a spill folder split by *group* (a chunk of accounts). Each group is then validated against
the whole parents and scored on its own. The validation gives the very report `data.load_with_report` gives:
the same problems with the file's own row numbers, the same rejected rows, rows read = accepted + rejected.

Routing (which group a row belongs to):
- meetings, emails, labels: the account of their deal; meeting_attendees and email_recipients: the group of
  their meeting or message; signals: the account of their person. All rows sharing a key (a meeting_id, a
  message_id) go to the group of the key's first row, so duplicate keys are found within one group.
- Signals of people without an account (sellers, partners) form the *global* group: validated once and handed
  to every chunk whose events name those people. A person of another account named by a chunk's events gets a
  copy of their signals in that chunk (used, never counted twice).
- Rows that reach no accepted deal or person (they are rejected anyway) form the *rest* group, validated last.
- Accounts not in the account list are validated in validation-only groups, so a bad row anywhere stops the job
  as `data.load` would.

Keys are routed by a 64-bit hash of their text (a compiled kernel over Arrow's buffers, `_chunk_kernels`; the
same values in numpy without numba); rows whose hashes repeat are compared as text, so a hash collision never
merges two keys. Hashed keys are found through an open-addressing table (`_SortedHashes`) built once per key set.

Each part of a table is read once: every read batch is routed (its routing column and the people it names
looked up) and spilled in the same pass; only the key tables' routes (meeting_id, message_id) read their two
columns ahead. The spill runs in two threads (the kernels release the GIL); a large Parquet table is spilled in
parts (runs of its row groups, PART_ROWS rows each) so both threads share it, and a group's parts are read back
in part order: the same rows in the same order as one pass. Each process finds a chunk's people among all
accepted people through one hashed index (`key_index`), built on first use, instead of a pass over every person
id per chunk.

A file the streaming reader cannot take (a damaged Parquet file, a CSV file with bytes that are not UTF-8 or
ragged records, a duplicated header) raises `NeedsWholeLoad`: the caller loads the folder whole, which names
every problem; such a folder has errors anyway.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from influence.contract import TABLE_ORDER, TABLES, Dataset, empty_table

__all__ = [
    "ChunkPlan",
    "GroupResult",
    "NeedsWholeLoad",
    "merge_reports",
    "plan_folder",
    "validate_folder",
    "validate_group",
]

PARENTS = ("accounts", "people", "deals")
EVENTS = tuple(t for t in TABLE_ORDER if t not in PARENTS)
# Spill order: a table's routing needs its key parent (meetings, emails) spilled first.
SPILL_ORDER = ("meetings", "emails", "meeting_attendees", "email_recipients", "labels", "signals")
READ_ROWS = 1 << 19  # rows per read batch: bounded memory while spilling
PART_ROWS = 1 << 22  # a Parquet table of more rows is spilled in parts (runs of row groups), in both threads
HASH_ROWS = 1 << 16  # strings hashed at a time (the byte-level temporaries are 8x the text)
SPILL_COMPRESSION: str | None = "lz4"  # spill files: smaller on disk for a little CPU
CONTEXT = "signals_context"  # spill name of the copies of other accounts' people's signals
# Which column routes a table, and through what: ("deal"|"key:<table>"|"person", column)
_ROUTE_BY = {
    "meetings": ("deal", "deal_id"),
    "emails": ("deal", "deal_id"),
    "labels": ("deal", "deal_id"),
    "meeting_attendees": ("key:meetings", "meeting_id"),
    "email_recipients": ("key:emails", "message_id"),
    "signals": ("person", "person_id"),
}
_KEY_OF = {"meetings": "meeting_id", "emails": "message_id"}
# Columns naming people in each table: a chunk includes (and takes the signals of) everyone its events name.
_PERSON_COLUMNS = {
    "meetings": ("organizer_id",),
    "meeting_attendees": ("person_id",),
    "emails": ("sender_id",),
    "email_recipients": ("person_id",),
    "labels": ("person_id",),
}


class NeedsWholeLoad(Exception):
    """A table file that only the whole-folder reader can report on (it names the file, row and field)."""


# -- reading -------------------------------------------------------------------------------------------------------
def _batches(
    path: Path, columns: Sequence[str] | None = None, row_groups: Sequence[int] | None = None
) -> Iterator[Any]:
    """Record batches of a table file in file order: all columns as text for CSV (as `data.load` reads them),
    as stored for Parquet. `columns` limits the columns read (absent ones are skipped); `row_groups` (Parquet
    only, see `_parts`) limits the rows read to those row groups."""
    import pyarrow as pa

    if path.stat().st_size == 0:
        raise NeedsWholeLoad(f"{path.name}: empty file")
    if path.suffix == ".csv":
        from pyarrow import csv as pacsv

        from influence.data import _csv_header

        header = _csv_header(path)
        if len(set(header)) != len(header):
            raise NeedsWholeLoad(f"{path.name}: duplicate column names")
        include = header if columns is None else [c for c in columns if c in header]
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=1 << 24),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in header},
                    strings_can_be_null=True,
                    null_values=[""],
                    include_columns=include,
                ),
            )
            yield from reader
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise NeedsWholeLoad(f"{path.name}: {exc}") from exc
        return
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        wanted = None if columns is None else [c for c in columns if c in names]
        yield from parquet.iter_batches(
            batch_size=READ_ROWS, row_groups=row_groups, columns=wanted, use_pandas_metadata=True
        )
    except (OSError, pa.ArrowException) as exc:
        raise NeedsWholeLoad(f"{path.name}: {exc}") from exc


def _schema(path: Path) -> Any:
    """The Arrow schema a table file reads as (all text for CSV)."""
    import pyarrow as pa

    if path.suffix == ".csv":
        from influence.data import _csv_header

        return pa.schema([pa.field(h, pa.string()) for h in _csv_header(path)])
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise NeedsWholeLoad(f"{path.name}: {exc}") from exc


def _parts(path: Path) -> list[tuple[list[int] | None, int]]:
    """A table file as parts to spill one by one: (Parquet row groups or None for the whole file, first row).
    A large Parquet file is cut into runs of row groups of about PART_ROWS rows, so that both spill threads can
    work on it; a part's spill files are read back in part order, so a group's rows stay in file order."""
    if path.suffix == ".csv":
        return [(None, 0)]
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise NeedsWholeLoad(f"{path.name}: {exc}") from exc
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    total = sum(sizes)
    n_parts = min(len(sizes), -(-total // PART_ROWS))
    if n_parts <= 1:
        return [(None, 0)]
    parts: list[tuple[list[int] | None, int]] = []
    current: list[int] = []
    first = rows = 0
    for i, size in enumerate(sizes):
        current.append(i)
        rows += size
        if rows >= total * (len(parts) + 1) / n_parts and len(parts) < n_parts - 1:
            parts.append((current, first))
            first, current = first + sum(sizes[j] for j in current), []
    if current:
        parts.append((current, first))
    return parts


def _text(values: Any) -> Any:
    """A column as one Arrow large_string array (ids may be stored as numbers or dictionaries)."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values.cast(pa.large_string())


def _positions(values: Any, keys: Any) -> np.ndarray:
    """Position of each value in `keys` (unique ids), -1 when absent or null. Arrow builds its hash set of
    `keys` on every call: for the deals (~10^5) per read batch; the people (~10^6) go through `KeyIndex`."""
    import pyarrow.compute as pc

    found = pc.index_in(values, value_set=keys).fill_null(-1)
    return found.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


# -- hashing keys ----------------------------------------------------------------------------------------------------
_P = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_P_INV = pow(_P, -1, 1 << 64)
_POWERS: dict[int, np.ndarray] = {}


def _powers(base: int, n: int) -> np.ndarray:
    """base**i mod 2**64 for i < n (cached, grown on demand)."""
    have = _POWERS.get(base)
    if have is None or len(have) < n:
        size = max(n, 1 << 16, 0 if have is None else 2 * len(have))
        out = np.full(size, base, dtype=np.uint64)
        out[0] = 1
        np.cumprod(out, out=out)  # wraps modulo 2**64, as intended
        _POWERS[base] = have = out
    return have[:n]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the polynomial hash over all 64 bits."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@functools.cache
def _kernels() -> Any:
    """The compiled hash kernel (`_chunk_kernels`), compiled or loaded from numba's cache once per process; None,
    with one warning, when numba is missing or fails: `hash_text` then takes its numpy path (same values)."""
    try:
        from influence import _chunk_kernels as kernels

        kernels.warm()
    except Exception as exc:  # any import/compile failure: the numpy path gives the same hashes, only slower
        logging.getLogger(__name__).warning(
            "compiled id hashing unavailable (%s: %s); batch routing falls back to numpy (slower)",
            type(exc).__name__,
            exc,
        )
        return None
    return kernels


def hash_text(values: Any, *, compiled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash, missing mask) per value of an Arrow text column; null and "" are missing (as in `data`).
    Equal strings always hash equal; unequal ones almost never do, and callers compare repeated hashes as text.
    The compiled kernel (`compiled`, when numba works) and the numpy path give the same values."""
    arr = _text(values)
    n = len(arr)
    kernels = _kernels() if compiled and n else None
    if kernels is not None:
        buffers = arr.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
        data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(1, np.uint8)
        hashes = np.empty(n, dtype=np.uint64)
        kernels.hash_strings(data, offsets, hashes)
        missing = offsets[1:] == offsets[:-1]
        if arr.null_count:
            missing |= arr.is_null().to_numpy(zero_copy_only=False)
        return hashes, missing
    hashes = np.zeros(n, dtype=np.uint64)
    missing = np.zeros(n, dtype=bool)
    for lo in range(0, n, HASH_ROWS):
        part = arr.slice(lo, HASH_ROWS)
        m = len(part)
        buffers = part.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64, count=m + 1, offset=part.offset * 8)
        first, last = int(offsets[0]), int(offsets[-1])
        raw = buffers[2]
        data = (
            np.frombuffer(raw, dtype=np.uint8)[first:last].astype(np.uint64)
            if raw is not None
            else np.zeros(0, dtype=np.uint64)
        )
        with np.errstate(over="ignore"):
            sums = np.zeros(len(data) + 1, dtype=np.uint64)
            np.cumsum(data * _powers(_P, len(data)), out=sums[1:])
            rel = offsets - first
            h = (sums[rel[1:]] - sums[rel[:-1]]) * _powers(_P_INV, len(data) + 1)[rel[:-1]]
            lengths = np.diff(offsets).astype(np.uint64)
            hashes[lo : lo + m] = _mix(h ^ (lengths * np.uint64(0x9E3779B97F4A7C15)))
        gone = np.diff(offsets) == 0
        if part.null_count:
            gone |= part.is_null().to_numpy(zero_copy_only=False)
        missing[lo : lo + m] = gone
    return hashes, missing


class _SortedHashes:
    """Sorted 64-bit hashes and the index of the first element equal to each asked hash (`find`): through an
    open-addressing table (compiled kernels, built on first use: 4-7x faster than sorting the asked hashes for a
    cache-friendly `searchsorted`), else through that sort."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.hashes = hashes
        self._table: tuple[np.ndarray, np.uint64] | None = None

    def find(self, h: np.ndarray) -> np.ndarray:
        """Index of the first element of `hashes` equal to each of `h`, -1 when none."""
        out = np.full(len(h), -1, dtype=np.int64)
        if not len(self.hashes) or not len(h):
            return out
        kernels = _kernels()
        if kernels is not None:
            if self._table is None:
                size = 1 << max(4, int(2 * len(self.hashes) - 1).bit_length())
                slots = np.full(size, -1, dtype=np.int32 if len(self.hashes) < (1 << 31) else np.int64)
                mask = np.uint64(size - 1)
                kernels.build_table(self.hashes, slots, mask)
                self._table = (slots, mask)
            kernels.find_in_table(self.hashes, *self._table, np.ascontiguousarray(h, np.uint64), out)
            return out
        # Asked hashes in sorted order: each search starts near the last one (5x faster than random order on
        # millions of keys, where every probe of a random search misses the cache).
        order = np.argsort(h)
        at = np.empty(len(h), dtype=np.intp)
        at[order] = np.searchsorted(self.hashes, h[order])
        np.minimum(at, len(self.hashes) - 1, out=at)
        hit = self.hashes[at] == h
        out[hit] = at[hit]
        return out


class KeyIndex:
    """Exact membership of text values among many keys (a large parent's ids), by 64-bit hash: built once (hash
    and sort of the keys), then each question costs O(values asked x log keys) instead of a pass over every key
    (`pc.is_in(keys, value_set=values)` probes all ~10^6 people ids for each batch chunk). Keys or values that
    are null or "" never match here: `usable` is False when the keys hold such values (use `pc.is_in` then)."""

    def __init__(self, keys: Any) -> None:
        self.keys = _text(keys)
        hashes, missing = hash_text(self.keys)
        self.usable = not missing.any()
        self.order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[self.order]
        self._sorted = _SortedHashes(self.hashes)

    def members(self, values: Any) -> np.ndarray:
        """Sorted positions of the keys equal to one of `values` (what `pc.is_in(keys, value_set=values)` marks
        when neither side has nulls or "")."""
        import pyarrow as pa
        import pyarrow.compute as pc

        asked = pc.unique(_text(values))
        h, missing = hash_text(asked)
        if missing.any():
            keep = ~missing
            asked, h = asked.filter(pa.array(keep)), h[keep]
        lo = np.searchsorted(self.hashes, h, side="left")
        hi = np.searchsorted(self.hashes, h, side="right")
        counts = hi - lo
        if not counts.any():
            return np.zeros(0, dtype=np.int64)
        # Every key whose hash equals a value's, compared as text (a collision never counts as a match).
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        candidates = self.order[starts + np.arange(int(counts.sum()))]
        which = np.repeat(np.arange(len(h)), counts)
        same = pc.equal(self.keys.take(pa.array(candidates)), asked.take(pa.array(which)))
        return np.unique(candidates[same.to_numpy(zero_copy_only=False)]).astype(np.int64)

    def positions(self, values: Any) -> np.ndarray:
        """Position of each value among the keys (the first of equal keys), -1 when absent, null or "": what
        `pc.index_in(values, value_set=keys)` answers, without building a hash table of every key per call (a
        batch job looks up each ~10^5-row read batch among ~10^6 people)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        asked = _text(values)
        h, missing = hash_text(asked)
        out = np.full(len(h), -1, dtype=np.int64)
        if not len(self.hashes) or not len(h):
            return out
        if not self.usable:  # null or "" keys: Arrow's own semantics
            found = pc.index_in(asked, value_set=self.keys).fill_null(-1)
            return found.to_numpy(zero_copy_only=False).astype(np.int64)
        at = self._sorted.find(h)
        rows = np.flatnonzero((at >= 0) & ~missing)
        # The first key with the value's hash (stable order: the first position), compared as text.
        candidates = self.order[at[rows]]
        same = pc.equal(self.keys.take(pa.array(candidates)), asked.take(pa.array(rows)))
        same = same.to_numpy(zero_copy_only=False)
        out[rows[same]] = candidates[same]
        if not same.all():  # another key shares that hash: only an exact lookup tells (almost never)
            retry = rows[~same]
            found = pc.index_in(asked.take(pa.array(retry)), value_set=self.keys).fill_null(-1)
            out[retry] = found.to_numpy(zero_copy_only=False)
        return out


_KEY_INDEXES: list[tuple[Any, KeyIndex]] = []  # (keys, index) of the last few key arrays, by identity


def key_index(keys: Any) -> KeyIndex:
    """The `KeyIndex` of an Arrow key array, built once per array object (a batch worker asks for the same
    people ids for every chunk); the entry holds the array, so its id cannot be reused while cached."""
    for held, index in _KEY_INDEXES:
        if held is keys:
            return index
    index = KeyIndex(keys)
    _KEY_INDEXES.append((keys, index))
    del _KEY_INDEXES[:-2]
    return index


@dataclass
class _KeyRoute:
    """Group of each key of a table (meeting_id, message_id), for routing its child rows."""

    hashes: np.ndarray  # sorted unique hashes
    groups: np.ndarray  # group of each hash's first row
    ambiguous: np.ndarray  # sorted hashes shared by different keys
    exact: dict[str, int] = field(default_factory=dict)  # group of every key whose hash is ambiguous
    _sorted: _SortedHashes | None = field(default=None, repr=False)

    def lookup(self, values: Any) -> np.ndarray:
        """Group of each value's key, -1 when the value is missing or not a key of the table (a read batch of
        a child table at a time)."""
        h, missing = hash_text(values)
        if not len(self.hashes):
            return np.full(len(h), -1, dtype=np.int64)
        if self._sorted is None:
            self._sorted = _SortedHashes(self.hashes)
        at = self._sorted.find(h)
        hit = (at >= 0) & ~missing
        out = np.where(hit, self.groups[np.maximum(at, 0)], -1)
        if len(self.ambiguous):
            for i in np.flatnonzero(hit & np.isin(h, self.ambiguous)):
                out[i] = self.exact.get(str(values[int(i)]), -1)
        return out


def _first_of_repeats(h: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of rows whose (non-missing) hash occurs more than once, in file order."""
    live = np.flatnonzero(~missing)
    order = live[np.argsort(h[live], kind="stable")]
    hs = h[order]
    same = hs[1:] == hs[:-1]
    mark = np.zeros(len(h), dtype=bool)
    mark[order[1:][same]] = True
    mark[order[:-1][same]] = True
    return np.flatnonzero(mark), order


# -- the plan ----------------------------------------------------------------------------------------------------------
@dataclass
class ChunkPlan:
    """A folder prepared for chunked scoring: validated parents, routing, and the spilled event rows by group.

    Groups 0..n_scoring-1 are the chunks to score (account-list order), then validation-only chunks, then the
    rest group. The global group (signals of people without an account) is validated by `plan_folder` itself.
    """

    folder: Path
    spill: Path
    parents: Dataset  # accepted accounts, people, deals
    parent_runs: dict[str, Any]  # data._TableRun per parent table (validation of the event rows needs them)
    parent_report: Any  # data.ValidationReport of the parents and the folder notes
    files: dict[str, str]  # table -> file name, for every event table present
    schemas: dict[str, Any]  # table -> Arrow schema as read
    group_accounts: list[np.ndarray]  # account positions (in parents.accounts) per chunk group
    n_scoring: int
    rest: int  # the rest group's number
    deal_account: np.ndarray  # account position of each accepted deal
    person_account: np.ndarray  # account position of each accepted person (-1: none)
    global_signals: pd.DataFrame  # accepted signals of people without an account (validated once)
    global_positions: np.ndarray  # their file positions
    global_report: Any  # data.ValidationReport of those rows
    spilled_rows: dict[str, int] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=dict)  # spill parts per table (1 when absent)

    @property
    def n_groups(self) -> int:
        return self.rest + 1

    def account_ids(self, group: int) -> list[str]:
        return [str(a) for a in self.parents.accounts["account_id"].iloc[self.group_accounts[group]]]

    def person_keys(self) -> Any:
        """The accepted people's ids as one Arrow string array (built once per process, for every chunk)."""
        keys = self.__dict__.get("_person_keys")
        if keys is None:
            from influence.batch import _arrow_text

            keys = self.__dict__["_person_keys"] = _arrow_text(self.parents.people["person_id"])
        return keys

    def __getstate__(self) -> dict[str, Any]:  # workers build their own (an Arrow array pickles as a copy)
        return {k: v for k, v in self.__dict__.items() if k != "_person_keys"}

    def close(self) -> None:
        """Remove the spill folder."""
        shutil.rmtree(self.spill, ignore_errors=True)


def _spill_path(spill: Path, table: str, group: int, part: int = 0) -> Path:
    return spill / (f"{table}.{group}.arrow" if part == 0 else f"{table}.{group}.part{part}.arrow")


def plan_folder(
    folder: str | Path, accounts: Sequence[str] | None, chunk_accounts: int, spill: Path
) -> ChunkPlan:
    """Validate the parents of `folder`, route every event row to its group and spill it to `spill` (created).
    `accounts`: ids to score in this order (unknown ones ignored here; the caller reports them)."""
    import pyarrow as pa

    from influence.data import FILE_ROW_BASE, _discover, _run_tables

    folder = Path(folder)
    chosen, notes = _discover(folder)
    for name in EVENTS:
        if name in chosen and chosen[name].stat().st_size == 0:
            raise NeedsWholeLoad(f"{chosen[name].name}: empty file")
    parent_runs: dict[str, Any] = {}
    parents, parent_report = _run_tables(
        {n: chosen[n] for n in PARENTS if n in chosen}, {}, notes, FILE_ROW_BASE, folder, runs=parent_runs
    )
    spill.mkdir(parents=True, exist_ok=True)
    files = {name: chosen[name].name for name in EVENTS if name in chosen}
    schemas = {name: _schema(chosen[name]) for name in files}

    # Groups: the listed accounts in list order, then every other accepted account, then global and rest.
    account_keys = _text(pa.array(parents.accounts["account_id"].astype("string").array))
    n_accounts = len(account_keys)
    if accounts is None:
        scoring = np.arange(n_accounts)
    else:
        import pyarrow.compute as pc

        found = pc.index_in(pa.array(list(accounts), pa.large_string()), value_set=account_keys)
        scoring = found.drop_null().to_numpy().astype(np.int64)
    others = np.setdiff1d(np.arange(n_accounts), scoring)
    groups = [scoring[i : i + chunk_accounts] for i in range(0, len(scoring), chunk_accounts)]
    n_scoring = len(groups)
    groups += [others[i : i + chunk_accounts] for i in range(0, len(others), chunk_accounts)]
    global_group = len(groups)
    rest = global_group + 1
    account_group = np.full(n_accounts, rest, dtype=np.int64)
    for g, members in enumerate(groups):
        account_group[members] = g

    deal_keys = _text(pa.array(parents.deals["deal_id"].astype("string").array))
    deal_account = _lookup(parents.deals["account_id"], account_keys)
    deal_group = np.where(deal_account >= 0, account_group[np.maximum(deal_account, 0)], rest)
    person_keys = _text(pa.array(parents.people["person_id"].astype("string").array))
    person_index = KeyIndex(person_keys)  # every read batch's person ids are looked up in it
    person_account = _lookup(parents.people["account_id"], account_keys)
    person_group = np.where(person_account >= 0, account_group[np.maximum(person_account, 0)], global_group)

    def by_keys(values: Any, keys: Any, group_of: np.ndarray, default: int) -> np.ndarray:
        import pyarrow.compute as pc

        at = pc.index_in(_text(values), value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False)
        return np.where(at >= 0, group_of[np.maximum(at, 0)], default)

    routes: dict[str, _KeyRoute] = {}
    key_groups: dict[str, np.ndarray] = {}

    def route_keys(name: str) -> None:
        """Pass 1 for a keyed table: each key's rows go to the group of its first row."""
        key = _KEY_OF[name]
        hashes, missing, own = [], [], []
        for batch in _batches(chosen[name], [key, "deal_id"]):
            names = batch.schema.names
            n = batch.num_rows
            h, miss = (
                hash_text(batch.column(names.index(key)))
                if key in names
                else (np.zeros(n, np.uint64), np.ones(n, bool))
            )
            hashes.append(h)
            missing.append(miss)
            own.append(
                by_keys(batch.column(names.index("deal_id")), deal_keys, deal_group, rest)
                if "deal_id" in names
                else np.full(n, rest, dtype=np.int64)
            )
        h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        miss = np.concatenate(missing) if missing else np.zeros(0, bool)
        group = np.concatenate(own) if own else np.zeros(0, np.int64)
        repeated, order = _first_of_repeats(h, miss)
        exact: dict[str, int] = {}
        ambiguous: list[int] = []
        if len(repeated):
            # Compare repeated hashes as text: equal keys follow their first row; unequal ones are ambiguous.
            texts = _take_text(chosen[name], key, repeated)
            first_group: dict[str, int] = {}
            hash_text_of: dict[int, str] = {}
            for pos, text in zip(repeated, texts, strict=True):
                g = first_group.setdefault(text, int(group[pos]))
                group[pos] = g
                hv = int(h[pos])
                if hash_text_of.setdefault(hv, text) != text:
                    ambiguous.append(hv)
            amb = set(ambiguous)
            exact = {t: first_group[t] for pos, t in zip(repeated, texts, strict=True) if int(h[pos]) in amb}
        key_groups[name] = group
        live = order  # non-missing rows sorted by hash, stable: first row of each hash first
        hs = h[live]
        starts = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]]) if len(hs) else np.zeros(0, np.int64)
        routes[name] = _KeyRoute(
            hashes=hs[starts],
            groups=group[live[starts]],
            ambiguous=np.array(sorted(set(ambiguous)), dtype=np.uint64),
            exact=exact,
        )

    # Pass 2: spill every event row to its group; note who each chunk names from outside its accounts. Lookups
    # in the parents (deal, person) run once per whole column, not per batch (see `_positions`).
    n_groups = rest + 1
    named: list[np.ndarray] = []
    parts: dict[str, int] = {}
    signal_person = [np.zeros(0, np.int64)]  # person position of every signals row (for the copies below)

    def spill_part(name: str, part: int, row_groups: list[int] | None, first_row: int) -> int:
        """Spill one part of a table (its rows from `first_row` on); returns the rows spilled."""
        path = chosen[name]
        how, column = _ROUTE_BY[name]
        # One read of the part: each batch is routed (its routing and person columns looked up) and spilled.
        # A file without the routing column sends every row to the rest group (and names no one for a chunk).
        routed = name in key_groups or column in schemas[name].names
        signal_at: list[np.ndarray] = []
        writers: dict[int, Any] = {}
        offset = first_row
        try:
            for batch in _batches(path, None, row_groups):
                n = batch.num_rows
                names = batch.schema.names
                if not routed:
                    group = np.full(n, rest, dtype=np.int64)
                elif name in key_groups:
                    group = key_groups[name][offset : offset + n]
                elif how == "deal" or how == "person":
                    values = _text(batch.column(names.index(column)))
                    at = _positions(values, deal_keys) if how == "deal" else person_index.positions(values)
                    key_group = deal_group if how == "deal" else person_group
                    group = np.where(at >= 0, key_group[np.maximum(at, 0)], rest)
                    if name == "signals":
                        signal_at.append(at)
                else:
                    found = routes[how.split(":")[1]].lookup(batch.column(names.index(column)))
                    group = np.where(found >= 0, found, rest)
                if routed:
                    for person_column in _PERSON_COLUMNS.get(name, ()):
                        if person_column in names:
                            at = person_index.positions(batch.column(names.index(person_column)))
                            named.append(_outside(at, group, person_group, n_scoring, global_group, n_groups))
                batch = _with_rows(batch, np.arange(offset, offset + n, dtype=np.int64), schemas[name])
                _write_groups(writers, spill, name, batch, group, part)
                offset += n
        finally:
            for writer in writers.values():
                writer.close()
        if name == "signals" and routed:  # signals are never cut in parts (see `parts_of`)
            signal_person[0] = np.concatenate(signal_at) if signal_at else np.zeros(0, np.int64)
        return offset - first_row

    def parts_of(name: str) -> list[tuple[list[int] | None, int]]:
        return [(None, 0)] if name == "signals" else _parts(chosen[name])

    # Two threads (Arrow's reading, hashing and writing and numpy's sorts release the GIL) take tasks in this
    # order: the two key routes, then the tables that need no route or the meetings' (spilled while the
    # e-mails' route, the longest, still runs), then the e-mails and their recipients (~half of all rows), large
    # tables in parts.
    # A task needing a route waits for it; both routes are taken first, so a wait never blocks both threads.
    # Each spill file is written by one task, so the spill is the same as one thread's.
    present = [name for name in SPILL_ORDER if name in files]
    from concurrent.futures import Future, ThreadPoolExecutor

    route_done: dict[str, Future] = {}
    needs = {"meetings": "meetings", "emails": "emails", "meeting_attendees": "meetings"}
    needs["email_recipients"] = "emails"

    def spill_task(
        name: str, part: int, row_groups: list[int] | None, first_row: int
    ) -> tuple[str, int, int]:
        route = needs.get(name)
        if route in route_done:
            route_done[route].result()
        return name, part, spill_part(name, part, row_groups, first_row)

    wait_order = {None: 0, "meetings": 1, "emails": 2}  # the e-mails' route finishes last
    tasks = [
        (name, part, row_groups, first_row)
        for name in sorted(present, key=lambda n: wait_order[needs.get(n)])  # stable: SPILL_ORDER within each
        for part, (row_groups, first_row) in enumerate(parts_of(name))
    ]
    rows: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="influence-spill") as pool:
        for name in _KEY_OF:
            if name in files:
                route_done[name] = pool.submit(route_keys, name)
        futures = [pool.submit(spill_task, *task) for task in tasks]
        for future in [*route_done.values(), *futures]:
            done = future.result()
            if done is not None:
                name, part, n = done
                rows[name] = rows.get(name, 0) + n
                parts[name] = max(parts.get(name, 1), part + 1)
    key_groups.clear()
    spilled = {name: rows[name] for name in present}  # in spill order, whichever thread finished first

    # Signals again, for the copies: a person of another account named by a chunk lends it their signals.
    pairs = np.unique(np.concatenate(named)) if named else np.zeros(0, np.int64)
    if len(pairs) and "signals" in files and len(signal_person[0]):
        person_of, group_of = pairs // n_groups, pairs % n_groups
        writers = {}
        offset = 0
        try:
            for batch in _batches(chosen["signals"]):
                n = batch.num_rows
                at = signal_person[0][offset : offset + n]
                lo = np.searchsorted(person_of, at, side="left")
                hi = np.searchsorted(person_of, at, side="right")
                counts = np.where(at >= 0, hi - lo, 0)
                if counts.any():
                    take = np.repeat(np.arange(n), counts)
                    which = np.concatenate(
                        [np.arange(a, b) for a, b in zip(lo[counts > 0], hi[counts > 0], strict=True)]
                    )
                    copy = _with_rows(batch.take(pa.array(take)), offset + take, schemas["signals"])
                    _write_groups(writers, spill, CONTEXT, copy, group_of[which])
                offset += n
        finally:
            for writer in writers.values():
                writer.close()

    plan = ChunkPlan(
        folder=folder,
        spill=spill,
        parents=parents,
        parent_runs=parent_runs,
        parent_report=parent_report,
        files=files,
        schemas=schemas,
        group_accounts=groups,
        n_scoring=n_scoring,
        rest=rest,
        deal_account=deal_account,
        person_account=person_account,
        global_signals=pd.DataFrame(),
        global_positions=np.zeros(0, np.int64),
        global_report=None,
        spilled_rows=spilled,
        parts=parts,
    )
    # The global group is validated here, once: every chunk may need those people's signals.
    accepted, positions, report = _validate_pieces(plan, global_group, ("signals",))
    plan.global_signals = accepted.get("signals", pd.DataFrame())
    plan.global_positions = positions.get("signals", np.zeros(0, np.int64))
    plan.global_report = report
    return plan


_ROW = "__influence_row"  # file position of a spilled row (0-based)


def _with_rows(batch: Any, rows: np.ndarray, file_schema: Any) -> Any:
    """The batch plus its file positions, keeping the file's schema metadata (pandas reads dtypes from it)."""
    import pyarrow as pa

    schema = batch.schema.append(pa.field(_ROW, pa.int64()))
    if not schema.metadata and file_schema.metadata:
        schema = schema.with_metadata(file_schema.metadata)
    return pa.RecordBatch.from_arrays([*batch.columns, pa.array(rows, pa.int64())], schema=schema)


def _lookup(values: pd.Series, keys: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.index_in(_text(pa.array(values.astype("string").array)), value_set=keys)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _outside(
    at: np.ndarray,
    group: np.ndarray,
    person_group: np.ndarray,
    n_scoring: int,
    global_group: int,
    n_groups: int,
) -> np.ndarray:
    """(person, group) codes of people named by rows of scoring chunks who belong to another chunk's account.
    `at`: the person position each row names (-1: none), `group`: each row's group."""
    home = np.where(at >= 0, person_group[np.maximum(at, 0)], -1)
    keep = (at >= 0) & (group < n_scoring) & (home != group) & (home != global_group)
    return np.unique(at[keep].astype(np.int64) * n_groups + group[keep])


def _write_groups(
    writers: dict[int, Any], spill: Path, name: str, batch: Any, group: np.ndarray, part: int = 0
) -> None:
    import pyarrow as pa

    # Few groups: 16-bit codes take numpy's radix sort (linear) instead of a comparison sort per batch.
    narrow = (
        group.astype(np.int16) if group.max(initial=0) < (1 << 15) and group.min(initial=0) >= 0 else group
    )
    order = np.argsort(narrow, kind="stable")
    sorted_groups = group[order]
    bounds = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1], True])
    ordered = batch.take(pa.array(order))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        g = int(sorted_groups[lo])
        writer = writers.get(g)
        if writer is None:
            writer = writers[g] = pa.ipc.new_file(
                _spill_path(spill, name, g, part),
                batch.schema,
                options=pa.ipc.IpcWriteOptions(compression=SPILL_COMPRESSION),
            )
        writer.write_batch(ordered.slice(lo, hi - lo))


def _take_text(path: Path, column: str, positions: np.ndarray) -> list[str]:
    """The text of `column` at sorted file positions (a second read of that column only)."""
    out: list[str] = []
    offset = 0
    wanted = np.asarray(positions)
    for batch in _batches(path, [column]):
        n = batch.num_rows
        lo, hi = np.searchsorted(wanted, [offset, offset + n])
        if hi > lo:
            values = _text(batch.column(0)).take(wanted[lo:hi] - offset)
            out.extend(str(v) for v in values.to_pylist())
        offset += n
    return out


# -- validating a group ------------------------------------------------------------------------------------------------
def _read_piece(plan: ChunkPlan, name: str, group: int, schema_of: str | None = None) -> Any:
    import pyarrow as pa

    pieces = []
    for part in range(plan.parts.get(name, 1)):  # in part order: the group's rows in file order
        path = _spill_path(plan.spill, name, group, part)
        if path.exists():
            with pa.memory_map(str(path)) as source:
                pieces.append(pa.ipc.open_file(source).read_all())
    if len(pieces) == 1:
        return pieces[0]
    if pieces:
        return pa.concat_tables(pieces)
    schema = plan.schemas[schema_of or name]
    return schema.append(pa.field(_ROW, pa.int64())).empty_table()


def _validate_pieces(
    plan: ChunkPlan, group: int, tables: Sequence[str] = EVENTS
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray], Any]:
    """Validate a group's rows of `tables` against the whole parents: the accepted frames, their file positions,
    and the group's report (rows numbered as in the files)."""
    from influence.data import FILE_ROW_BASE, _finish, _TableRun, _validate_table

    runs = dict(plan.parent_runs)
    mine: dict[str, Any] = {}
    positions: dict[str, np.ndarray] = {}
    pieces = {n: _read_piece(plan, n, group) for n in TABLE_ORDER if n in tables and n in plan.files}
    if "people" in runs:
        runs["people"] = _narrowed_people(runs["people"], pieces)
    for name in TABLE_ORDER:
        if name not in pieces:
            continue
        piece = pieces.pop(name)
        rows = piece.column(_ROW).to_numpy()
        raw = piece.drop_columns([_ROW]).to_pandas()
        if not (isinstance(raw.index, pd.RangeIndex) and raw.index.start == 0):
            raw = raw.reset_index(drop=True)
        run = _TableRun(
            name, plan.files[name], raw, rejected=np.zeros(len(raw), dtype=bool), row_numbers=rows + 1
        )
        _validate_table(TABLES[name], run, runs, FILE_ROW_BASE)
        run.compact()
        runs[name] = mine[name] = run
        positions[name] = rows
    accepted, report = _finish(mine, [], FILE_ROW_BASE, plan.folder)
    kept = {}
    for name, run in mine.items():
        rejected = (
            run.rejected
            if len(run.rejected) == len(positions[name])
            else np.zeros(len(positions[name]), bool)
        )
        positions[name] = positions[name][~rejected]
        kept[name] = accepted[name]
    return kept, positions, report


_PERSON_REFERENCES = {**_PERSON_COLUMNS, "signals": ("person_id",)}


def _narrowed_people(run: Any, pieces: dict[str, Any]) -> Any:
    """The people run with its accepted-id set cut to the ids this group's rows name: the same answers for
    these rows, but each reference check hashes a few thousand ids instead of every person (several per chunk)."""
    import copy

    import pyarrow as pa
    import pyarrow.compute as pc

    from influence.data import _accepted_keys

    if run.typed is None:
        return run
    named = []
    for name, piece in pieces.items():
        for column in _PERSON_REFERENCES.get(name, ()):
            if column in piece.column_names:
                values = piece.column(column)
                if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                    return run  # ids stored as numbers: leave the text conversion to the validator
                named.append(values.combine_chunks().cast(pa.large_string()))
    full = _accepted_keys(run, "person_id")
    refs = pa.concat_arrays(named).unique() if named else pa.array([], pa.large_string())
    index = key_index(full)
    narrowed = copy.copy(run)
    narrowed.key_sets = {
        **run.key_sets,
        "person_id": full.take(pa.array(index.members(refs)))
        if index.usable
        else full.filter(pc.is_in(full, value_set=refs.cast(full.type))),
    }
    return narrowed


@dataclass
class GroupResult:
    """A validated group: its report, and the dataset to score (None for validation-only groups)."""

    group: int
    account_ids: list[str]
    report: Any
    dataset: Dataset | None


def validate_group(plan: ChunkPlan, group: int, *, assemble: bool = True) -> GroupResult:
    """Validate a group's event rows; for a scoring chunk (and `assemble`), also build its sub-dataset: exactly
    the rows `batch.iter_account_chunks` would slice from the whole accepted dataset."""
    accepted, positions, report = _validate_pieces(plan, group)
    ids = plan.account_ids(group) if group < len(plan.group_accounts) else []
    if not assemble or group >= plan.n_scoring:
        return GroupResult(group, ids, report, None)
    import pyarrow as pa

    from influence.batch import _index_in, chunk_people

    parents = plan.parents
    codes = np.sort(plan.group_accounts[group])
    tables: dict[str, pd.DataFrame] = {
        "accounts": parents.accounts.iloc[codes],
        "deals": parents.deals.iloc[np.flatnonzero(np.isin(plan.deal_account, codes))],
    }
    for name in EVENTS:
        if name != "signals":
            tables[name] = accepted[name] if name in accepted else empty_table(name)
    person_keys = plan.person_keys()
    own = np.flatnonzero(np.isin(plan.person_account, codes))
    people_pos, outside = chunk_people(tables, person_keys, own)
    tables["people"] = parents.people.iloc[people_pos]
    theirs = plan.person_account[outside]
    if (theirs >= 0).any():  # a person of another account: that account's row too (as the slicer does)
        tables["accounts"] = parents.accounts.iloc[np.union1d(codes, theirs[theirs >= 0])]
    signal_parts = [
        (
            accepted["signals"] if "signals" in accepted else empty_table("signals"),
            positions.get("signals", np.zeros(0, np.int64)),
        )
    ]
    if len(outside):
        outside_ids = person_keys.take(pa.array(outside))
        for frame, pos in (
            (plan.global_signals, plan.global_positions),
            _context_signals(plan, group),
        ):
            if len(frame):
                hit = _index_in(frame["person_id"], outside_ids) >= 0
                signal_parts.append((frame.loc[hit], pos[hit]))
    frames = [f for f, _ in signal_parts]
    pos = np.concatenate([p for _, p in signal_parts])
    signals = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    order = np.argsort(pos, kind="stable")
    tables["signals"] = signals.iloc[order]
    return GroupResult(
        group,
        ids,
        report,
        Dataset({name: tables[name].reset_index(drop=True) for name in TABLE_ORDER}, path=plan.folder),
    )


def _context_signals(plan: ChunkPlan, group: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Accepted copies of other accounts' people's signals lent to this chunk (validated, never reported)."""
    from influence.data import FILE_ROW_BASE, _finish, _TableRun, _validate_table

    if "signals" not in plan.files or not _spill_path(plan.spill, CONTEXT, group).exists():
        return empty_table("signals"), np.zeros(0, np.int64)
    piece = _read_piece(plan, CONTEXT, group, schema_of="signals")
    rows = piece.column(_ROW).to_numpy()
    raw = piece.drop_columns([_ROW]).to_pandas().reset_index(drop=True)
    run = _TableRun(
        "signals", plan.files["signals"], raw, rejected=np.zeros(len(raw), bool), row_numbers=rows + 1
    )
    _validate_table(TABLES["signals"], run, dict(plan.parent_runs), FILE_ROW_BASE)
    accepted, _ = _finish({"signals": run}, [], FILE_ROW_BASE, plan.folder)
    return accepted.signals, rows[~run.rejected] if len(run.rejected) == len(rows) else rows


# -- the report ------------------------------------------------------------------------------------------------------
def merge_reports(parts: Sequence[Any]) -> Any:
    """One `ValidationReport` from the parents' report and the groups' reports, in `data.load_with_report`'s
    order: folder notes, then table by table (contract order), whole-file problems first, then by row."""
    from influence.data import TableCounts, ValidationReport

    order = {name: i for i, name in enumerate(TABLE_ORDER)}
    first, rest = parts[0], parts[1:]
    problems = [first.problems_frame]
    rejected = [first.rejected]
    counts = dict(first.counts)
    files = dict(first.files)
    tables_problems = [p.problems_frame for p in rest if len(p.problems_frame)]
    tables_rejected = [p.rejected for p in rest if len(p.rejected)]
    for part in rest:
        files.update(part.files)
        for name, c in part.counts.items():
            have = counts.get(name)
            counts[name] = (
                c
                if have is None
                else TableCounts(have.read + c.read, have.accepted + c.accepted, have.rejected + c.rejected)
            )
    if tables_problems:
        frame = pd.concat(tables_problems, ignore_index=True)
        whole = frame["row"].isna().to_numpy()
        # A whole-file finding (an absent column, say) is made by every group: keep it once.
        frame = pd.concat([frame[whole].drop_duplicates(), frame[~whole]], ignore_index=True)
        key = pd.DataFrame({"t": frame["table"].map(order), "r": frame["row"].astype("float64").fillna(-1.0)})
        frame = frame.iloc[np.lexsort((key["r"].to_numpy(), key["t"].to_numpy()))]
        problems.append(frame)
    if tables_rejected:
        frame = pd.concat(tables_rejected, ignore_index=True)
        frame = frame.iloc[
            np.lexsort((frame["row"].to_numpy(dtype="int64"), frame["table"].map(order).to_numpy()))
        ]
        rejected.append(frame)
    problems_frame = pd.concat([p for p in problems if len(p)] or [first.problems_frame], ignore_index=True)
    problems_frame["row"] = problems_frame["row"].astype("Int64")
    rejected_frame = pd.concat([r for r in rejected if len(r)] or [first.rejected], ignore_index=True)
    ordered_counts = {name: counts[name] for name in TABLE_ORDER if name in counts}
    ordered_files = {name: files[name] for name in TABLE_ORDER if name in files}
    return ValidationReport(
        problems_frame=problems_frame, counts=ordered_counts, rejected=rejected_frame, files=ordered_files
    )


def validate_folder(folder: str | Path, spill: str | Path, *, chunk_accounts: int = 500) -> Any:
    """Validate a folder chunk by chunk (parents whole, event tables per chunk of accounts): the same
    `ValidationReport` as `data.validate(folder)`, in bounded memory. `spill` is a scratch folder (removed)."""
    plan = plan_folder(folder, None, chunk_accounts, Path(spill))
    try:
        groups = [*range(len(plan.group_accounts)), plan.rest]
        reports = [validate_group(plan, g, assemble=False).report for g in groups]
        return merge_reports([plan.parent_report, plan.global_report, *reports])
    finally:
        plan.close()
