"""Point-in-time features per (deal, person), the same code for training, batch and online scoring.

`build_features(ds, as_of=...)` sees only what was knowable at `as_of`: events strictly before it, deals created
before it, and never deals.outcome / closed_at / stage / amount or the labels table. The catalogue of features,
with one-line definitions, is `FEATURE_DOCS` (rendered to docs/features.md by `features_markdown`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from influence.contract import Dataset
from influence.data import frame_of_columns
from influence.features._prepare import Prepared
from influence.features._spec import (
    FEATURE_COLUMNS,
    FEATURE_DOCS,
    FEATURE_GROUPS,
    KEY_COLUMNS,
    MONOTONE_INCREASING,
)

__all__ = [
    "FEATURE_COLUMNS",
    "FEATURE_DOCS",
    "FEATURE_GROUPS",
    "DOC_BEGIN",
    "DOC_END",
    "KEY_COLUMNS",
    "MONOTONE_INCREASING",
    "FeatureTimings",
    "build_features",
    "features_markdown",
    "render_features_doc",
    "parse_as_of",
]


@dataclass
class FeatureTimings:
    """Wall-clock seconds per part of the `build_features` call that was given this object, and CPU seconds
    (process time: on a shared machine the honest measure of the work itself)."""

    prepare: float = 0.0
    tabular: float = 0.0
    graph: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)


def parse_as_of(value: str | pd.Timestamp | None) -> pd.Timestamp | None:
    """A tz-aware UTC Timestamp from ISO 8601 text or a Timestamp; a naive value is an error (ambiguous)."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"as_of {value!r} is not an ISO 8601 timestamp (e.g. 2024-06-30T00:00:00Z)") from exc
    if ts is pd.NaT:
        raise ValueError("as_of must be a timestamp, not NaT")
    if ts.tzinfo is None:
        raise ValueError(
            f"as_of {value!s} has no time zone; add Z for UTC or an offset, e.g. {ts.isoformat()}Z or "
            f"{ts.isoformat()}+02:00"
        )
    return ts.tz_convert("UTC")


def _pair_keys(pairs: pd.DataFrame | None, p: Prepared) -> np.ndarray:
    """(deal, person) keys of the extra rows; unknown people are an error, deals not yet created are skipped."""
    from influence.features._prepare import _codes, arrow_text

    if pairs is None or len(pairs) == 0:
        return np.zeros(0, np.int64)
    person = _codes(arrow_text(pairs["person_id"]), p.person_ids)
    if (person < 0).any():
        pos = int(np.flatnonzero(person < 0)[0])
        raise ValueError(f"pairs: row {pos}: person_id {pairs['person_id'].iloc[pos]!r} is not in people")
    # A deal that is not among the kept deals did not exist yet at as_of (skipped, like the deal itself);
    # deals missing from the dataset were rejected by _check_pairs.
    deal = _codes(arrow_text(pairs["deal_id"]), p.deal_ids)
    keep = deal >= 0
    return deal[keep] * max(p.n_people, 1) + person[keep]


def _check_pairs(ds: Dataset, pairs: pd.DataFrame | None) -> None:
    if pairs is None or len(pairs) == 0:
        return
    for column in ("deal_id", "person_id"):
        if column not in pairs.columns:
            raise ValueError(f"pairs: missing column {column!r} (needs deal_id and person_id)")
        if pairs[column].isna().any():
            pos = int(np.flatnonzero(pairs[column].isna().to_numpy())[0])
            raise ValueError(f"pairs: row {pos}: {column} is empty")
    known = pairs["deal_id"].astype("string").isin(ds.deals["deal_id"].astype("string")).to_numpy()
    if not known.all():
        pos = int(np.flatnonzero(~known)[0])
        raise ValueError(f"pairs: row {pos}: deal_id {pairs['deal_id'].iloc[pos]!r} is not in deals")


# Below this many event rows threads cost more than they save (one deal for the scoring API: ~500 rows).
PARALLEL_MIN_EVENTS = 100_000


def _run_all(
    workers: int, tasks: tuple[tuple[str, Callable[[], dict[str, np.ndarray]]], ...]
) -> dict[str, tuple[dict[str, np.ndarray], float]]:
    """Run independent feature families, in `workers` threads (numpy and Arrow release the GIL in their heavy
    loops); returns {name: (features, wall seconds)} in task order, whatever the completion order."""

    def timed(fn: Callable[[], dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], float]:
        t = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t

    if workers <= 1:
        return {name: timed(fn) for name, fn in tasks}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(timed, fn) for name, fn in tasks}
        return {name: future.result() for name, future in futures.items()}


