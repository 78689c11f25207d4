"""Loading and validating deal-history datasets against the contract in `influence.contract`.

A dataset is a folder holding one file per table, `<table>.parquet` or `<table>.csv`. Validation never drops a
row silently: every row read is either accepted or rejected with its reasons (rows in = accepted + rejected), and
every problem names its table, file, row and column.

Row numbers are 1-based data-row numbers for files (the header is not counted, and a quoted newline inside a CSV
field does not shift later rows), so row 1 is the first record. In-memory frames (`validate_frames`, used for
API bodies) are numbered from `row_base`, 0 by default, matching JSON list indices.

The checks run table by table in `TABLE_ORDER` (parents before children), so a reference can be checked against
the parent's accepted rows and a child of a rejected parent is rejected too, saying so.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from influence.contract import PANDAS_DTYPES, PARTICIPANT_SOURCE, TABLE_ORDER, TABLES, Column, Dataset, Table

__all__ = [
    "Problem",
    "TableCounts",
    "ValidationReport",
    "DatasetError",
    "format_problem",
    "load",
    "load_with_report",
    "validate",
    "validate_frames",
    "frame_of_columns",
    "TypedColumns",
    "contract_markdown",
    "render_contract_doc",
]

FILE_ROW_BASE = 1
FORMATS = ("parquet", "csv")
_PROBLEM_COLUMNS = ["table", "file", "row", "column", "message", "severity"]
_REJECT_COLUMNS = ["table", "file", "row", "reasons", "record"]
# A timestamp string is tz-aware when it ends in Z or a numeric offset (+02:00, +0200, +02).
_TZ_SUFFIX = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_TRUE = ("true", "t", "yes", "y", "1", "1.0")
_FALSE = ("false", "f", "no", "n", "0", "0.0")
_MISSING = "-"
# How undecodable bytes show up when text is read with errors="surrogateescape".
_SURROGATE = re.compile("[\udc80-\udcff]")
# Tables up to this many rows (API bodies) take the small-input route of a check: the same rule on numpy arrays,
# Python dicts and sets, where each pandas/Arrow call's fixed overhead (tens of microseconds) would otherwise
# dominate. Larger tables take the vectorised route. tests/data/test_validate_small.py runs both routes on the
# same bad inputs and requires identical reports.
SMALL_TABLE_ROWS = 2_000


@dataclass(frozen=True)
class Problem:
    """One finding. `row`/`column` are None when the problem concerns a whole file or table."""

    table: str
    file: str
    row: int | None
    column: str | None
    message: str
    severity: str = "error"

    def format(self) -> str:
        """`table file:row:column: message`; a missing row or column is shown as `-`."""
        row = _MISSING if self.row is None else str(self.row)
        column = self.column or _MISSING
        return f"{self.table} {self.file}:{row}:{column}: {self.message}"


def _problem(r: Any) -> Problem:
    """A `Problem` from one row of a problems frame (pandas turns None into NaN there)."""
    column = None if pd.isna(r.column) else str(r.column)
    return Problem(r.table, r.file, None if pd.isna(r.row) else int(r.row), column, r.message, r.severity)


def format_problem(problem: Problem) -> str:
    """`table file:row:column: message`, e.g. `email_recipients email_recipients.csv:2001:person_id: ...`."""
    return problem.format()


@dataclass(frozen=True)
class TableCounts:
    read: int
    accepted: int
    rejected: int


@dataclass
class ValidationReport:
    """Everything validation found.

    `problems_frame` has one row per problem (columns table, file, row, column, message, severity) and scales to
    millions of findings; `problems` materialises it as `Problem` objects. `rejected` has one row per rejected
    record: table, file, row, reasons (joined with "; ") and record (the original row as JSON).
    """

    problems_frame: pd.DataFrame
    counts: dict[str, TableCounts]
    rejected: pd.DataFrame
    files: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> list[Problem]:
        return [_problem(r) for r in self.problems_frame.itertuples(index=False)]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def n_errors(self) -> int:
        return int((self.problems_frame["severity"] == "error").sum())

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return self.n_errors == 0

    def format_problems(self, limit: int | None = None) -> list[str]:
        """The first `limit` problems (all when None), formatted."""
        frame = self.problems_frame if limit is None else self.problems_frame.head(limit)
        return [format_problem(_problem(r)) for r in frame.itertuples(index=False)]

    def summary(self) -> pd.DataFrame:
        """One row per contract table: file, read, accepted, rejected."""
        rows = [
            {"table": t, "file": self.files.get(t, ""), **vars(self.counts[t])}
            for t in TABLE_ORDER
            if t in self.counts
        ]
        return pd.DataFrame(rows, columns=["table", "file", "read", "accepted", "rejected"])


class DatasetError(ValueError):
    """A dataset could not be loaded; `report` (when there is one) holds every problem."""

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


# ---------------------------------------------------------------------------------------------------------------
# Per-table state while validating


@dataclass
class _TableRun:
    name: str
    file: str
    raw: pd.DataFrame  # the rows as read, positional index 0..n-1 (kept for rejected records)
    typed: pd.DataFrame | None = None
    rejected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    issues: list[pd.DataFrame] = field(default_factory=list)
    file_rejected: bool = False
    key_sets: dict[str, Any] = field(default_factory=dict)  # accepted values per referenced column
    # Lookups into this (parent) table's accepted rows, built once per parent and read by every chunk of a batch
    # job (influence.chunks validates each chunk's event rows against the same parent runs).
    lookups: dict[str, Any] = field(default_factory=dict)
    n_rows: int = -1  # rows read; set when `raw` is cut down to the rejected rows (`compact`)
    # The typed contract columns as built, as arrays (extension arrays or numpy): on an API body a Series per
    # column costs as much as the checks themselves, so the checks read these and a Series (`col`) is only built
    # where a check needs pandas (the vectorised route of large tables, messages about bad rows).
    arrays: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, pd.Series] = field(default_factory=dict)  # the Series built by `col`, once each
    # Per column of a small table, computed once and read by several checks: null masks and values as Python
    # objects (None for nulls). Per Arrow value set of accepted keys (by identity), the same keys as a Python set.
    null_masks: dict[str, np.ndarray] = field(default_factory=dict)
    object_values: dict[str, np.ndarray] = field(default_factory=dict)
    key_pysets: dict[int, tuple[Any, set[Any]]] = field(default_factory=dict)
    # Per column of a small parent table: its accepted, non-null keys as a Python set (`_isin_parent`).
    small_key_sets: dict[str, set[Any]] = field(default_factory=dict)
    # File row number of each position when the rows are a chunk of a file (influence.chunks); None: row_base + pos.
    row_numbers: np.ndarray | None = None
    # The columns `raw` was built from when the caller handed them over as `TypedColumns`: read as they are (the
    # frame's own columns would cost a lookup each), and `raw`, built by the validator, is nobody else's frame.
    given: dict[str, Any] | None = None

    def row_of(self, pos: np.ndarray, row_base: int) -> np.ndarray:
        """Row numbers of positions (`row_base` + position, or the file's own rows for a chunk)."""
        pos = np.asarray(pos, dtype=np.int64)
        return pos + row_base if self.row_numbers is None else self.row_numbers[pos]

    def col(self, name: str) -> pd.Series:
        """A typed contract column as a Series (positional index)."""
        series = self.columns.get(name)
        if series is None:
            values = self.arrays[name]
            series = self.columns[name] = pd.Series(values, index=pd.RangeIndex(len(values)), copy=False)
        return series

    def arr(self, name: str) -> Any:
        """A typed contract column as an array."""
        return self.arrays[name]

    def nulls(self, name: str) -> np.ndarray:
        """Null mask of a typed contract column (read-only: shared by the checks)."""
        mask = self.null_masks.get(name)
        if mask is None:
            mask = _nulls(self.arrays[name])
            if len(mask) <= SMALL_TABLE_ROWS:  # a large table's masks are not held for the whole job
                self.null_masks[name] = mask
        return mask

    def objects(self, name: str) -> np.ndarray:
        """A typed contract column as Python objects, None for nulls (read-only: shared by the checks)."""
        values = self.object_values.get(name)
        if values is None:
            values = _objects(self.arrays[name])
            if len(values) <= SMALL_TABLE_ROWS:
                self.object_values[name] = values
        return values

    @property
    def n(self) -> int:
        return len(self.raw) if self.n_rows < 0 else self.n_rows

    def compact(self) -> None:
        """Keep only the rejected rows of `raw` (the report quotes them): once a table is checked, the rows as
        read are not needed again, and holding every table twice is what made large folders peak high."""
        if self.n_rows < 0 and len(self.rejected) == len(self.raw):
            self.n_rows = len(self.raw)
            pos = np.flatnonzero(self.rejected)
            self.raw = self.raw.iloc[pos] if len(pos) else pd.DataFrame()

    def add(self, positions: Any, column: str | None, messages: Any, severity: str = "error") -> None:
        """Record problems at `positions` (array of row positions, or -1 for the whole file)."""
        pos = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        if len(pos) == 0:
            return
        msgs = messages if isinstance(messages, str) else list(messages)
        self.issues.append(
            pd.DataFrame({"pos": pos, "column": column, "message": msgs, "severity": severity})
        )
        if severity == "error":
            if (pos < 0).any():
                self.rejected[:] = True
                self.file_rejected = True
            else:
                self.rejected[pos] = True

    def reject_file(self, column: str | None, message: str) -> None:
        self.add([-1], column, [message])


# ---------------------------------------------------------------------------------------------------------------
# Reading files


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        return next(csv.reader(fh), [])


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[tuple[int, str | None, str]]]:
    """All columns as text (empty field = null), plus (position, column, message) for rows that cannot be
    trusted: cells with bytes that are not UTF-8 (decoded with replacement characters) and records whose field
    count differs from the header's."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    header = _csv_header(path)
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise DatasetError(f"duplicate column names in the header: {', '.join(dupes)}")
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True, null_values=[""]
            ),
        )
        return table.to_pandas(), []
    except pa.ArrowInvalid:
        # Arrow says neither which record nor which field is at fault: re-read record by record to say so.
        return _read_csv_slowly(path, header)


def _read_csv_slowly(path: Path, header: list[str]) -> tuple[pd.DataFrame, list[tuple[int, str | None, str]]]:
    """Python's csv reader, only for files Arrow rejects (bad bytes, ragged records); same row numbering."""
    bad: list[tuple[int, str | None, str]] = []
    records: list[list[str | None]] = []
    width = len(header)
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for pos, fields in enumerate(reader):
            if len(fields) != width:
                bad.append((pos, None, f"has {len(fields)} fields but the header has {width}"))
                fields = (fields + [""] * width)[:width]
            row: list[str | None] = []
            for name, cell in zip(header, fields, strict=True):
                if _SURROGATE.search(cell):
                    raw = cell.encode("utf-8", errors="surrogateescape")
                    bad.append((pos, name, f"holds bytes that are not UTF-8: {raw!r}"))
                    cell = raw.decode("utf-8", errors="replace")
                row.append(cell or None)
            records.append(row)
    frame = pd.DataFrame(records, columns=header, dtype=object)
    return frame.astype("str"), bad


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise DatasetError(f"cannot be read as Parquet: {exc}") from exc
    return table.to_pandas()


