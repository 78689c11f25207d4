"""Turn a `Dataset` into integer-coded numpy arrays, keeping only what is visible at `as_of`.

Everything downstream works on these arrays (np.bincount, sorting, scipy.sparse), never on per-event Python
loops. This is also the only place that reads the dataset, so it is where leakage is prevented: it never touches
deals.outcome / closed_at / stage / amount or the labels table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from influence.contract import RECIPIENT_KINDS, RESPONSES, SIDES, Dataset
from influence.features._spec import (
    EXECUTIVE_KIND_PATTERN,
    TECHNICAL_KIND_PATTERN,
    TITLE_FUNCTIONS,
)

SELLER = SIDES.index("seller")
PARTNER = SIDES.index("partner")
KNOWN_FUNCTIONS = frozenset(TITLE_FUNCTIONS) - {"other"}  # a department can be inferred from these
_KNOWN_BY_CODE = np.array(
    [f in KNOWN_FUNCTIONS for f in TITLE_FUNCTIONS] + [False]
)  # [-1]: not a title function
NO_TIME = np.iinfo(np.int64).min
NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR


@dataclass
class Prepared:
    """The coded, as_of-filtered dataset. Person and deal codes follow the sorted ids, so (deal, person) keys sort
    like (deal_id, person_id)."""

    as_of_ns: int | None
    person_ids: pa.Array  # sorted
    person_side: np.ndarray  # int8 index into SIDES
    person_account: np.ndarray  # account code or -1
    person_email_domain: np.ndarray  # object, None when unknown
    person_dept: np.ndarray  # department code or -1
    person_seniority: np.ndarray  # int8 0-6
    title: dict[str, np.ndarray]  # parsed title fields per person code: seniority, function, missing, ...
    account_ids: pa.Array
    account_domain: np.ndarray  # object, None when unknown
    deal_ids: pa.Array  # kept deals only (created before as_of), sorted
    deal_account: np.ndarray
    deal_created: np.ndarray  # int64 ns
    deal_obs_end: np.ndarray  # int64 ns: last event before as_of, else created_at
    # meetings (kept)
    mtg_deal: np.ndarray
    mtg_time: np.ndarray
    mtg_technical: np.ndarray
    mtg_executive: np.ndarray
    # meeting participants: invitees plus organisers who were not on the invitee list
    part_mtg: np.ndarray
    part_person: np.ndarray
    part_response: np.ndarray  # index into RESPONSES, -1 for an organiser who was not invited
    part_attended: np.ndarray  # bool
    part_organiser: np.ndarray  # bool
    # e-mails (kept)
    msg_deal: np.ndarray
    msg_time: np.ndarray
    msg_sender: np.ndarray
    msg_thread: np.ndarray  # thread code (global)
    msg_parent: np.ndarray  # index of the replied-to kept message, or -1
    # recipients of kept e-mails, self-addressed copies removed
    rec_msg: np.ndarray
    rec_person: np.ndarray
    rec_kind: np.ndarray  # index into RECIPIENT_KINDS
    # signals before as_of
    sig_person: np.ndarray
    sig_time: np.ndarray
    sig_kind: np.ndarray
    # set by _tabular.participation_keys on large inputs: (its sorted keys, per event code into the keys in order of
    # first appearance, each such code's position in the sorted keys), so make_rows looks up no event key again
    participation: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def n_people(self) -> int:
        return len(self.person_ids)

    @property
    def n_deals(self) -> int:
        return len(self.deal_ids)


Column = pd.Series | pd.api.extensions.ExtensionArray | np.ndarray


class _Columns:
    """Column arrays of a frame without building a pandas Series per access: `frame[name]` costs ~25 us in
    pandas 3 and `prepare` reads ~35 columns, a large share of a one-deal scoring request."""

    # pandas' block manager hands out a column's array in ~1 us; the public API is the fallback
    use_internals = True

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._fast = (
            self.use_internals
            and frame.columns.is_unique
            and hasattr(getattr(frame, "_mgr", None), "iget_values")
        )

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, name: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
        if self._fast:
            return self.frame._mgr.iget_values(self.frame.columns.get_loc(name))
        return self.frame[name].array


def _raw(values: Column) -> pd.api.extensions.ExtensionArray | np.ndarray:
    return values.array if isinstance(values, pd.Series) else values


def to_ns(values: Column) -> np.ndarray:
    """int64 nanoseconds since the epoch (UTC); NaT -> NO_TIME."""
    raw = _raw(values)
    if isinstance(raw.dtype, pd.DatetimeTZDtype):  # the contract's dtype: no parsing, just the integers
        return raw.asi8 if raw.unit == "ns" else raw.as_unit("ns").asi8
    return pd.to_datetime(pd.Series(raw), utc=True).array.as_unit("ns").asi8


def arrow_text(values: Column) -> pa.Array:
    """A column as a pyarrow large_string array (zero-copy for pandas' pyarrow-backed strings)."""
    arr = _column(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def _int_codes(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow integer array as int64 numpy, nulls -> -1."""
    if arr.null_count:
        arr = arr.fill_null(-1)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64)


def _flat(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _column(values: Column) -> pa.Array | pa.ChunkedArray:
    """A column as Arrow large_string, chunks kept: concatenating them copies every string (0.3 s for 2.3M
    message ids), and the hash kernels read chunked arrays as they are."""
    # Hand pyarrow the array, not the Series: probing a Series for the Arrow protocols goes through pandas'
    # __getattr__ and costs ~15x more, which matters for one-deal scoring requests.
    raw = _raw(values)
    if isinstance(raw, pd.arrays.NumpyExtensionArray):
        raw = raw.to_numpy()
    arr = pa.array(raw, from_pandas=True)
    return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())


# Runs are worth collapsing when there are fewer than this share of the rows.
RUN_SHARE = 0.6
# Columns up to this length (one scoring request) take the plain single-call paths: the multi-step ones only pay
# on large inputs.
SMALL_ROWS = 1024


# Small columns (one scoring request) are coded with Python dicts and lists: each Arrow compute call has a fixed
# cost of ~10-50 us here, and `prepare` makes dozens of them. Python's str equality and ordering are Arrow's
# (byte-wise on UTF-8), so the codes are the same; tests/code/test_features_smallpaths.py compares both ways.
# Measured on one 31-person request (us per call, Python / Arrow): hash lookups and dictionary codes pay per value
# in Python (~0.2 us: 124 values 20 / 30, 467 values 80 / 48), so they switch at PYTHON_MAX_ROWS values; sorting
# ids (24 / 101), e-mail domains (22 / 143) and the message links (55 / 120, 200 values) pay Arrow's fixed costs
# several times over, so they stay in Python up to PYTHON_TEXT_MAX_ROWS.
PYTHON_MAX_ROWS = 160
PYTHON_TEXT_MAX_ROWS = 400


def _is_small(*arrays: pa.Array | pa.ChunkedArray) -> bool:
    return sum(len(a) for a in arrays) <= PYTHON_MAX_ROWS


def _is_small_text(*arrays: pa.Array | pa.ChunkedArray) -> bool:
    return sum(len(a) for a in arrays) <= PYTHON_TEXT_MAX_ROWS


def _positions(index: pa.Array | pa.ChunkedArray) -> dict[str | None, int]:
    """{value: first position} of a small index (what `pc.index_in` returns for that value; a null matches a
    null, as with index_in's default skip_nulls=False)."""
    out: dict[str | None, int] = {}
    for i, value in enumerate(index.to_pylist()):
        out.setdefault(value, i)
    return out


def _lookup_small(values: pa.Array | pa.ChunkedArray, positions: dict[str | None, int]) -> np.ndarray:
    found = positions.get
    return np.array([found(v, -1) for v in values.to_pylist()], dtype=np.int64).reshape(-1)


@functools.cache
def _constant_index(values: tuple[str, ...]) -> tuple[pa.Array, dict[str | None, int]]:
    """A vocabulary (SIDES, RESPONSES, ...) as an Arrow array and its positions, built once per process."""
    return pa.array(values, pa.large_string()), {v: i for i, v in enumerate(values)}


def _vocabulary_codes(values: pa.Array | pa.ChunkedArray, vocabulary: tuple[str, ...]) -> np.ndarray:
    """`_codes` of a column in a fixed vocabulary."""
    index, positions = _constant_index(vocabulary)
    return _lookup_small(values, positions) if _is_small(values) else _codes(values, index)


def _dictionary_small(values: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """`_dictionary_of` of a small column given as a list: codes in order of first appearance, -1 for null."""
    seen: dict[str, int] = {}
    codes = [-1 if v is None else seen.setdefault(v, len(seen)) for v in values]
    return np.array(codes, dtype=np.int64).reshape(-1), list(seen)


# Before comparing every pair of neighbours (~40 ms for 4.4M recipients' message ids, and wasted when most rows
# start a run, as there), a few evenly spread blocks estimate the share of run starts.
RUN_PROBES = 16
RUN_PROBE_ROWS = 2048


def _probed_run_share(values: pa.Array | pa.ChunkedArray) -> float:
    """Share of rows starting a run of equal values in RUN_PROBES blocks spread over the column (an estimate: it
    only decides whether the exact count is worth its cost, never the result)."""
    n, starts = len(values), 0
    for at in np.linspace(0, n - RUN_PROBE_ROWS - 1, RUN_PROBES).astype(np.int64):
        block = values.slice(int(at), RUN_PROBE_ROWS + 1)
        starts += (
            pc.sum(pc.not_equal(block.slice(1), block.slice(0, RUN_PROBE_ROWS)).fill_null(True)).as_py() or 0
        )
    return starts / (RUN_PROBES * RUN_PROBE_ROWS)


def _runs(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """(start, length) of each run of equal consecutive values (a null is a run of its own), or None when the
    column is short or has too few repeats for collapsing runs to pay."""
    n = len(values)
    if n <= SMALL_ROWS or n < 2:
        return None
    if n > RUN_PROBES * RUN_PROBE_ROWS * 4 and _probed_run_share(values) >= RUN_SHARE + 0.1:
        return None
    change = pc.not_equal(values.slice(1), values.slice(0, n - 1)).fill_null(True)
    starts = np.flatnonzero(np.concatenate(([True], change.to_numpy(zero_copy_only=False))))
    if len(starts) >= RUN_SHARE * n:
        return None
    return starts, np.diff(np.append(starts, n))


def _codes(values: pa.Array | pa.ChunkedArray, index: pa.Array) -> np.ndarray:
    """Position of each value in `index` (hash lookup in Arrow, much faster than pandas on strings); -1 if absent.

    Child tables usually list their rows grouped by parent (recipients by message, e-mails by deal), so runs of
    equal values are looked up once; when the runs are exactly the parent ids in order, nothing is hashed at all.
    Long message ids made these lookups the largest cost of the whole tabular part.
    """
    if _is_small(values) and _is_small(index):
        return _lookup_small(values, _positions(index))
    runs = _runs(values)
    if runs is not None:
        starts, lengths = runs
        run_values = values.take(pa.array(starts))
        if len(run_values) == len(index) and pc.all(pc.equal(run_values, index)).as_py():
            return np.repeat(np.arange(len(index), dtype=np.int64), lengths)
        return np.repeat(_int_codes(pc.index_in(run_values, value_set=index)), lengths)
    in_order = _codes_in_order(values, index)
    return _int_codes(pc.index_in(values, value_set=index)) if in_order is None else in_order


# Rows read at the start of a column to guess whether its values first appear in `index` order.
ORDER_PROBE_ROWS = 4096


def _codes_in_order(
    values: pa.Array | pa.ChunkedArray, index: pa.Array | pa.ChunkedArray, extra: pa.Array | None = None
) -> np.ndarray | None:
    """`_codes` when the values, taken in order of first appearance, are exactly `index` (None otherwise); with
    `extra`, the codes of `values` then of `extra`, both looked up in the same pass (values not in `index`,
    seen after all of it, get -1).

    Exports list a child's rows in its parent's order, later rows only repeating earlier parents (recipients:
    each e-mail's first recipient in e-mail order, cc lists after), so dictionary-encoding the column alone
    yields `index` itself and its codes are the answer. That hashes each message id once, where `index_in`
    builds a table of the index and then probes every value: 0.8 s instead of 1.15 s for 4.4M recipients.
    A short prefix is checked first so other orders cost almost nothing extra; small indexes (kinds, sides)
    build cheap tables and keep the plain lookup.
    """
    n = len(values)
    if n <= SMALL_ROWS or not SMALL_ROWS < len(index) <= n or index.null_count:
        return None
    head = pc.unique(values.slice(0, ORDER_PROBE_ROWS)).drop_null()
    if len(head) > len(index) or not pc.all(pc.equal(head, index.slice(0, len(head)))).as_py():
        return None
    if extra is not None:
        parts = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        values = pa.chunked_array([*parts, extra], type=pa.large_string())
    encoded = pc.dictionary_encode(values)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return None
    # Arrow gives every chunk the one final dictionary (same buffers); were it ever per-chunk, checking only
    # the last one would be unsound, so anything else takes the plain lookup.
    dictionary = chunks[-1].dictionary
    same = [(b.address if b is not None else 0) for b in dictionary.buffers()]
    if len(dictionary) < len(index) or any(
        len(c.dictionary) != len(dictionary)
        or c.dictionary.offset != dictionary.offset
        or [(b.address if b is not None else 0) for b in c.dictionary.buffers()] != same
        for c in chunks
    ):
        return None
    if not pc.all(pc.equal(pa.chunked_array([dictionary.slice(0, len(index))]), index)).as_py():
        return None
    codes = _int_codes(pa.chunked_array([c.indices for c in chunks]))
    if len(dictionary) > len(index):  # values not in the index, all first seen after it
        codes[codes >= len(index)] = -1
    return codes


def _codes_many(columns: list[pa.Array | pa.ChunkedArray], index: pa.Array) -> list[np.ndarray]:
    """`_codes` of several columns in the same `index` with a single Arrow call: one hash table of `index`
    instead of one per column, and one call's fixed cost (most of the cost for a one-deal scoring request).
    Runs of equal values are still collapsed per column."""
    if _is_small(*columns) and _is_small(index):
        positions = _positions(index)
        return [_lookup_small(arr, positions) for arr in columns]
    keys: list[pa.Array | pa.ChunkedArray] = []
    lengths: list[np.ndarray | None] = []
    for arr in columns:
        runs = _runs(arr)
        keys.append(arr if runs is None else arr.take(pa.array(runs[0])))
        lengths.append(None if runs is None else runs[1])
    chunks = [c for k in keys for c in (k.chunks if isinstance(k, pa.ChunkedArray) else (k,))]
    codes = _int_codes(pc.index_in(pa.chunked_array(chunks, type=pa.large_string()), value_set=index))
    out, at = [], 0
    for key, length in zip(keys, lengths, strict=True):
        part = codes[at : at + len(key)]
        at += len(key)
        out.append(part if length is None else np.repeat(part, length))
    return out


class _References:
    """Codes of several columns that reference the same ids (see `_codes_many`), each checked only when it is
    used, so errors come in the same order as with one lookup per column."""

    def __init__(self, index: pa.Array, columns: dict[str, Column]) -> None:
        self.values = columns
        self.arrays = {name: _column(values) for name, values in columns.items()}
        self.codes = dict(zip(columns, _codes_many(list(self.arrays.values()), index), strict=True))

    def get(self, name: str, ref: str, nullable: bool, rows: np.ndarray | None = None) -> np.ndarray:
        """Codes of column `name` ("table.column"), only `rows` of it if given; unknown values are an error."""
        codes = self.codes[name] if rows is None else self.codes[name][rows]
        if (codes < 0).any():  # only then is the check's input worth building
            table, column = name.split(".")
            values, arr = self.values[name], self.arrays[name]
            if rows is not None:
                values, arr = _raw(values)[rows], arr.take(pa.array(rows))
            _check_found(codes, values, arr, table, column, ref, nullable, file_rows=rows)
        return codes


def _parents(message_ids: pa.Array | pa.ChunkedArray, in_reply_to: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per e-mail, the row of the message it replies to (first row with that id), -1 when none is captured.

    A hash table of all message ids (long strings) cost ~1 s for 2.3M e-mails, the largest single cost of the
    tabular part, so: a reply usually comes right after its parent (exports list threads in time order: 85% of
    generated replies), which one vectorised comparison confirms; the others are found by probing every message
    id against a small table of just the parent ids still wanted. (Message ids are a primary key; were one
    duplicated, a reply right after a copy resolves to that copy.)
    """
    adjacent = _adjacent_parents(message_ids, in_reply_to)
    if adjacent is None:
        return _int_codes(pc.index_in(in_reply_to, value_set=message_ids))
    out, rest = adjacent
    n = len(message_ids)
    if len(rest):
        enc = pc.dictionary_encode(_flat(in_reply_to.take(pa.array(rest))))
        which = _int_codes(pc.index_in(message_ids, value_set=enc.dictionary))  # per message: wanted id or -1
        at = np.flatnonzero(which >= 0)
        first = np.full(len(enc.dictionary), n, np.int64)
        np.minimum.at(first, which[at], at)
        first[first == n] = -1
        out[rest] = first[_int_codes(enc.indices)]
    return out


def _adjacent_parents(
    message_ids: pa.Array | pa.ChunkedArray, in_reply_to: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(parents of the replies right after their parent, -1 elsewhere; rows of the other replies), or None when
    a plain lookup of every reply is the better way (short columns, or too many replies elsewhere)."""
    n = len(message_ids)
    if n <= SMALL_ROWS:
        return None
    out = np.full(n, -1, np.int64)
    wanted = np.asarray(in_reply_to.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if n > 1:
        same = pc.equal(in_reply_to.slice(1), message_ids.slice(0, n - 1)).fill_null(False)
        follows = np.concatenate(([False], np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)))
        out[follows] = np.flatnonzero(follows) - 1
        wanted &= ~follows
    rest = np.flatnonzero(wanted)
    if len(rest) > n // 4:  # rows in another order: the small table would not be small, look everything up
        return None
    return out, rest


def _email_links(
    message_id: Column, in_reply_to: Column, rec_message_id: Column
) -> tuple[np.ndarray, np.ndarray]:
    """(each recipient row's e-mail row, each e-mail's replied-to row or -1); an unknown message id is an error."""
    message_ids, replies, rec = _column(message_id), _column(in_reply_to), _column(rec_message_id)
    if _is_small_text(message_ids, rec):
        positions = _positions(message_ids)  # one table for both lookups
        rec_message = _lookup_small(rec, positions)
        _check_found(rec_message, rec_message_id, rec, "email_recipients", "message_id", "message_id", False)
        return rec_message, _lookup_small(replies, positions)
    adjacent = _adjacent_parents(message_ids, replies)
    if adjacent is not None and len(adjacent[1]) and _runs(rec) is None:
        # The recipients' dictionary encoding (see _codes_in_order) hashes every message id anyway: the replies
        # whose parent is not right before them are encoded in the same pass, which spares _parents probing
        # all message ids once more (0.3 s for 2.3M e-mails).
        out, rest = adjacent
        codes = _codes_in_order(rec, message_ids, extra=_flat(replies.take(pa.array(rest))))
        if codes is not None:
            rec_message = codes[: len(rec)]
            _check_found(
                rec_message, rec_message_id, rec, "email_recipients", "message_id", "message_id", False
            )
            out[rest] = codes[len(rec) :]
            return rec_message, out
    rec_message = _lookup(message_ids, rec_message_id, "email_recipients", "message_id", "message_id", False)
    return rec_message, _parents(message_ids, replies)


def _lookup(
    index: pa.Array | pa.ChunkedArray, values: Column, table: str, column: str, ref: str, nullable: bool
) -> np.ndarray:
    """Codes of `values` in `index`; a value that is not there is a clear error (table, row, field)."""
    arr = _column(values)
    codes = _codes(arr, index)
    _check_found(codes, values, arr, table, column, ref, nullable)
    return codes


def _check_found(
    codes: np.ndarray,
    values: Column,
    arr: pa.Array | pa.ChunkedArray,
    table: str,
    column: str,
    ref: str,
    nullable: bool,
    file_rows: np.ndarray | None = None,
) -> None:
    """Raise naming the first unknown value; `file_rows` maps positions in `codes` to rows of the table."""
    missing = codes < 0
    if nullable and arr.null_count and missing.any():
        missing &= ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"{table}: row {pos if file_rows is None else int(file_rows[pos])}: {column} {_raw(values)[pos]!r} "
            f"is not a known {ref} "
            f"({int(missing.sum())} such rows); validate the dataset first (influence validate)"
        )


def _sorted_ids(values: Column, table: str, column: str) -> tuple[pa.Array, np.ndarray]:
    """The ids sorted (so codes order like ids) and, per input row, its code; duplicates are an error."""
    arr = arrow_text(values)
    if _is_small_text(arr) and not arr.null_count:
        return _sorted_ids_small(arr, table, column)
    order = pc.sort_indices(arr).to_numpy()
    ids = arr.take(pa.array(order))
    if len(ids) > 1:
        dup = (
            pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1)).fill_null(False).to_numpy(zero_copy_only=False)
        )
        if dup.any():
            raise ValueError(
                f"{table}: {column} {ids[int(np.flatnonzero(dup)[0])].as_py()!r} appears more than once"
            )
    codes = np.empty(len(order), np.int64)
    codes[order] = np.arange(len(order))
    return ids, codes


def _sorted_ids_small(arr: pa.Array, table: str, column: str) -> tuple[pa.Array, np.ndarray]:
    """`_sorted_ids` of a small column without nulls: Python's sort is stable like Arrow's and orders str by code
    point, which is UTF-8's byte order."""
    values = arr.to_pylist()
    order = sorted(range(len(values)), key=values.__getitem__)
    ordered = [values[i] for i in order]
    for i in range(1, len(ordered)):
        if ordered[i] == ordered[i - 1]:
            raise ValueError(f"{table}: {column} {ordered[i]!r} appears more than once")
    codes = np.empty(len(order), np.int64)
    codes[np.array(order, dtype=np.int64)] = np.arange(len(order))
    return pa.array(ordered, pa.large_string()), codes


def _dictionary_of(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (-1 for null) and the distinct values, in order of first appearance (runs of equal values,
    e.g. e-mails listed by thread, are encoded once)."""
    if _is_small(values):
        codes, distinct = _dictionary_small(values.to_pylist())
        return codes, pa.array(distinct, pa.large_string())
    runs = _runs(values)
    if runs is not None:
        starts, lengths = runs
        run_values = _flat(values.take(pa.array(starts)))
        valid = run_values.drop_null() if run_values.null_count else run_values
        n = len(valid)
        if pc.all(pc.less(valid.slice(0, n - 1), valid.slice(1))).as_py() if n > 1 else True:
            # strictly ascending runs (e.g. e-mails sorted by thread) are all distinct: nothing to hash
            codes = np.full(len(run_values), -1, np.int64)
            codes[np.asarray(run_values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)] = np.arange(n)
            return np.repeat(codes, lengths), valid
        enc = pc.dictionary_encode(run_values)
        return np.repeat(_int_codes(enc.indices), lengths), enc.dictionary
    enc = pc.dictionary_encode(_flat(values))
    return _int_codes(enc.indices), enc.dictionary


def _dictionary(values: Column) -> tuple[np.ndarray, pa.Array]:
    return _dictionary_of(_column(values))


def _normalised_codes(values: Column) -> np.ndarray:
    """`_dictionary_of` codes of the lower-cased, trimmed values, normalising only the distinct values (930k
    signal kinds: 25 ms instead of 57 ms). Codes follow the first appearance of each normalised value: the
    distinct raw values are in order of first appearance, so the first of them to normalise to a value is where
    that value first appears."""
    arr = _column(values)
    if len(arr) <= SMALL_ROWS:  # (one scoring request: one pass is cheaper than two)
        return _dictionary_of(pc.utf8_lower(pc.utf8_trim_whitespace(arr)))[0]
    raw_codes, raw = _dictionary_of(arr)
    norm_codes, _ = _dictionary_of(pc.utf8_lower(pc.utf8_trim_whitespace(raw)))
    return np.append(norm_codes, -1)[raw_codes]  # null (-1) stays -1


def _match(dictionary: pa.Array, codes: np.ndarray, pattern: str) -> np.ndarray:
    """Per row: does its (lower-cased) dictionary value contain `pattern`? Regex runs once per distinct value."""
    if len(dictionary) <= 64:  # a request's few meeting kinds repeat across requests: match them once
        hit = _matches_cached(tuple(dictionary.to_pylist()), pattern)
    else:
        hit = _matches(dictionary, pattern)
    return hit[codes]


def _matches(dictionary: pa.Array, pattern: str) -> np.ndarray:
    hit = (
        pc.match_substring_regex(pc.utf8_lower(dictionary), pattern)
        .fill_null(False)
        .to_numpy(zero_copy_only=False)
    )
    hit = np.append(np.asarray(hit, dtype=bool), False)  # code -1 (null) -> False
    hit.flags.writeable = False  # shared by the cache below
    return hit


@functools.lru_cache(maxsize=256)
def _matches_cached(values: tuple[str | None, ...], pattern: str) -> np.ndarray:
    return _matches(pa.array(values, pa.large_string()), pattern)


def _email_domains(emails: pa.Array) -> np.ndarray:
    """Per person, the lower-cased e-mail's part after its last "@" (object array; None without an "@")."""
    email = pc.utf8_lower(pc.utf8_trim_whitespace(emails))
    if _is_small_text(email):
        values = email.to_pylist()
        # RE2's "." (below) does not match a newline, so such a value keeps the regex path
        if not any(v is not None and "\n" in v for v in values):
            domains = [v.rpartition("@")[2] if v is not None and "@" in v else None for v in values]
            return np.asarray(domains, dtype=object)
    has_at = pc.match_substring(email, "@").fill_null(False)
    domain = pc.if_else(has_at, pc.replace_substring_regex(email, pattern="^.*@", replacement=""), None)
    return np.asarray(domain.to_pylist(), dtype=object)


def _department_codes(department: pa.Array, function: np.ndarray, function_known: np.ndarray) -> np.ndarray:
    """Per person, the code of the department (lower-cased, trimmed; empty = none), else of the title's function
    when that names a department, else -1; codes in order of first appearance."""
    dept = pc.utf8_lower(pc.utf8_trim_whitespace(department))
    if _is_small_text(dept):
        values = [
            d if d else (f if known else None)  # "" and None fall back to the function
            for d, f, known in zip(dept.to_pylist(), function.tolist(), function_known.tolist(), strict=True)
        ]
        return _dictionary_small(values)[0]
    dept = pc.if_else(pc.equal(dept, ""), None, dept)
    dept = pc.coalesce(dept, pa.array(np.where(function_known, function, None), pa.large_string()))
    return _dictionary_of(dept)[0]


def _domain(values: Column) -> np.ndarray:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(arrow_text(values)))
    return np.asarray(text.to_pylist(), dtype=object)


@functools.lru_cache(maxsize=1 << 16)
def _parsed_title(title: str | None) -> tuple[int, str, bool, bool, bool]:
    """(seniority, function, missing, assistant, technical) of one title, memoised: titles repeat across people
    and across scoring requests, and parsing is the costly part of a small request."""
    from influence.titles import parse_title

    t = parse_title(title)
    return (
        int(t.seniority_level),
        str(t.function),
        bool(t.is_missing),
        bool(t.is_assistant),
        bool(t.is_technical),
    )


_FUNCTION_CODE = {f: i for i, f in enumerate(TITLE_FUNCTIONS)}


def parse_title_columns(titles: pa.Array) -> dict[str, np.ndarray]:
    """Parsed title fields per row (each distinct title parsed once). `function_code` is the function's index in
    TITLE_FUNCTIONS (-1 for any other), so callers compare integers, not every row's string."""
    codes, uniques = _dictionary_of(titles)
    parsed = [_parsed_title(t) for t in uniques.to_pylist()] + [_parsed_title(None)]  # code -1 -> missing
    fields = list(zip(*parsed, strict=True))
    codes = np.where(codes < 0, len(parsed) - 1, codes)
    return {
        "seniority": np.asarray(fields[0], dtype=np.int8)[codes],
        "function": np.asarray(fields[1], dtype=object)[codes],
        "function_code": np.array([_FUNCTION_CODE.get(f, -1) for f in fields[1]], dtype=np.int8)[codes],
        "missing": np.asarray(fields[2], dtype=bool)[codes],
        "assistant": np.asarray(fields[3], dtype=bool)[codes],
        "technical": np.asarray(fields[4], dtype=bool)[codes],
    }


# With n_jobs >= 2 and from this many event rows (attendees, e-mails, recipients, signals) on, the big string
# lookups (person references, recipients' message ids, replies: about half of the work) run in a second thread
# while the rest is prepared (Arrow's hash kernels and numpy's loops release the GIL). That only pays with a
# second core free: on the shared 2-core development machine it never did (8.8M rows: 2.78 s against 2.69 s in
# one thread, +0.5 s CPU, load ~2), so it is opt-in; the features bench reports both ways side by side
# (`prepare_threads`). Below the threshold a thread costs more than it saves (one scoring request: ~500 rows).
PARALLEL_MIN_ROWS = 100_000

_T = TypeVar("_T")


class _Step(Generic[_T]):
    """A step started in `pool` (or at once, in this thread, without a pool) whose result or error is handed over
    by `get`, at the point where it would have run in sequence, so errors come in the same order either way."""

    def __init__(self, pool: ThreadPoolExecutor | None, fn: Callable[..., _T], *args: Any) -> None:
        self._future: Future[_T] | None = None
        self._error: BaseException | None = None
        if pool is not None:
            self._future = pool.submit(fn, *args)
            return
        try:
            self._result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - re-raised by get(), in sequence
            self._error = exc

    def get(self) -> _T:
        if self._future is not None:
            return self._future.result()
        if self._error is not None:
            raise self._error
        return self._result


def prepare(ds: Dataset, as_of: pd.Timestamp | None, n_jobs: int | None = None) -> Prepared:
    """Code ids, drop everything at/after `as_of`, and resolve meetings/e-mails to deals and people.

    n_jobs: 2 or more runs part of the work in a second thread for large inputs (inputs under PARALLEL_MIN_ROWS
    event rows, such as one scoring request, always run in the calling thread); default 1 (see
    PARALLEL_MIN_ROWS for why). The result is the same for any value."""
    rows = sum(len(t) for t in (ds.meeting_attendees, ds.emails, ds.email_recipients, ds.signals))
    workers = 1 if rows < PARALLEL_MIN_ROWS else max(1, n_jobs or 1)
    if workers <= 1:
        return _prepare(ds, as_of, None)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influence-prepare")
    try:
        return _prepare(ds, as_of, pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _prepare(ds: Dataset, as_of: pd.Timestamp | None, pool: ThreadPoolExecutor | None) -> Prepared:
    as_of_ns = None if as_of is None else int(as_of.value)

    # --- people: computed in file order (so errors name the right row), then put in person-code order --------
    people, accounts, deals = _Columns(ds.people), _Columns(ds.accounts), _Columns(ds.deals)
    meetings, att = _Columns(ds.meetings), _Columns(ds.meeting_attendees)
    emails, rec, sig = _Columns(ds.emails), _Columns(ds.email_recipients), _Columns(ds.signals)
    person_ids, person_code = _sorted_ids(people["person_id"], "people", "person_id")
    n_people = len(person_ids)
    by_code = np.empty(n_people, np.int64)
    by_code[person_code] = np.arange(n_people)
    side = _vocabulary_codes(arrow_text(people["side"]), tuple(SIDES)).astype(np.int8)
    if (side < 0).any():
        pos = int(np.flatnonzero(side < 0)[0])
        raise ValueError(f"people: row {pos}: side {people['side'][pos]!r} is not one of {SIDES}")

    # The background thread (if any) takes the person references, the recipients' message ids and the replies,
    # in that order; columns are read here, so only Arrow and numpy work runs there.
    person_refs_step = _Step(
        pool,
        _References,
        person_ids,
        {
            "meetings.organizer_id": meetings["organizer_id"],
            "meeting_attendees.person_id": att["person_id"],
            "emails.sender_id": emails["sender_id"],
            "email_recipients.person_id": rec["person_id"],
            "signals.person_id": sig["person_id"],
        },
    )
    links_step = _Step(pool, _email_links, emails["message_id"], emails["in_reply_to"], rec["message_id"])
    account_ids = arrow_text(accounts["account_id"])
    account_refs = _References(
        account_ids, {"people.account_id": people["account_id"], "deals.account_id": deals["account_id"]}
    )
    person_account = account_refs.get("people.account_id", "account_id", True)
    email_domain = _email_domains(arrow_text(people["email"]))

    title = parse_title_columns(arrow_text(people["title"]))
    fn = title["function"]
    # by function code (a Python loop over 214k people's strings took 56 ms; np.isin sorts objects)
    fn_known = _KNOWN_BY_CODE[title["function_code"]]
    dept_codes = _department_codes(arrow_text(people["department"]), fn, fn_known)
    title = {k: v[by_code] for k, v in title.items()}

    # --- deals (only what existed before as_of; codes follow the sorted deal_id) ------------------------------
    deal_ids_all, deal_code_all = _sorted_ids(deals["deal_id"], "deals", "deal_id")
    deal_created_all = to_ns(deals["created_at"])
    keep_deal = np.ones(len(deals), bool) if as_of_ns is None else deal_created_all < as_of_ns
    # sorted position -> kept code (-1 for deals that did not exist yet at as_of)
    kept_sorted = np.zeros(len(deals), bool)
    kept_sorted[deal_code_all[keep_deal]] = True
    sorted_to_kept = np.where(kept_sorted, np.cumsum(kept_sorted) - 1, -1)
    kept_rows = np.empty(int(keep_deal.sum()), np.int64)
    kept_rows[sorted_to_kept[deal_code_all[keep_deal]]] = np.flatnonzero(keep_deal)
    deal_ids = deal_ids_all if kept_sorted.all() else deal_ids_all.filter(pa.array(kept_sorted))
    # only deals that existed at as_of need a known account
    deal_account = account_refs.get("deals.account_id", "account_id", False, rows=kept_rows)
    deal_created = deal_created_all[kept_rows]

    deal_refs = _References(
        deal_ids_all, {"meetings.deal_id": meetings["deal_id"], "emails.deal_id": emails["deal_id"]}
    )

    def deal_codes(table: str) -> np.ndarray:
        return sorted_to_kept[deal_refs.get(f"{table}.deal_id", "deal_id", False)]

    def before(times: np.ndarray) -> np.ndarray:
        return np.ones(len(times), bool) if as_of_ns is None else times < as_of_ns

    # --- meetings -------------------------------------------------------------------------------------------
    m_deal = deal_codes("meetings")
    m_time = to_ns(meetings["start_at"])
    m_keep = (m_deal >= 0) & before(m_time)
    meeting_ids = arrow_text(meetings["meeting_id"])
    person_refs = person_refs_step.get()
    m_org = person_refs.get("meetings.organizer_id", "person_id", True)
    kind_codes, kinds = _dictionary(meetings["kind"])
    m_tech = _match(kinds, kind_codes, TECHNICAL_KIND_PATTERN)
    m_exec = _match(kinds, kind_codes, EXECUTIVE_KIND_PATTERN)
    m_new = np.full(len(meetings), -1, np.int64)
    m_new[m_keep] = np.arange(int(m_keep.sum()))

    a_mtg = m_new[
        _lookup(meeting_ids, att["meeting_id"], "meeting_attendees", "meeting_id", "meeting_id", False)
    ]
    a_person = person_refs.get("meeting_attendees.person_id", "person_id", False)
    a_resp = _vocabulary_codes(_column(att["response"]), tuple(RESPONSES)).astype(np.int8)
    attended = att["attended"]
    a_known = ~np.asarray(pd.isna(attended), dtype=bool)
    if not isinstance(attended, pd.arrays.BooleanArray):
        attended = pd.array(attended, dtype="boolean")
    a_flag = attended.to_numpy(dtype=bool, na_value=False)
    a_keep = a_mtg >= 0
    a_mtg, a_person, a_resp = a_mtg[a_keep], a_person[a_keep], a_resp[a_keep]
    a_known, a_flag = a_known[a_keep], a_flag[a_keep]

    o_mtg = m_new[m_keep]
    o_person = m_org[m_keep]
    has_org = o_person >= 0
    o_mtg, o_person = o_mtg[has_org], o_person[has_org]
    # A kept meeting row has one organiser at most, so array lookups by meeting code replace searching
    # (meeting, person) keys (0.25 s for 1.2M attendees).
    n_mtg = int(m_keep.sum())
    organiser_of = np.full(n_mtg, -1, np.int64)
    organiser_of[o_mtg] = o_person
    org_invited = organiser_of[a_mtg] == a_person
    organiser_invited = np.zeros(n_mtg, bool)
    organiser_invited[a_mtg[org_invited]] = True
    org_missing = ~organiser_invited[o_mtg]
    # Attendance when not recorded: an accepted invitation, or being the organiser.
    a_att = np.where(a_known, a_flag, (a_resp == RESPONSES.index("accepted")) | org_invited)
    part_mtg = np.concatenate([a_mtg, o_mtg[org_missing]])
    part_person = np.concatenate([a_person, o_person[org_missing]])
    part_response = np.concatenate([a_resp, np.full(int(org_missing.sum()), -1, np.int8)])
    part_attended = np.concatenate([a_att, np.ones(int(org_missing.sum()), bool)])
    part_organiser = np.concatenate([org_invited, np.ones(int(org_missing.sum()), bool)])

    # --- e-mails --------------------------------------------------------------------------------------------
    e_deal = deal_codes("emails")
    e_time = to_ns(emails["sent_at"])
    e_keep = (e_deal >= 0) & before(e_time)
    e_sender = person_refs.get("emails.sender_id", "person_id", False)
    e_new = np.full(len(emails), -1, np.int64)
    e_new[e_keep] = np.arange(int(e_keep.sum()))
    rec_message, parent_all = links_step.get()
    r_msg = e_new[rec_message]
    parent = np.where(parent_all >= 0, e_new[np.maximum(parent_all, 0)], -1)
    thread_codes, threads = _dictionary(emails["thread_id"])
    # a message without a thread id is a thread of its own
    no_thread = thread_codes < 0
    thread_codes[no_thread] = len(threads) + np.arange(int(no_thread.sum()))
    r_person = person_refs.get("email_recipients.person_id", "person_id", False)
    r_kind = _vocabulary_codes(_column(rec["kind"]), tuple(RECIPIENT_KINDS)).astype(np.int8)
    msg_sender = e_sender[e_keep]
    r_keep = r_msg >= 0
    if r_keep.all():  # every e-mail kept (no as_of): no masking copies
        r_keep = msg_sender[r_msg] != r_person
    else:
        r_keep[r_keep] &= msg_sender[r_msg[r_keep]] != r_person[r_keep]

    # --- signals --------------------------------------------------------------------------------------------
    s_person = person_refs.get("signals.person_id", "person_id", False)
    s_time = to_ns(sig["occurred_at"])
    s_keep = before(s_time)
    s_kind = _normalised_codes(sig["kind"])

    # --- observation end per deal: the last event seen (before as_of), else creation --------------------------
    msg_deal = e_deal[e_keep]
    msg_time = e_time[e_keep]
    mtg_deal = m_deal[m_keep]
    mtg_time = m_time[m_keep]
    obs_end = deal_created.copy()
    if len(kept_rows):
        last = np.full(len(kept_rows), NO_TIME, np.int64)
        np.maximum.at(last, mtg_deal, mtg_time)
        np.maximum.at(last, msg_deal, msg_time)
        obs_end = np.where(last == NO_TIME, deal_created, last)

    return Prepared(
        as_of_ns=as_of_ns,
        person_ids=person_ids,
        person_side=side[by_code],
        person_account=person_account[by_code],
        person_email_domain=email_domain[by_code],
        person_dept=dept_codes[by_code],
        person_seniority=title["seniority"],
        title=title,
        account_ids=account_ids,
        account_domain=_domain(accounts["domain"]),
        deal_ids=deal_ids,
        deal_account=deal_account,
        deal_created=deal_created,
        deal_obs_end=obs_end,
        mtg_deal=mtg_deal,
        mtg_time=mtg_time,
        mtg_technical=m_tech[m_keep],
        mtg_executive=m_exec[m_keep],
        part_mtg=part_mtg,
        part_person=part_person,
        part_response=part_response,
        part_attended=part_attended,
        part_organiser=part_organiser,
        msg_deal=msg_deal,
        msg_time=msg_time,
        msg_sender=msg_sender,
        msg_thread=thread_codes[e_keep].astype(np.int64),
        msg_parent=parent[e_keep],
        rec_msg=r_msg[r_keep],
        rec_person=r_person[r_keep],
        rec_kind=r_kind[r_keep],
        sig_person=s_person if s_keep.all() else s_person[s_keep],  # (codes made here: no copy needed)
        sig_time=s_time[s_keep],
        sig_kind=s_kind if s_keep.all() else s_kind[s_keep],
    )
