"""Turn the generator's column lists into contract tables (pyarrow, then pandas) and stream them to disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from influence.contract import PROFILES, TABLE_ORDER, TABLES, Dataset
from influence.generate import _vocab as V
from influence.generate._config import GeneratorConfig
from influence.generate._world import (
    MEETING_KINDS,
    RECIPIENT_KINDS,
    RESPONSES,
    SIDES,
    SIGNAL_KINDS,
    Columns,
    Team,
    generate_account,
    make_team,
)

_PA_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("ns", tz="UTC"),
}
# Codes stored while generating, and the strings they stand for.
_CODES: dict[tuple[str, str], tuple[str, ...]] = {
    ("meetings", "kind"): MEETING_KINDS,
    ("meeting_attendees", "response"): RESPONSES,
    ("email_recipients", "kind"): RECIPIENT_KINDS,
    ("signals", "kind"): SIGNAL_KINDS,
    ("labels", "profile"): PROFILES,
    ("truth", "profile"): PROFILES,
    ("truth", "label_profile"): PROFILES,
    ("truth", "side"): SIDES,
    ("truth", "function"): V.FUNCTIONS,
}
TRUTH_COLUMNS: dict[str, str] = {
    "deal_id": "Deal.",
    "person_id": "DMU member (buyer or external advisor).",
    "account_id": "Buying account of the deal.",
    "side": "buyer or partner.",
    "profile": "True DMU profile.",
    "influence": "Latent influence in [0, 1] (labels add noise to it).",
    "is_key": "influence >= 0.5.",
    "seniority_level": "True seniority 1-6 on the shared scale (docs/architecture.md).",
    "function": "True function (department family); 'other' for advisors.",
    "title": "The title as written in people.title (None when missing).",
    "active": "False for DMU members with no activity at all.",
    "met_early": "Our team met or e-mailed them in the first third of the deal (before capture loss).",
    "meetings_invited": "Meetings they were invited to (all held meetings).",
    "captured_meetings_invited": "The same, counting captured meetings only.",
    "emails_sent": "E-mails they sent (all).",
    "captured_emails_sent": "E-mails they sent that were captured.",
    "emails_received": "E-mails they received as to/cc (all).",
    "captured_emails_received": "The same, captured only.",
    "signals": "Digital signals generated for them in this deal.",
    "labelled": "The deal is closed, so labels exist.",
    "label_influence": "Influence label (latent + noise, clipped); written to labels only when labelled.",
    "label_profile": "Profile label (wrong with probability profile_label_error_rate).",
    "profile_label_wrong": "The written profile label differs from the true profile.",
    "deal_outcome": "won, lost or open.",
    "deal_engaged_share": "Influence-weighted share of key people our team met in the first third.",
    "deal_focus": "Latent quality of our team's early targeting in this deal (0-1).",
    "evidence": "What the account's export holds: full, header_only or mailbox (docs/synthetic-data.md).",
}
_TRUTH_TYPES = {
    "deal_id": pa.string(),
    "person_id": pa.string(),
    "account_id": pa.string(),
    "side": pa.string(),
    "profile": pa.string(),
    "influence": pa.float64(),
    "is_key": pa.bool_(),
    "seniority_level": pa.int64(),
    "function": pa.string(),
    "title": pa.string(),
    "active": pa.bool_(),
    "met_early": pa.bool_(),
    "labelled": pa.bool_(),
    "label_influence": pa.float64(),
    "label_profile": pa.string(),
    "profile_label_wrong": pa.bool_(),
    "deal_outcome": pa.string(),
    "deal_engaged_share": pa.float64(),
    "deal_focus": pa.float64(),
    "evidence": pa.string(),
}


def schema(table: str) -> pa.Schema:
    """The Arrow schema of a contract table as the generator writes it."""
    return pa.schema(
        [pa.field(c.name, _PA_TYPES[c.dtype], nullable=c.nullable) for c in TABLES[table].columns]
    )


def _concat(parts: list) -> np.ndarray:
    arrays = [np.asarray(p, dtype=object) if isinstance(p, list) else p for p in parts]
    return np.concatenate(arrays) if arrays else np.array([], dtype=object)


def _column(table: str, name: str, values: np.ndarray, typ: pa.DataType) -> pa.Array:
    vocab = _CODES.get((table, name))
    if vocab is not None:
        values = np.asarray(vocab, dtype=object)[values.astype(np.int64)]
    if pa.types.is_timestamp(typ):
        seconds = values.astype(np.float64)
        mask = np.isnan(seconds)
        ns = np.where(mask, 0, np.floor(np.nan_to_num(seconds))).astype(np.int64) * 1_000_000_000
        return pa.array(ns, type=typ, mask=mask)
    if table == "meeting_attendees" and name == "attended":
        return pa.array(values == 1, type=pa.bool_(), mask=values < 0)
    if pa.types.is_string(typ):
        return pa.array(values, type=pa.string(), from_pandas=True)
    return pa.array(values, type=typ, from_pandas=True)


def _signal_details(kind: np.ndarray, u: np.ndarray) -> np.ndarray:
    out = np.empty(len(kind), dtype=object)
    for code, name in enumerate(SIGNAL_KINDS):
        sel = np.flatnonzero(kind == code)
        options = np.asarray(V.SIGNAL_DETAILS[name], dtype=object)
        out[sel] = options[np.minimum((u[sel] * len(options)).astype(int), len(options) - 1)]
    return out


def _to_arrow(cols: Columns, with_truth: bool) -> dict[str, pa.Table]:
    tables: dict[str, pa.Table] = {}
    for name in (*TABLE_ORDER, "truth"):
        if name == "truth" and not with_truth:
            continue
        store = cols.data.get(name, {})
        if name == "signals" and store:
            kinds = _concat(store["kind"]).astype(np.int64)
            store = {
                **store,
                "kind": [kinds],
                "detail": [_signal_details(kinds, _concat(store["detail_u"]).astype(float))],
            }
        if name == "truth":
            fields = [(c, _TRUTH_TYPES.get(c, pa.int64())) for c in TRUTH_COLUMNS]
        else:
            fields = [(f.name, f.type) for f in schema(name)]
        arrays = []
        for col, typ in fields:
            if col in store:
                arrays.append(_column(name, col, _concat(store[col]), typ))
            else:
                arrays.append(pa.array([], type=typ))
        sch = schema(name) if name != "truth" else pa.schema([pa.field(c, t) for c, t in fields])
        tables[name] = pa.Table.from_arrays(arrays, schema=sch)
    return tables


def _chunk(
    lo: int,
    hi: int,
    n_accounts: int,
    seed: int,
    cfg: GeneratorConfig,
    with_truth: bool,
    team: Team | None = None,
) -> dict[str, pa.Table]:
    """Accounts lo..hi-1 as Arrow tables (chunk 0 also holds our sales team and the advisor pool)."""
    team = team or make_team(n_accounts, seed, cfg)
    now = pd.Timestamp(cfg.now).tz_convert("UTC").timestamp()
    cols = Columns()
    if lo == 0:
        cols.add("people", **team.people)
    for index in range(lo, hi):
        generate_account(index, seed, cfg, team, now, cols)
    return _to_arrow(cols, with_truth)


def iter_chunks(
    n_accounts: int,
    seed: int,
    config: GeneratorConfig | None = None,
    *,
    chunk_size: int = 500,
    with_truth: bool = False,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Iterator[dict[str, pa.Table]]:
    """Yield {table: pyarrow.Table} for consecutive chunks of accounts, in order (the first chunk also holds our
    sales team and the advisor pool). `progress(n)` is called with the number of accounts just finished.

    With `workers > 1` chunks are generated in that many processes; at most `workers + 1` chunks are in flight,
    so memory stays bounded, and the output is identical to `workers=1`."""
    if n_accounts < 1:
        raise ValueError(f"n_accounts must be at least 1, got {n_accounts}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    cfg = config or GeneratorConfig()
    bounds = [(lo, min(n_accounts, lo + chunk_size)) for lo in range(0, n_accounts, chunk_size)]
    if workers == 1 or len(bounds) == 1:
        team: Team = make_team(n_accounts, seed, cfg)
        for lo, hi in bounds:
            chunk = _chunk(lo, hi, n_accounts, seed, cfg, with_truth, team)
            if progress is not None:
                progress(hi - lo)
            yield chunk
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        todo = iter(bounds)
        for lo, hi in todo:
            pending.append((hi - lo, pool.submit(_chunk, lo, hi, n_accounts, seed, cfg, with_truth)))
            if len(pending) > workers:
                break
        while pending:
            size, future = pending.popleft()
            chunk = future.result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(
                    (nxt[1] - nxt[0], pool.submit(_chunk, nxt[0], nxt[1], n_accounts, seed, cfg, with_truth))
                )
            if progress is not None:
                progress(size)
            yield chunk


_PD_TYPES = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_PD_TYPES.get)


def generate_with_truth(
    n_accounts: int,
    seed: int,
    config: GeneratorConfig | None = None,
    *,
    chunk_size: int = 500,
    workers: int = 1,
) -> tuple[Dataset, pd.DataFrame]:
    """A contract dataset and its truth (one row per (deal_id, person_id) in a DMU; see `TRUTH_COLUMNS`).

    The truth is never part of the dataset; keep it out of any dataset folder."""
    parts: dict[str, list[pa.Table]] = {}
    for chunk in iter_chunks(
        n_accounts, seed, config, chunk_size=chunk_size, with_truth=True, workers=workers
    ):
        for name, table in chunk.items():
            parts.setdefault(name, []).append(table)
    frames = {name: _to_pandas(pa.concat_tables(tabs)) for name, tabs in parts.items()}
    truth = frames.pop("truth")
    return Dataset.from_frames(frames), truth


def generate(
    n_accounts: int,
    seed: int,
    config: GeneratorConfig | None = None,
    *,
    chunk_size: int = 500,
    workers: int = 1,
) -> Dataset:
    """A synthetic contract dataset of `n_accounts` accounts, deterministic for `seed` (see docs/synthetic-data.md)."""
    return generate_with_truth(n_accounts, seed, config, chunk_size=chunk_size, workers=workers)[0]


def _csv_text(table: pa.Table) -> pd.DataFrame:
    frame = _to_pandas(table)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            # The same ISO 8601 form as contract.write_dataset: explicit +00:00 offset.
            frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return frame


def write_generated(
    out_dir: str | Path,
    n_accounts: int,
    seed: int,
    config: GeneratorConfig | None = None,
    *,
    fmt: Literal["parquet", "csv"] = "parquet",
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> dict[str, int]:
    """Stream a generated dataset to `out_dir/<table>.<fmt>`, a chunk of accounts at a time (bounded memory).

    Files are written under temporary names and renamed at the end, so an interrupted run never leaves tables
    that look complete; a table in the other format is removed. Returns rows written per table."""
    import pyarrow.parquet as pq

    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = {name: out / f".{name}.{fmt}.tmp" for name in TABLE_ORDER}
    writers: dict[str, pq.ParquetWriter] = {}
    counts = dict.fromkeys(TABLE_ORDER, 0)
    try:
        chunks = iter_chunks(
            n_accounts, seed, config, chunk_size=chunk_size, progress=progress, workers=workers
        )
        for chunk in chunks:
            for name in TABLE_ORDER:
                table = chunk[name]
                if fmt == "parquet":
                    if name not in writers:
                        writers[name] = pq.ParquetWriter(tmp[name], schema(name), compression="zstd")
                    writers[name].write_table(table)
                else:
                    first = counts[name] == 0 and not tmp[name].exists()
                    _csv_text(table).to_csv(tmp[name], mode="w" if first else "a", header=first, index=False)
                counts[name] += table.num_rows
    except BaseException:
        for writer in writers.values():
            writer.close()
        for path in tmp.values():
            path.unlink(missing_ok=True)
        raise
    for writer in writers.values():
        writer.close()
    other = "csv" if fmt == "parquet" else "parquet"
    for name in TABLE_ORDER:
        if tmp[name].exists():
            tmp[name].replace(out / f"{name}.{fmt}")
        (out / f"{name}.{other}").unlink(missing_ok=True)
    return counts