def _discover(folder: Path) -> tuple[dict[str, Path], list[Problem]]:
    if not folder.exists():
        raise DatasetError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: not a folder (a dataset is a folder of <table>.csv or <table>.parquet files)"
        )
    found: dict[str, list[Path]] = {}
    notes: list[Problem] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower().lstrip(".") not in FORMATS:
            continue
        if p.stem in TABLES and p.suffix in (".csv", ".parquet"):
            found.setdefault(p.stem, []).append(p)
        else:
            notes.append(Problem(p.stem, p.name, None, None, "not a contract table; ignored", "warning"))
    if not found:
        expected = ", ".join(f"{t}.csv" for t in TABLE_ORDER)
        raise DatasetError(
            f"{folder}: holds no dataset tables (expected files such as {expected}, or .parquet)"
        )
    chosen: dict[str, Path] = {}
    for name, paths in found.items():
        if len(paths) > 1:
            names = " and ".join(p.name for p in paths)
            notes.append(
                Problem(name, names, None, None, "the table is present in two formats; keep exactly one file")
            )
        else:
            chosen[name] = paths[0]
    return chosen, notes


# ---------------------------------------------------------------------------------------------------------------
# Column parsing: any input representation -> canonical dtype, with a message per value that does not parse


def _as_text(values: pd.Series) -> pd.Series:
    """Text view of a column; nulls and empty strings become NA."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        # pandas' default `str` (NaN as missing) and `string` (NA) share the Arrow storage: rewrap, no copy.
        arrow = _arrow_chunks(values)
        text = values if dtype.na_value is pd.NA else None
        if text is None:
            text = pd.Series(pd.arrays.ArrowStringArray(arrow), index=values.index, copy=False)
    elif pd.api.types.is_object_dtype(dtype):
        # Arrow's conversion of Python strings costs a fraction of astype("string") (each pandas call is
        # ~100 us, which is what an API body of a few hundred rows pays per column).
        try:
            arrow = pa.chunked_array([pa.array(values.to_numpy(), type=pa.string(), from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrow = None  # mixed types (numbers in a text column): let pandas stringify them
        text = None
        if arrow is not None:
            text = pd.Series(pd.arrays.ArrowStringArray(arrow), index=values.index, copy=False)
    else:
        text = None
    if text is None:
        text = values.astype("string")
        if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
            empty = (text == "").to_numpy(dtype=bool, na_value=False)
            return text.mask(empty) if empty.any() else text
        arrow = _arrow_chunks(text)
    # Small: the same question on Python strings (two Arrow compute calls cost ~60 us whatever the length).
    if len(arrow) <= SMALL_TABLE_ROWS and "" not in arrow.to_pylist():
        return text
    empty = pc.equal(arrow, "")
    if not pc.any(empty).as_py():
        return text
    cleaned = pc.if_else(empty, pa.scalar(None, pa.string()), arrow)
    return pd.Series(pd.arrays.ArrowStringArray(cleaned), index=values.index, copy=False)


def _arrow_chunks(values: pd.Series) -> Any:
    """The Arrow data behind an Arrow-backed Series (no copy), as a ChunkedArray."""
    import pyarrow as pa

    array = pa.array(values.array)  # the `__arrow_array__` protocol hands over the stored chunks
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _nulls(values: pd.Series | Any) -> np.ndarray:
    """Boolean null mask of a Series or array, from the array itself: `Series.isna` wraps it in a new Series
    (~50 us per call, which an API body pays for every column check; the array's own mask costs ~2 us)."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, np.ndarray):
        return np.asarray(pd.isna(array), dtype=bool)
    return np.asarray(array.isna(), dtype=bool)


def _objects(values: pd.Series | Any) -> np.ndarray:
    """Values of a Series or extension array as a numpy object array, None for nulls."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, pd.arrays.ArrowStringArray):
        import pyarrow as pa

        # Arrow's own conversion: the same str/None values, ~3 us for a 100-row column where pandas'
        # to_numpy(dtype=object, na_value=None) takes ~7 us, and ~100 us once the column holds a null. The stored
        # ChunkedArray is read directly where pandas exposes it (pa.array() goes through the protocol first).
        stored = getattr(array, "_pa_array", None)
        if isinstance(stored, pa.ChunkedArray):
            return stored.to_numpy()
        return pa.array(array).to_numpy(zero_copy_only=False)
    return values.to_numpy(dtype=object, na_value=None)


def _arrow_string_array(values: Any, dtype: pd.StringDtype | None = None) -> Any:
    """Python values (a list or object array of str and None) as an Arrow-backed string array, without pandas'
    inference (`pd.array(values, dtype="string")` costs about three times as much, and the API builds ~60 such
    columns per deal). Returns None when pandas stores strings otherwise (Python storage) or a value is not str /
    None (NaN, a number): the caller then takes its own general route. `dtype`: the string dtype to carry
    (default: pandas' own "string" dtype, what `pd.array(..., dtype="string")` gives)."""
    import pyarrow as pa

    template = _string_template()
    if template is None or (dtype is not None and dtype != template.dtype):
        return None
    try:
        arrow = pa.array(values, type=pa.large_string())
    except (pa.ArrowException, TypeError, ValueError):
        return None
    # The constructor pandas itself uses for Arrow results (private, hence the fallback): the public one checks
    # the type, and builds a new dtype, on every call.
    build = getattr(template, "_from_pyarrow_array", None)
    return build(arrow) if build is not None else pd.arrays.ArrowStringArray(arrow)


def _string_array(values: Any) -> Any:
    """`pd.array(values, dtype="string")` of Python values (str / None), built from Arrow directly at a third of
    the cost (`_arrow_string_array`); any other value (NaN, a number) goes through pandas' own conversion, as does
    a pandas set to store strings in Python objects."""
    strings = _arrow_string_array(values)
    return pd.array(values, dtype="string") if strings is None else strings


@functools.cache
def _string_template() -> Any:
    """An empty array of pandas' "string" dtype when it is Arrow-backed with NA (pandas' default when pyarrow is
    installed), else None."""
    import pyarrow as pa

    dtype = pd.api.types.pandas_dtype("string")
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow" and dtype.na_value is pd.NA):
        return None
    template = pd.arrays.ArrowStringArray(pa.array([], type=pa.large_string()))
    return template if template.dtype == dtype else None


def _array(values: pd.Series) -> Any:
    """The data of a Series as `_TableRun.arrays` holds it: the extension array, or the numpy array."""
    return values.array if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) else values.to_numpy()


def _column_arrays(frame: pd.DataFrame, names: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """{name: array} of a frame with unique column names, without a Series per column (~15-30 us each with
    pandas 3, which an API body of 43 columns paid on every request); through pandas' own column iterator where
    it has one (private, hence the public fallback). `names`: the frame's column names when known already."""
    columns = getattr(frame, "_iter_column_arrays", None)
    if columns is None:
        return {name: _array(values) for name, values in frame.items()}
    return dict(zip(_column_names(frame.columns) if names is None else names, columns(), strict=True))


# Column labels as a tuple, by identity of the (immutable) Index: reading pandas 3's Arrow-backed labels out of an
# Index costs ~1 us per label, and an API body's frames share one cached Index per table (`frame_of_columns`).
# Each entry holds its Index, so an id is not reused while cached; bounded, as files bring a new Index each.
_COLUMN_NAMES: dict[int, tuple[pd.Index, tuple[Any, ...]]] = {}
_COLUMN_NAMES_MAX = 256


def _column_names(index: pd.Index) -> tuple[Any, ...]:
    """The labels of a column Index as a tuple (what `list(index)` holds)."""
    cached = _COLUMN_NAMES.get(id(index))
    if cached is not None and cached[0] is index:
        return cached[1]
    names = tuple(index.tolist())
    if len(_COLUMN_NAMES) >= _COLUMN_NAMES_MAX:
        _COLUMN_NAMES.clear()
    _COLUMN_NAMES[id(index)] = (index, names)
    return names


def _canonical_text(values: Any, col: Column, run: _TableRun) -> bool:
    """True when a small text column is already what `_as_text` would return (Arrow strings with NA and no empty
    string): then it needs no parsing, and its Python values (computed here anyway) are kept for the checks."""
    dtype = getattr(values, "dtype", None)
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow" and dtype.na_value is pd.NA):
        return False
    objects = _objects(values)
    if "" in objects.tolist():
        return False
    run.object_values[col.name] = objects
    return True


def _canonical(values: Any, col: Column, run: _TableRun, small: bool) -> bool:
    """True when `_parse_column` would hand this column back unchanged (the API's typed frames)."""
    dtype = getattr(values, "dtype", None)
    if col.dtype == "string":
        return small and _canonical_text(values, col, run)
    if col.dtype == "float":
        return isinstance(values, np.ndarray) and dtype == np.float64
    if col.dtype == "bool":
        return isinstance(dtype, pd.BooleanDtype)
    if col.dtype == "timestamp":
        return isinstance(dtype, pd.DatetimeTZDtype) and dtype == PANDAS_DTYPES["timestamp"]
    return False


@functools.cache
def _column_index(names: tuple[str, ...]) -> pd.Index:
    return pd.Index(names)


def frame_of_columns(columns: Mapping[str, Any], n: int) -> pd.DataFrame:
    """A frame of `n` rows from ready 1-D arrays (numpy or pandas extension arrays of length `n`), no copy.

    What `pd.DataFrame(columns, index=pd.RangeIndex(n), copy=False)` builds, at a fraction of its fixed cost:
    pandas 3 infers the dtype of the column labels on every call (~0.1 ms, as much as the columns themselves on an
    API body), so the labels are built once per set of names; the arrays are taken as they are."""
    names = tuple(columns)
    build = getattr(pd.DataFrame, "_from_arrays", None)
    if build is None or not names or len(set(names)) != len(names):  # the public constructor's own cases
        return pd.DataFrame(columns, index=pd.RangeIndex(n), copy=False)
    arrays = list(columns.values())
    if any(getattr(a, "ndim", 0) != 1 or len(a) != n for a in arrays):
        raise ValueError(f"frame_of_columns: every column must be a 1-D array of length {n}")
    return build(arrays, columns=_column_index(names), index=pd.RangeIndex(n), verify_integrity=False)


@dataclass(frozen=True)
class TypedColumns:
    """One table handed to `validate_frames` as ready columns rather than a frame: 1-D arrays of length `n` (what
    `frame_of_columns` takes), meant to be in the contract's canonical dtypes (anything else is parsed as a frame's
    column would be). The validator builds the table's frame from them once and reads the arrays as given, where a
    frame handed in is read back column by column and copied (~60 us a table; the API validates eight per request).
    The arrays are not copied: the dataset shares them."""

    columns: Mapping[str, Any]
    n: int

    def frame(self) -> pd.DataFrame:
        """The table as a frame (`frame_of_columns`)."""
        return frame_of_columns(self.columns, self.n)


def _quote(values: pd.Series) -> list[str]:
    return [repr(str(v)) for v in values]


def _parse_column(values: pd.Series, col: Column, run: _TableRun) -> pd.Series:
    """Cast one column to its canonical dtype; values that do not parse become NA and are reported."""
    kind = col.dtype
    dtype = values.dtype
    if kind == "string":
        return _as_text(values)
    if kind in ("int", "float"):
        if isinstance(dtype, np.dtype) and dtype == np.float64:
            number = original = values  # what JSON bodies hold: astype would return the same values
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            number = values.astype("float64")
            original = values
        else:
            original = _as_text(values).str.strip()
            number = pd.to_numeric(original, errors="coerce").astype("float64")
            failed = original.notna().to_numpy() & number.isna().to_numpy()
            if failed.any():
                pos = np.flatnonzero(failed)
                run.add(pos, col.name, [f"{v} is not a number" for v in _quote(original.iloc[pos])])
        if kind == "float":
            return number
        floats = number.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):  # inf % 1 is NaN, so inf is not a whole number (as with pandas)
            fractional = ~np.isnan(floats) & (floats % 1 != 0)
        if fractional.any():
            pos = np.flatnonzero(fractional)
            run.add(pos, col.name, [f"{v} is not a whole number" for v in _quote(original.iloc[pos])])
            number = number.mask(fractional)
        return number.astype("Int64")
    if kind == "bool":
        if isinstance(dtype, pd.BooleanDtype):
            return values  # already canonical (what the API hands over): astype would copy the same values
        if pd.api.types.is_bool_dtype(dtype):
            return values.astype("boolean")
        text = _as_text(values).str.strip().str.lower()
        out = pd.Series(pd.NA, index=values.index, dtype="boolean")
        out[text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
        out[text.isin(_FALSE).fillna(False).to_numpy(dtype=bool)] = False
        failed = text.notna().to_numpy() & out.isna().to_numpy()
        if failed.any():
            pos = np.flatnonzero(failed)
            run.add(pos, col.name, [f"{v} is not true or false" for v in _quote(values.iloc[pos])])
        return out
    # timestamp
    if isinstance(dtype, pd.DatetimeTZDtype) and dtype == PANDAS_DTYPES["timestamp"]:
        return values  # already UTC in the canonical unit: converting would return the same values
    if isinstance(dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(PANDAS_DTYPES["timestamp"])
    if pd.api.types.is_datetime64_dtype(dtype):
        run.reject_file(
            col.name,
            f"holds timestamps without a time zone ({dtype}); store them tz-aware (UTC), e.g. timestamp[us, tz=UTC]",
        )
        return pd.Series(pd.NaT, index=values.index, dtype=PANDAS_DTYPES["timestamp"])
    text = _as_text(values).str.strip()
    has_tz = text.str.contains(_TZ_SUFFIX, regex=True)
    naive = (text.notna() & ~has_tz.fillna(False)).to_numpy(dtype=bool)
    stamps = pd.to_datetime(text.mask(naive), utc=True, format="ISO8601", errors="coerce")
    if naive.any():
        # Only values that are timestamps at all are called naive; the rest are reported as unparseable below.
        parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        naive[np.flatnonzero(naive)[parsed.isna().to_numpy()]] = False
    if naive.any():
        pos = np.flatnonzero(naive)
        run.add(
            pos,
            col.name,
            [
                f"naive timestamp {v} has no UTC offset (write e.g. 2024-05-01T09:30:00Z)"
                for v in _quote(text.iloc[pos])
            ],
        )
    failed = text.notna().to_numpy() & ~naive & stamps.isna().to_numpy()
    if failed.any():
        pos = np.flatnonzero(failed)
        run.add(pos, col.name, [f"{v} is not an ISO 8601 timestamp" for v in _quote(text.iloc[pos])])
    return stamps.astype(PANDAS_DTYPES["timestamp"])


# ---------------------------------------------------------------------------------------------------------------
# Per-column rules (nullability, domains, bounds): hand-vectorised, with pandera as the tested reference


@functools.cache
def _pandera_schema(table: Table) -> Any:
    import pandera.pandas as pa

    columns = {}
    for c in table.columns:
        checks = []
        if c.domain is not None:
            checks.append(pa.Check.isin(list(c.domain)))
        if c.min_value is not None:
            checks.append(pa.Check.ge(c.min_value))
        if c.max_value is not None:
            checks.append(pa.Check.le(c.max_value))
        columns[c.name] = pa.Column(nullable=c.nullable, checks=checks, required=True)
    return pa.DataFrameSchema(columns, strict=False, name=table.name)


def _check_message(check: str, value: Any, col: Column) -> str:
    if check == "not_nullable":
        return "is empty; a value is required"
    if check.startswith("isin"):
        return f"{str(value)!r} is not one of: {', '.join(col.domain or ())}"
    if check.startswith("greater_than_or_equal_to"):
        return f"{value} is below the minimum {col.min_value:g}"
    if check.startswith("less_than_or_equal_to"):
        return f"{value} is above the maximum {col.max_value:g}"
    return f"{value!r} fails {check}"


def _check_columns(table: Table, run: _TableRun) -> None:
    """Nullability, domains and bounds, column by column, in the contract's order (the order pandera reports
    them in, so both give the same problems; tests/data/test_validate.py runs both on every input).

    Hand-vectorised because pandera's per-call overhead shows on small frames, and the API validates every
    request body: with pandera, `validate_frames` on one body took 1.1-1.7x the CPU (bench_validate,
    `small_body`). Nulls pass domain and bound checks, as with pandera's `ignore_na`."""
    assert run.typed is not None
    for col in table.columns:
        # A null mask only where a rule reads it (not for free-text columns): ~3 us per column saved.
        null = run.nulls(col.name) if not col.nullable or col.domain is not None else None
        if not col.nullable and null is not None and null.any():
            run.add(np.flatnonzero(null), col.name, "is empty; a value is required")
        if col.domain is not None and null is not None:
            outside = ~_isin_column(run, col.name, _domain_set(col.domain)) & ~null
            if outside.any():
                pos = np.flatnonzero(outside)
                allowed = ", ".join(col.domain)
                values = run.col(col.name)
                run.add(
                    pos, col.name, [f"{v!r} is not one of: {allowed}" for v in values.iloc[pos].astype(str)]
                )
        if col.min_value is not None or col.max_value is not None:
            array = run.arr(col.name)
            if isinstance(array, np.ndarray):
                number = np.asarray(array, dtype="float64")
            else:
                number = array.to_numpy(dtype="float64", na_value=np.nan)
            if col.min_value is not None:
                low = number < col.min_value  # NaN compares False: nulls pass
                if low.any():
                    pos = np.flatnonzero(low)
                    values = run.col(col.name)
                    run.add(
                        pos,
                        col.name,
                        [f"{v} is below the minimum {col.min_value:g}" for v in values.iloc[pos]],
                    )
            if col.max_value is not None:
                high = number > col.max_value
                if high.any():
                    pos = np.flatnonzero(high)
                    values = run.col(col.name)
                    run.add(
                        pos,
                        col.name,
                        [f"{v} is above the maximum {col.max_value:g}" for v in values.iloc[pos]],
                    )


def _check_columns_pandera(table: Table, run: _TableRun) -> None:
    """The same rules through pandera: the reference `_check_columns` is tested against (not used at run time)."""
    import pandera.pandas as pa

    assert run.typed is not None
    try:
        _pandera_schema(table).validate(run.typed[table.column_names], lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna()]
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            col = table.column(str(column))
            messages = [_check_message(str(check), v, col) for v in group["failure_case"]]
            run.add(group["index"].astype("int64").to_numpy(), str(column), messages)


# ---------------------------------------------------------------------------------------------------------------
# Keys, references and cross-table rules (hand-written: pandera has no notion of other tables)


def _describe_key(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    parts = [[f"{c}={v!r}" for v in frame[c].astype(str)] for c in columns]
    return [", ".join(p) for p in zip(*parts, strict=True)]


def _first_rows(keys: Mapping[str, pd.Series], row_base: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows that repeat an earlier key (columns `keys`): their positions and the row number of the first
    occurrence."""
    cols = list(keys)
    if len(keys[cols[0]]) <= SMALL_TABLE_ROWS:
        return _first_rows_small([keys[c] for c in cols], row_base)
    if len(cols) == 1:  # the common case, and a Series hashes without building a frame
        column = keys[cols[0]]
        if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
            import pyarrow.compute as pc

            arrow = _arrow_chunks(column)
            if pc.count_distinct(arrow).as_py() == len(arrow) - arrow.null_count:
                # Only non-null keys can repeat one another (null keys are reported as empty instead).
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        repeated = column.duplicated(keep=False).to_numpy()
    else:
        repeated = pd.DataFrame(dict(keys), copy=False).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys = pd.DataFrame(dict(keys), copy=False)
    involved = keys.loc[repeated & keys.notna().all(axis=1).to_numpy()].copy()
    involved["_pos"] = involved.index.to_numpy()
    first = involved.groupby(cols, sort=False, dropna=False)["_pos"].transform("min")
    later = involved.loc[involved["_pos"] != first]
    return later["_pos"].to_numpy(), first.loc[later.index].to_numpy() + row_base


def _first_rows_small(columns: list[pd.Series], row_base: int) -> tuple[np.ndarray, np.ndarray]:
    """`_first_rows` on Python tuples in a dict: what duplicated/groupby compute, without their per-call cost.
    Rows with a null in the key are skipped, as there."""
    return _first_rows_of_objects([_nulls(c) for c in columns], [_objects(c) for c in columns], row_base)


def _first_rows_of_objects(
    nulls: list[np.ndarray], values: list[np.ndarray], row_base: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_first_rows_small` on ready null masks and Python values of the key columns."""
    null = np.zeros(len(values[0]), dtype=bool)
    for mask in nulls:
        null |= mask
    if not null.any():
        # The usual answer, that no key repeats, from one set of the same keys (~10x faster than the loop).
        keys = values[0].tolist() if len(values) == 1 else list(zip(*values, strict=True))
        if len(set(keys)) == len(keys):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64) + row_base
    seen: dict[Any, int] = {}
    later: list[int] = []
    first: list[int] = []
    for pos, key in enumerate(zip(*values, strict=True)):
        if null[pos]:
            continue
        at = seen.setdefault(key, pos)
        if at != pos:
            later.append(pos)
            first.append(at)
    return np.array(later, dtype=np.int64), np.array(first, dtype=np.int64) + row_base


def _normalised_email(values: pd.Series) -> pd.Series:
    """Stripped and lower-cased, as `.str.strip().str.lower()`; on Arrow strings through the very kernels those
    call (utf8_trim_whitespace, utf8_lower) without the two intermediate Series."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        import pyarrow.compute as pc

        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(_arrow_chunks(values)))
        return pd.Series(pd.arrays.ArrowStringArray(lowered), index=values.index, copy=False)
    return values.str.strip().str.lower()


def _normalised_email_array(values: Any) -> Any:
    """`_normalised_email` of a typed column given as its array (no Series around it)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        return pd.arrays.ArrowStringArray(pc.utf8_lower(pc.utf8_trim_whitespace(pa.array(values))))
    return _normalised_email(pd.Series(values, copy=False)).array


def _check_keys(table: Table, run: _TableRun, row_base: int) -> None:
    assert run.typed is not None
    small = run.n <= SMALL_TABLE_ROWS
    if table.primary_key:
        if small:  # the checks' shared null masks and Python values: no Series at all
            pos, first = _first_rows_of_objects(
                [run.nulls(c) for c in table.primary_key], [run.objects(c) for c in table.primary_key], 0
            )
        else:
            pos, first = _first_rows({c: run.col(c) for c in table.primary_key}, 0)
        first = run.row_of(first, row_base)
        if len(pos):
            keys = {c: run.col(c) for c in table.primary_key}
            described = _describe_key(pd.DataFrame(keys).iloc[pos], table.primary_key)
            run.add(
                pos,
                table.primary_key[-1],
                [f"duplicate key {d} (first at row {f})" for d, f in zip(described, first, strict=True)],
            )
    if table.name == "people":
        if small:
            normalised = _normalised_email_array(run.arr("email"))
            pos, first = _first_rows_of_objects([_nulls(normalised)], [_objects(normalised)], row_base)
        else:
            pos, first = _first_rows({"email": _normalised_email(run.col("email"))}, row_base)
        if len(pos):
            values = _quote(run.col("email").iloc[pos])
            run.add(
                pos,
                "email",
                [f"duplicate email {v} (first at row {f})" for v, f in zip(values, first, strict=True)],
            )


@functools.cache
def _domain_set(domain: tuple[str, ...]) -> Any:
    """A contract domain as an Arrow value set, built once per domain (it is constant)."""
    import pyarrow as pa

    return pa.array(pd.Series(domain, dtype="string").array).unique()


def _isin(values: pd.Series, keys: pd.Series | Any) -> np.ndarray:
    """Membership test through Arrow's hash kernel (an order of magnitude faster than Series.isin on text).
    `keys` may be a ready Arrow value set (unique values), as `_accepted_keys` returns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    value_set = pa.array(keys.array).unique() if isinstance(keys, pd.Series) else keys
    if len(values) <= SMALL_TABLE_ROWS and len(value_set) <= SMALL_TABLE_ROWS:
        # The same membership on Python strings (both sides are contract text): is_in's fixed cost is ~50 us.
        return _member(_objects(values), set(value_set.to_pylist()))
    array = pa.array(values.array if isinstance(values, pd.Series) else values)
    found = pc.is_in(array, value_set=_narrowed(value_set, array))
    return found.to_numpy(zero_copy_only=False).astype(bool)


NARROW_MIN_KEYS = 20_000  # from this many keys, a value set is first cut down to the values asked about,
NARROW_RATIO = 8  # when it holds more than this many keys per distinct value asked about


def _narrowed(value_set: Any, values: Any) -> Any:
    """`value_set` cut to the distinct `values` when those are far fewer: the same membership answers, but Arrow
    builds its hash table of a few thousand keys instead of every key of a large parent (a batch chunk's ~10^4
    event rows against ~10^5 deals, once per chunk and reference)."""
    keep = _narrowing_mask(value_set, values)
    return value_set if keep is None else value_set.filter(keep)


def _narrowing_mask(value_set: Any, values: Any) -> Any:
    """Which keys of `value_set` occur in `values` (an Arrow boolean mask), or None when narrowing does not pay
    (a small set, or about as many distinct values as keys)."""
    import pyarrow.compute as pc

    if len(value_set) < NARROW_MIN_KEYS or len(values) > 4 * len(value_set):
        return None  # a whole table's column (data.load) has about as many distinct values as keys
    distinct = pc.unique(values)
    if NARROW_RATIO * len(distinct) > len(value_set):
        return None
    return pc.is_in(value_set, value_set=distinct.cast(value_set.type))


def _member(present: np.ndarray, members: set[Any]) -> np.ndarray:
    values = present.tolist()
    if members.issuperset(values):  # the usual answer (a clean body), in one C-level pass
        return np.ones(len(values), dtype=bool)
    return np.fromiter((v in members for v in values), dtype=bool, count=len(values))


# Python sets of constant value sets (contract domains), by identity of the value set.
_DOMAIN_PYSETS: dict[int, tuple[Any, set[Any]]] = {}


def _isin_column(run: _TableRun, name: str, value_set: Any, owner: _TableRun | None = None) -> np.ndarray:
    """`_isin` of a typed column of `run` against an Arrow value set (a contract domain, or `owner`'s accepted
    keys): on small inputs through the column's shared Python values and a Python set made once per value set."""
    values = run.arr(name)
    if len(values) <= SMALL_TABLE_ROWS and len(value_set) <= SMALL_TABLE_ROWS:
        # keyed by identity; the entry holds the value set itself, so the id cannot be reused while it is there
        cache = owner.key_pysets if owner is not None else _DOMAIN_PYSETS
        key = id(value_set)
        cached = cache.get(key)
        if cached is None or cached[0] is not value_set:
            cached = cache[key] = (value_set, set(value_set.to_pylist()))
        return _member(run.objects(name), cached[1])
    return _isin(values, value_set)


def _isin_parent(run: _TableRun, name: str, parent: _TableRun, column: str) -> np.ndarray:
    """Which values of `run`'s column `name` are accepted keys of `parent`'s `column`. Both small (an API body):
    the keys as a Python set straight from the parent's Python values, the very set `_isin_column` would make
    from `_accepted_keys` (distinct, non-null, accepted Arrow strings as str) without the Arrow unique/drop_null/
    to_pylist calls (~30 us per reference); otherwise through `_accepted_keys`, as before."""
    keys = parent.arr(column)
    if (
        len(run.arr(name)) <= SMALL_TABLE_ROWS
        and parent.n <= SMALL_TABLE_ROWS
        and isinstance(keys, pd.arrays.ArrowStringArray)
        and len(parent.rejected) == len(keys)
    ):
        members = parent.small_key_sets.get(column)
        if members is None:
            objects = parent.objects(column).tolist()
            rejected = parent.rejected.tolist()
            members = {v for v, r in zip(objects, rejected, strict=True) if v is not None and not r}
            parent.small_key_sets[column] = members
        return _member(run.objects(name), members)
    return _isin_column(run, name, _accepted_keys(parent, column), owner=parent)


def _accepted_keys(parent: _TableRun, column: str) -> Any:
    """The parent's accepted, non-null values of `column` as an Arrow value set, built once per parent column
    (several child tables reference people; on a large dataset each set costs a pass over the parent)."""
    import pyarrow as pa

    cached = parent.key_sets.get(column)
    if cached is None:
        assert parent.typed is not None
        keys = parent.arr(column)
        if parent.rejected.any():
            keys = keys[~parent.rejected]
        cached = pa.array(keys).unique().drop_null()
        parent.key_sets[column] = cached
    return cached


def _check_references(table: Table, run: _TableRun, runs: dict[str, _TableRun], row_base: int) -> None:
    assert run.typed is not None
    for fk in table.foreign_keys:
        present = ~run.nulls(fk.column)
        parent = runs.get(fk.ref_table)
        if parent is None or parent.typed is None:
            ok = np.zeros(len(present), dtype=bool)
        else:
            ok = _isin_parent(run, fk.column, parent, fk.ref_column)
        dangling = present & ~ok
        if not dangling.any():
            continue
        values = run.col(fk.column)
        if parent is None or parent.typed is None:
            rejected_keys = pd.Series([], dtype="int64")
        else:
            keys = parent.typed[fk.ref_column]
            rej = keys[parent.rejected].dropna()
            # first rejected row per key, so the message can point at it
            rejected_keys = pd.Series(parent.row_of(rej.index.to_numpy(), row_base), index=rej.to_numpy())
            rejected_keys = rejected_keys[~rejected_keys.index.duplicated()]
        pos = np.flatnonzero(dangling)
        bad = values.iloc[pos]
        parent_row = bad.map(rejected_keys)
        target = f"{fk.ref_table}.{fk.ref_column}"
        parent_file = parent.file if parent is not None else fk.ref_table
        messages = [
            f"references unknown {target} {v!r}"
            if pd.isna(r)
            else f"references {target} {v!r}, which was rejected ({parent_file} row {int(r)})"
            for v, r in zip(bad.astype(str), parent_row, strict=True)
        ]
        run.add(pos, fk.column, messages)


def _iso(values: pd.Series) -> list[str]:
    return [v.isoformat().replace("+00:00", "Z") for v in values]


def _utc_wall(values: pd.Series | Any) -> np.ndarray:
    """A canonical timestamp column (Series or array) as datetime64[ns] UTC wall times (NaT for nulls), without a
    new Series."""
    return values.to_numpy(dtype="datetime64[ns]")


def _deal_rows_of(deals: _TableRun, accepted: np.ndarray, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For each value of a child's deal_id column: its position among the distinct accepted deal ids (-1: none),
    and the deals row of each distinct id's first accepted occurrence. On Arrow text both ways the distinct ids
    are kept on the deals run, so a batch job's chunks (all checked against the same deals) hash them once, not
    ~100k ids per chunk; otherwise through a pandas Index, as before."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = deals.col("deal_id")
    arrow = isinstance(ids.dtype, pd.StringDtype) and ids.dtype.storage == "pyarrow"
    if arrow and isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        cached = deals.lookups.get("deal_first_rows")
        if cached is None or not np.array_equal(cached[0], accepted):  # rebuilt if the accepted rows moved
            taken = _arrow_chunks(ids).take(pa.array(accepted))
            distinct = pc.unique(taken)  # in order of first occurrence, as ~duplicated() keeps them
            first = pc.index_in(distinct, value_set=taken).to_numpy(zero_copy_only=False).astype(np.int64)
            cached = deals.lookups["deal_first_rows"] = (accepted.copy(), distinct, accepted[first])
        _, distinct, rows = cached
        asked = _arrow_chunks(values)
        keep = _narrowing_mask(distinct, asked)
        if keep is None:
            at = pc.index_in(asked, value_set=distinct).fill_null(-1).to_numpy(zero_copy_only=False)
            return at.astype(np.int64), rows
        # Positions in the narrowed set, then back to positions in `distinct`.
        kept = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
        at = pc.index_in(asked, value_set=distinct.filter(keep)).fill_null(-1)
        at = at.to_numpy(zero_copy_only=False).astype(np.int64)
        return (np.where(at >= 0, kept[np.maximum(at, 0)], -1) if len(kept) else at), rows
    deal_ids = ids.iloc[accepted]
    first = ~deal_ids.duplicated().to_numpy()
    lookup = pd.Index(deal_ids.to_numpy()[first])
    return lookup.get_indexer(values.to_numpy()), accepted[first]


def _check_time_order(table: Table, run: _TableRun, runs: dict[str, _TableRun]) -> None:
    assert run.typed is not None
    if table.name == "deals":
        # UTC wall times and Python strings: NaT compares False and None equals no word, as the Series
        # comparisons did with fillna(False), at a few microseconds per comparison instead of ~100.
        closed_at, created_at = _utc_wall(run.arr("closed_at")), _utc_wall(run.arr("created_at"))
        outcomes = run.objects("outcome")
        before = closed_at < created_at
        if before.any():
            created, closed = run.col("created_at"), run.col("closed_at")
            pos = np.flatnonzero(before)
            run.add(
                pos,
                "closed_at",
                [
                    f"closed_at {a} is before created_at {b}"
                    for a, b in zip(_iso(closed.iloc[pos]), _iso(created.iloc[pos]), strict=True)
                ],
            )
        finished = (outcomes == "won") | (outcomes == "lost")
        missing = finished & np.isnat(closed_at)
        if missing.any():
            pos = np.flatnonzero(missing)
            run.add(
                pos,
                "closed_at",
                [
                    f"is empty but the deal is {o}; won/lost deals need closed_at"
                    for o in run.col("outcome").iloc[pos]
                ],
            )
        still_open = (outcomes == "open") & ~np.isnat(closed_at)
        if still_open.any():
            run.add(
                np.flatnonzero(still_open),
                "closed_at",
                "is set but the deal is open; open deals have no closed_at",
            )
        return
    column = {"meetings": "start_at", "emails": "sent_at"}.get(table.name)
    deals = runs.get("deals")
    if column is None or deals is None or deals.typed is None:
        return
    # The first accepted row of each deal_id gives the bounds (accepted deal ids are unique anyway).
    accepted = np.flatnonzero(~deals.rejected)
    n_rows = len(run.arr("deal_id"))
    if max(n_rows, len(accepted)) <= SMALL_TABLE_ROWS:
        ids = deals.objects("deal_id")
        first_row: dict[Any, int] = {}
        for p in accepted.tolist():
            first_row.setdefault(ids[p], p)
        at = np.array([first_row.get(d, -1) for d in run.objects("deal_id")], np.int64)
        found = at >= 0
        take = np.where(found, at, 0)
    else:
        at, rows = _deal_rows_of(deals, accepted, run.col("deal_id"))
        found = at >= 0
        take = rows[np.where(found, at, 0)] if len(rows) else np.zeros(len(at), dtype=np.int64)
    # Plain datetime64[ns] (UTC wall time) arrays: NaT compares False, so a missing bound or value never fails,
    # and numpy comparisons cost microseconds where tz-aware Series cost a fraction of a millisecond each.
    when = _utc_wall(run.arr(column))

    def bound(name: str) -> np.ndarray:
        values = _utc_wall(deals.arr(name))
        picked = values[take] if len(values) else np.full(len(at), np.datetime64("NaT", "ns"))
        return np.where(found, picked, np.datetime64("NaT", "ns"))

    created = bound("created_at")
    closed = bound("closed_at")
    early = when < created
    late = when > closed
    for mask, limit, word in ((early, created, "before"), (late, closed, "after")):
        if mask.any():
            pos = np.flatnonzero(mask)
            side = "created_at" if word == "before" else "closed_at"
            run.add(
                pos,
                column,
                [
                    f"{a} is {word} its deal {d!r} {side} {b}"
                    for a, d, b in zip(
                        _iso(pd.Series(when[pos]).dt.tz_localize("UTC")),
                        run.col("deal_id").iloc[pos],
                        _iso(pd.Series(limit[pos]).dt.tz_localize("UTC")),
                        strict=True,
                    )
                ],
            )


def _check_rows(table: Table, run: _TableRun) -> None:
    assert run.typed is not None
    if table.name == "labels":
        empty = _nulls(run.col("influence")) & _nulls(run.col("profile"))
        # A CRM association without a role (contract.PARTICIPANT_SOURCE) is a known deal participant, not a label.
        empty &= (run.col("source").astype("string") != PARTICIPANT_SOURCE).fillna(True).to_numpy(dtype=bool)
        if empty.any():
            run.add(
                np.flatnonzero(empty), "influence", "has neither influence nor profile; a label needs one"
            )


# ---------------------------------------------------------------------------------------------------------------
# Driver


def _validate_table(table: Table, run: _TableRun, runs: dict[str, _TableRun], row_base: int) -> None:
    n = len(run.raw)
    run.rejected = np.zeros(n, dtype=bool) if len(run.rejected) != n else run.rejected
    present = set(_column_names(run.raw.columns))  # each `in frame.columns` costs ~2 us, 3 per column
    missing = [c.name for c in table.columns if c.name not in present and not c.nullable]
    if missing:
        for c in missing:
            run.reject_file(c, f"missing column {c!r}; the whole file is rejected")
        return
    raw = run.raw  # positional index 0..n-1 already (`_run_tables`)
    # An absent nullable column means "nothing known" (exports and JSON bodies often omit empty fields):
    # it is filled with nulls and reported as a warning, never silently.
    if any(c.name not in present for c in table.columns):
        raw = raw.copy(deep=False)  # the filled columns are not part of the record as read (nor the caller's)
    for c in table.columns:
        if c.name not in present:
            run.add([-1], c.name, [f"column {c.name!r} is absent; read as empty"], severity="warning")
            raw[c.name] = pd.Series(pd.NA, index=raw.index, dtype="string")
    # One pass over the columns, as arrays: a Series per column costs ~15-30 us (an API body has 43).
    names = _column_names(raw.columns)
    # Columns handed over as arrays are read as given, unless a column was filled in above (a new frame).
    given = run.given if raw is run.raw and run.given is not None and tuple(run.given) == names else None
    if given is not None:
        arrays = dict(given)
    elif raw.columns.is_unique:
        arrays = _column_arrays(raw, names)
    else:
        arrays = {c: _array(raw[c]) for c in raw.columns}
    small = n <= SMALL_TABLE_ROWS
    typed = {}
    for col in table.columns:
        values = arrays[col.name]
        if _canonical(values, col, run, small):
            typed[col.name] = values  # already canonical: what `_parse_column` would return
        else:
            typed[col.name] = _array(_parse_column(raw[col.name], col, run))
    if run.file_rejected:
        return
    extra = {c: v for c, v in arrays.items() if c not in typed}
    if list(names) == [*typed, *extra] and all(typed[c] is arrays[c] for c in typed):
        # Every column was already in its canonical dtype (an API body, a typed frame): the frame as given is
        # the typed frame. A shallow copy (copy-on-write) costs microseconds where a new frame costs ~0.3 ms; a
        # frame the validator built itself from `TypedColumns` is nobody else's, and needs no copy at all.
        run.typed = raw if given is not None else raw.copy(deep=False)
    else:
        # Arrays, not Series: the frame constructor would align every Series on the index (~half its cost).
        # numpy arrays go in wrapped as Series.array hands them over, so the frame infers nothing new.
        run.typed = pd.DataFrame(
            {
                name: pd.arrays.NumpyExtensionArray(values) if isinstance(values, np.ndarray) else values
                for name, values in {**typed, **extra}.items()
            },
            index=pd.RangeIndex(n),
            copy=False,
        )
    run.arrays = typed
    _check_columns(table, run)
    _check_rows(table, run)
    _check_keys(table, run, row_base)
    _check_references(table, run, runs, row_base)
    _check_time_order(table, run, runs)


def _records_json(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    text = frame.to_json(
        orient="records", lines=True, date_format="iso", force_ascii=False, default_handler=str
    )
    return text.rstrip("\n").split("\n")


def _finish(
    runs: dict[str, _TableRun], notes: list[Problem], row_base: int, path: Path | None
) -> tuple[Dataset, ValidationReport]:
    problem_parts: list[pd.DataFrame] = []
    if notes:
        problem_parts.append(pd.DataFrame([vars(p) for p in notes], columns=_PROBLEM_COLUMNS))
    reject_parts: list[pd.DataFrame] = []
    counts: dict[str, TableCounts] = {}
    accepted_frames: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for name in TABLE_ORDER:
        run = runs.get(name)
        if run is None:
            continue
        files[name] = run.file
        n = run.n
        rejected = run.rejected if len(run.rejected) == n else np.zeros(n, dtype=bool)
        n_rejected = int(rejected.sum())
        counts[name] = TableCounts(read=n, accepted=n - n_rejected, rejected=n_rejected)
        if run.typed is not None and not run.file_rejected:
            accepted_frames[name] = (
                run.typed.loc[~rejected].reset_index(drop=True) if n_rejected else run.typed
            )
        n_accepted = len(accepted_frames.get(name, ()))
        if not run.issues:
            if n_accepted != n:
                raise AssertionError(f"{name}: {n} rows read but {n_accepted} accepted and none rejected")
            continue
        issues = pd.concat(run.issues, ignore_index=True)
        # One problem per cell: a value that failed to parse is not reported again as empty.
        cell = issues["pos"] >= 0
        issues = pd.concat([issues[~cell], issues[cell].drop_duplicates(["pos", "column"])]).sort_values(
            "pos", kind="stable"
        )
        at = issues["pos"].to_numpy()
        rows = pd.array(np.full(len(at), -1), dtype="Int64")
        rows[at >= 0] = run.row_of(at[at >= 0], row_base)
        rows[at < 0] = pd.NA
        problem_parts.append(
            pd.DataFrame(
                {
                    "table": name,
                    "file": run.file,
                    "row": rows.to_numpy(),
                    "column": issues["column"].to_numpy(),
                    "message": issues["message"].to_numpy(),
                    "severity": issues["severity"].to_numpy(),
                }
            )
        )
        if n_rejected:
            errors = issues[issues["severity"] == "error"]
            whole = errors[errors["pos"] < 0]
            per_row = errors[errors["pos"] >= 0]
            labelled = per_row["column"].fillna(_MISSING) + ": " + per_row["message"]
            reasons = labelled.groupby(per_row["pos"].to_numpy()).agg("; ".join)
            pos = np.flatnonzero(rejected)
            reason = pd.Series(reasons.reindex(pos).to_numpy(), index=pos, dtype="object")
            if len(whole):
                file_reason = "; ".join(whole["column"].fillna(_MISSING) + ": " + whole["message"])
                reason = reason.fillna(file_reason)
            reject_parts.append(
                pd.DataFrame(
                    {
                        "table": name,
                        "file": run.file,
                        "row": run.row_of(pos, row_base),
                        "reasons": reason.to_numpy(),
                        "record": _records_json(run.raw if run.n_rows >= 0 else run.raw.iloc[pos]),
                    }
                )
            )
        n_out = n_accepted + (len(reject_parts[-1]) if n_rejected else 0)
        if n_out != n:  # the promise users rely on: every row read is accepted or rejected, once
            raise AssertionError(f"{name}: {n} rows read but {n_out} accepted or rejected")
    if problem_parts:
        problems = pd.concat(problem_parts, ignore_index=True)
        problems["row"] = problems["row"].astype("Int64")
    else:  # a clean API body: copying a ready empty frame costs a fraction of building one
        # Shallow: pandas 3 copies on write, so a caller changing its report never reaches the cached frame, and
        # a deep copy of an empty frame costs twice as much (~50 us each).
        problems = _empty_frames()[0].copy(deep=False)
    rejects = (
        pd.concat(reject_parts, ignore_index=True) if reject_parts else _empty_frames()[1].copy(deep=False)
    )
    report = ValidationReport(problems_frame=problems, counts=counts, rejected=rejects, files=files)
    # The typed frames already hold the canonical dtypes (`_parse_column`), so no second cast/copy
    # (`Dataset.from_frames` would cost as much again as the checks on an API body).
    return Dataset(accepted_frames, path=path), report


@functools.cache
def _empty_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The problems and rejects frames of a report without findings (callers get copies)."""
    problems = pd.DataFrame(columns=_PROBLEM_COLUMNS)
    problems["row"] = problems["row"].astype("Int64")
    return problems, pd.DataFrame(columns=_REJECT_COLUMNS)


_Raw = tuple[str, pd.DataFrame, list[tuple[int, str | None, str]]]


def _run_tables(
    raws: Mapping[str, _Raw | Path],
    failures: Mapping[str, tuple[str, str]],
    notes: list[Problem],
    row_base: int,
    path: Path | None,
    runs: dict[str, _TableRun] | None = None,
    given: Mapping[str, dict[str, Any]] | None = None,
) -> tuple[Dataset, ValidationReport]:
    """Validate table by table (`runs`, when given, receives the checked tables: influence.chunks validates the
    event tables of a large folder chunk by chunk against them). A value of `raws` may be a file, read only when its table's turn comes, so a
    folder is never held in memory as read and as typed at once (each checked table keeps its rejected rows).
    `given`: per table, the columns its frame was built from (`TypedColumns`)."""
    runs = {} if runs is None else runs
    given = given or {}
    failures = dict(failures)
    for name in TABLE_ORDER:
        table = TABLES[name]
        entry = raws.get(name)
        if isinstance(entry, Path):
            try:
                entry = _read_table(entry)
            except DatasetError as exc:
                failures[name] = (entry.name, str(exc))
        if name in failures:
            file, message = failures[name]
            run = _TableRun(name, file, pd.DataFrame())
            run.issues.append(
                pd.DataFrame({"pos": [-1], "column": [None], "message": [message], "severity": "error"})
            )
            runs[name] = run
            continue
        if name not in raws:
            if table.required and not any(p.table == name for p in notes):
                notes.append(
                    Problem(
                        name,
                        f"{name}.csv",
                        None,
                        None,
                        "required table is missing (no .csv or .parquet file)",
                    )
                )
            continue
        assert entry is not None and not isinstance(entry, Path)
        file, raw, bad_cells = entry
        positional = isinstance(raw.index, pd.RangeIndex) and raw.index.start == 0 and raw.index.step == 1
        run = _TableRun(
            name,
            file,
            raw if positional else raw.reset_index(drop=True),
            rejected=np.zeros(len(raw), dtype=bool),
            given=given.get(name) if positional else None,
        )
        del raw, entry
        for pos, column, message in bad_cells:
            run.add([pos], column, [message])
        if run.n == 0 and table.required:
            run.add([-1], None, ["has no data rows"], severity="warning")
        _validate_table(table, run, runs, row_base)
        if path is not None:  # files: free the rows as read; in-memory frames belong to the caller anyway
            run.compact()
        runs[name] = run
    return _finish(runs, notes, row_base, path)


def _validate_folder(path: str | Path) -> tuple[Dataset, ValidationReport]:
    folder = Path(path)
    chosen, notes = _discover(folder)
    return _run_tables(dict(chosen), {}, notes, FILE_ROW_BASE, folder)


def _read_table(file: Path) -> _Raw:
    """One table file as read (all text for CSV), with the cells the reader could not trust."""
    if file.stat().st_size == 0:
        raise DatasetError("file is empty (0 bytes); a table needs at least a header row")
    if file.suffix == ".csv":
        frame, bad = _read_csv(file)
    else:
        frame, bad = _read_parquet(file), []
    return file.name, frame, bad


# ---------------------------------------------------------------------------------------------------------------
# Public API


def validate(path: str | Path) -> ValidationReport:
    """Check a dataset folder against the contract; never raises for bad rows (see the report)."""
    return _validate_folder(path)[1]


def load_with_report(path: str | Path) -> tuple[Dataset, ValidationReport]:
    """The accepted rows of a dataset folder (canonical dtypes) and the report of what was rejected."""
    return _validate_folder(path)


def load(path: str | Path, *, strict: bool = True) -> Dataset:
    """Load a dataset folder. With `strict`, any error raises `DatasetError` (its `.report` holds them all);
    otherwise only the accepted rows are returned."""
    dataset, report = _validate_folder(path)
    if strict and not report.ok:
        raise DatasetError(_error_summary(str(path), report), report)
    return dataset


def validate_frames(
    frames: Mapping[str, pd.DataFrame | TypedColumns],
    sources: Mapping[str, str] | None = None,
    *,
    row_base: int = 0,
) -> tuple[Dataset, ValidationReport]:
    """Validate in-memory tables (e.g. an API body): frames, or `TypedColumns` (ready arrays, built into a frame
    once; the same checks and report as their frame would get). Rows are numbered by position from `row_base`
    (0: list indices); `sources` names where each table came from (default: the table name). Unknown table names
    are reported as warnings and ignored; absent required tables are errors."""
    sources = dict(sources or {})
    notes: list[Problem] = []
    raws: dict[str, _Raw | Path] = {}
    given: dict[str, dict[str, Any]] = {}
    for name, frame in frames.items():
        label = sources.get(name, name)
        if name not in TABLES:
            notes.append(Problem(name, label, None, None, "not a contract table; ignored", "warning"))
            continue
        if isinstance(frame, TypedColumns):
            given[name] = dict(frame.columns)
            frame = frame.frame()
        raws[name] = (label, frame, [])
    return _run_tables(raws, {}, notes, row_base, None, given=given)


def _error_summary(where: str, report: ValidationReport, limit: int = 10) -> str:
    n = report.n_errors
    errors = report.problems_frame[report.problems_frame["severity"] == "error"].head(limit)
    lines = [format_problem(_problem(r)) for r in errors.itertuples(index=False)]
    more = f"\n  ... and {n - limit} more" if n > limit else ""
    return f"{where}: {n} error(s) against the data contract:\n  " + "\n  ".join(lines) + more


# ---------------------------------------------------------------------------------------------------------------
# Documentation generated from the contract

_DOC_BEGIN = "<!-- BEGIN GENERATED: contract tables (influence.data.contract_markdown) -->"
_DOC_END = "<!-- END GENERATED -->"


def contract_markdown() -> str:
    """Markdown tables describing every contract table and column (the generated part of docs/data-contract.md)."""
    out: list[str] = []
    for name in TABLE_ORDER:
        t = TABLES[name]
        status = "required" if t.required else "optional (empty when absent)"
        out.append(f"### `{name}` ({status})\n")
        out.append(f"{t.description}\n")
        if t.primary_key:
            out.append(f"Primary key: {', '.join(f'`{c}`' for c in t.primary_key)}.  ")
        else:
            out.append("No primary key (repeated rows are allowed).  ")
        if t.foreign_keys:
            refs = ", ".join(f"`{fk.column}` → `{fk.ref_table}.{fk.ref_column}`" for fk in t.foreign_keys)
            out.append(f"References: {refs}.")
        out.append("")
        out.append("| column | type | nullable | allowed values | meaning |")
        out.append("|---|---|---|---|---|")
        for c in t.columns:
            allowed = []
            if c.domain:
                allowed.append(", ".join(f"`{v}`" for v in c.domain))
            if c.min_value is not None:
                allowed.append(f"≥ {c.min_value:g}")
            if c.max_value is not None:
                allowed.append(f"≤ {c.max_value:g}")
            ctype = "timestamp (tz-aware, UTC)" if c.dtype == "timestamp" else c.dtype
            nullable = "yes" if c.nullable else "no"
            out.append(f"| `{c.name}` | {ctype} | {nullable} | {'; '.join(allowed)} | {c.description} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_contract_doc(text: str) -> str:
    """`text` (docs/data-contract.md) with its generated block replaced by the current `contract_markdown()`."""
    start = text.index(_DOC_BEGIN) + len(_DOC_BEGIN)
    end = text.index(_DOC_END)
    return text[:start] + "\n\n" + contract_markdown() + "\n" + text[end:]