def build_features(
    ds: Dataset,
    *,
    as_of: pd.Timestamp | str | None = None,
    pairs: pd.DataFrame | None = None,
    timings: FeatureTimings | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """One row per (deal, buyer- or partner-side person) active in the deal before `as_of`, plus `pairs`.

    ds: a dataset in the contract. as_of: tz-aware timestamp (or ISO 8601 text); None = all events. pairs:
    optional extra (deal_id, person_id) rows (other columns are ignored), e.g. labelled people without activity,
    who get zero-activity rows; pairs on seller-side people, or on deals created at/after as_of, get no row.
    Returns deal_id, person_id, account_id (the deal's account), then FEATURE_COLUMNS as float64, sorted by
    deal_id, person_id. NaN means "undefined" (see FEATURE_DOCS), never "unknown because of an error".
    Unknown ids referenced by events raise ValueError naming the table, row and field. n_jobs: threads for
    large inputs (default: up to 2; small inputs such as one scoring request always run in the calling thread).
    """
    from influence.features import _graph, _tabular
    from influence.features._prepare import prepare

    t0, c0 = time.perf_counter(), time.process_time()
    as_of_ts = parse_as_of(as_of)
    _check_pairs(ds, pairs)
    p = prepare(ds, as_of_ts, n_jobs=n_jobs)
    participants = _tabular.participation_keys(p)
    rows = _tabular.make_rows(p, participants, _pair_keys(pairs, p))
    first_seen = _tabular.first_seen(p, rows)
    t1, c1 = time.perf_counter(), time.process_time()

    n_events = len(p.part_mtg) + len(p.msg_deal) + len(p.rec_msg) + len(p.sig_person)
    workers = 1 if n_events < PARALLEL_MIN_EVENTS else max(1, n_jobs or min(2, os.cpu_count() or 1))
    features: dict[str, np.ndarray] = {}
    parts: dict[str, float] = {}
    for name, (values, seconds) in _run_all(
        workers,
        (
            ("meetings", lambda: _tabular.meetings(p, rows)),
            ("email", lambda: _tabular.email(p, rows)),
            ("title", lambda: _tabular.title(p, rows)),
            ("signals", lambda: _tabular.signals(p, rows, _tabular.first_seller_contact(p))),
            ("external", lambda: _tabular.external(p, rows)),
            ("history", lambda: _tabular.history(p, rows, first_seen)),
            ("timing", lambda: _tabular.timing(p, rows, first_seen)),
            ("context", lambda: _tabular.context(p, rows, participants)),
        ),
    ).items():
        features.update(values)
        parts[name] = seconds
    t2, c2 = time.perf_counter(), time.process_time()
    for name, (values, seconds) in _run_all(workers, _graph.network_tasks(p, rows)).items():
        features.update(values)
        parts[f"graph_{name}"] = seconds
    t3, c3 = time.perf_counter(), time.process_time()
    features.update(_tabular.relative(features, rows, p.n_deals))

    ids = {
        "deal_id": pd.arrays.ArrowStringArray(p.deal_ids.take(pa.array(rows.deal))),
        "person_id": pd.arrays.ArrowStringArray(p.person_ids.take(pa.array(rows.person))),
        "account_id": pd.arrays.ArrowStringArray(p.account_ids.take(pa.array(p.deal_account[rows.deal]))),
    }
    frame = _feature_frame(ids, features, rows.n)
    if timings is not None:
        timings.prepare, timings.tabular, timings.graph = t1 - t0, t2 - t1, t3 - t2
        timings.parts = parts
        timings.cpu = {"prepare": c1 - c0, "tabular": c2 - c1, "graph": c3 - c2}
    return frame


@functools.cache
def _frame_columns() -> pd.Index:
    return pd.Index([*KEY_COLUMNS, *FEATURE_COLUMNS])


def _feature_frame(ids: dict[str, Any], features: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    """The output frame: the id columns (Arrow strings), then FEATURE_COLUMNS as one float64 block.

    The block is filled row by row and handed to pandas as it is (`create_dataframe_from_blocks`, pandas >= 3):
    the same frame, block for block, as `pd.DataFrame` from the columns gives (one float64 block after the ids,
    which `predict` reads as the feature matrix), without pandas grouping 107 arrays by dtype and stacking them
    (~0.2 ms of a one-deal request). Older pandas take the column constructor."""
    block = np.empty((len(FEATURE_COLUMNS), n), np.float64)
    for i, column in enumerate(FEATURE_COLUMNS):
        block[i] = features[column]
    try:
        from pandas.api.internals import create_dataframe_from_blocks
    except ImportError:  # pragma: no cover - pandas < 3
        columns: dict[str, Any] = dict(ids)
        columns.update(zip(FEATURE_COLUMNS, block, strict=True))
        return frame_of_columns(columns, n)
    blocks: list[tuple[Any, np.ndarray]] = [(ids[key], np.array([i])) for i, key in enumerate(KEY_COLUMNS)]
    blocks.append((block, np.arange(len(KEY_COLUMNS), len(KEY_COLUMNS) + len(FEATURE_COLUMNS))))
    return create_dataframe_from_blocks(blocks, index=pd.RangeIndex(n), columns=_frame_columns())


def features_markdown() -> str:
    """The feature catalogue as Markdown tables, one per group (the generated part of docs/features.md)."""
    lines: list[str] = []
    for group, names in FEATURE_GROUPS.items():
        lines += [f"### {group}", "", "| feature | definition |", "|---|---|"]
        lines += [
            f"| `{name}` | {FEATURE_DOCS[name]}{' (monotone +)' if name in MONOTONE_INCREASING else ''} |"
            for name in names
        ]
        lines.append("")
    return "\n".join(lines)


DOC_BEGIN = "<!-- features:begin (generated from FEATURE_DOCS: python -m influence.features) -->"
DOC_END = "<!-- features:end -->"


def render_features_doc(text: str) -> str:
    """`text` (docs/features.md) with the block between the generated-section markers rewritten."""
    start, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if start < 0 or end < start:
        raise ValueError(f"docs/features.md needs the markers {DOC_BEGIN!r} and {DOC_END!r}")
    return text[: start + len(DOC_BEGIN)] + "\n\n" + features_markdown() + "\n" + text[end:]
