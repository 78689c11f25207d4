"""Validation throughput: `influence.data.load_with_report` on a whole dataset folder, CSV and Parquet.

The peer is a plain read of the same files with pyarrow (no checks), measured in the same run, so the ratio says
what the checks cost on top of I/O. The realistic run uses the project's generator (1,000 accounts; 200 with
--quick); the scale run (full only) uses a vectorised synthetic fixture with the same tables (about 1,040 rows
per account: 10,000 accounts ~ 10M rows), because the generator is too slow to build that inside a benchmark.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from influence.bench import median_time, peak_rss_mib


def _synthetic(n_accounts: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A contract-valid dataset built with numpy: 20 people, 2 deals, 20 meetings x 5 invitees,
    200 e-mails x 3 recipients and 100 signals per account."""
    rng = np.random.default_rng(seed)
    a = np.arange(n_accounts)
    accounts = pd.DataFrame({"account_id": [f"A{i}" for i in a], "name": [f"Account {i}" for i in a]})
    p_acc = np.repeat(a, 20)
    p_ids = np.array([f"P{i}" for i in range(len(p_acc))])
    people = pd.DataFrame(
        {
            "person_id": p_ids,
            "account_id": accounts["account_id"].to_numpy()[p_acc],
            "email": [f"{p.lower()}@a{acc}.example" for p, acc in zip(p_ids, p_acc, strict=True)],
            "side": "buyer",
        }
    )
    d_acc = np.repeat(a, 2)
    n_deals = len(d_acc)
    created = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 300, n_deals), unit="D")
    deals = pd.DataFrame(
        {
            "deal_id": [f"D{i}" for i in range(n_deals)],
            "account_id": accounts["account_id"].to_numpy()[d_acc],
            "created_at": created,
            "closed_at": created + pd.Timedelta(days=120),
            "outcome": np.where(rng.random(n_deals) < 0.5, "won", "lost"),
            "amount": rng.gamma(2.0, 20000.0, n_deals),
        }
    )

    def activity(per_deal: int, prefix: str) -> tuple[pd.DataFrame, np.ndarray]:
        deal = np.repeat(np.arange(n_deals), per_deal)
        when = pd.DatetimeIndex(deals["created_at"])[deal] + pd.to_timedelta(
            rng.integers(0, 119 * 24, len(deal)), unit="h"
        )
        ids = np.array([f"{prefix}{i}" for i in range(len(deal))])
        return pd.DataFrame({"id": ids, "deal_id": deals["deal_id"].to_numpy()[deal], "when": when}), deal

    def person_of(deal: np.ndarray, k: int) -> np.ndarray:
        # k distinct people of the deal's account (offsets 0..k-1 rotated), so composite keys stay unique
        base = d_acc[deal] * 20
        return p_ids[base + (np.arange(len(deal)) % k + rng.integers(0, 20 - k + 1, len(deal))) % 20]

    m, m_deal = activity(10, "M")
    meetings = pd.DataFrame(
        {"meeting_id": m["id"], "deal_id": m["deal_id"], "start_at": pd.to_datetime(m["when"], utc=True)}
    )
    att_meeting = np.repeat(np.arange(len(m)), 5)
    slot = np.tile(np.arange(5), len(m))
    attendees = pd.DataFrame(
        {
            "meeting_id": m["id"].to_numpy()[att_meeting],
            "person_id": p_ids[d_acc[m_deal[att_meeting]] * 20 + slot * 4],
            "response": "accepted",
            "attended": rng.random(len(att_meeting)) < 0.8,
        }
    )
    e, e_deal = activity(100, "E")
    emails = pd.DataFrame(
        {
            "message_id": e["id"],
            "deal_id": e["deal_id"],
            "thread_id": "T" + (np.arange(len(e)) // 5).astype(str),
            "sent_at": pd.to_datetime(e["when"], utc=True),
            "sender_id": person_of(e_deal, 1),
        }
    )
    r_email = np.repeat(np.arange(len(e)), 3)
    slot = np.tile(np.arange(3), len(e))
    recipients = pd.DataFrame(
        {
            "message_id": e["id"].to_numpy()[r_email],
            "person_id": p_ids[d_acc[e_deal[r_email]] * 20 + 1 + slot * 6],
            "kind": np.array(["to", "cc", "bcc"])[slot],
        }
    )
    s_person = rng.integers(0, len(p_ids), n_accounts * 100)
    signals = pd.DataFrame(
        {
            "person_id": p_ids[s_person],
            "occurred_at": pd.Timestamp("2023-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 400 * 24, len(s_person)), unit="h"),
            "kind": "web_visit",
        }
    )
    return {
        "accounts": accounts,
        "people": people,
        "deals": deals,
        "meetings": meetings,
        "meeting_attendees": attendees,
        "emails": emails,
        "email_recipients": recipients,
        "signals": signals,
    }


def _dataset(n_accounts: int) -> tuple[Any, str]:
    """The project's generator when it is there (realistic shape), else the synthetic fixture."""
    try:
        from influence.generate import generate
    except ImportError:
        return _synthetic(n_accounts), "synthetic fixture (influence.generate not available)"
    return generate(n_accounts=n_accounts, seed=7), "influence.generate.generate"


def _plain_read(folder: Path) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    for f in sorted(folder.iterdir()):
        table = pq.read_table(f) if f.suffix == ".parquet" else pacsv.read_csv(f)
        rows += len(table.to_pandas())
    return rows


def _measure(dataset: Any, source: str, n_accounts: int, repeat: int) -> dict[str, Any]:
    """Validate `dataset` written as Parquet and as CSV; the peer is a plain pyarrow read of the same folder."""
    from influence.contract import write_dataset
    from influence.data import load_with_report

    result: dict[str, Any] = {"accounts": n_accounts, "source": source}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("parquet", "csv"):
            folder = write_dataset(dataset, Path(tmp) / fmt, fmt=fmt)  # type: ignore[arg-type]
            rows = _plain_read(folder)
            read_s, _ = median_time(lambda folder=folder: _plain_read(folder), repeat=repeat)
            reports: list[Any] = []
            validate_s, _ = median_time(
                lambda folder=folder, reports=reports: reports.append(load_with_report(folder)[1]), repeat
            )
            report = reports[-1]
            assert report.ok, report.format_problems(5)
            result[fmt] = {
                "rows": rows,
                "bytes": sum(f.stat().st_size for f in folder.iterdir()),
                "plain_read_s": round(read_s, 3),
                "validate_s": round(validate_s, 3),
                "rows_per_s": round(rows / validate_s),
                "validate_over_plain_read": round(validate_s / read_s, 2),
            }
    return result


def run(quick: bool) -> dict[str, Any]:
    """Validation throughput on a generated folder (both formats), at scale on the synthetic fixture
    (10,000 accounts ~ 10M rows; full run only), and per-call latency of `validate_frames` on one account."""
    from influence.contract import Dataset
    from influence.data import validate_frames

    n_accounts = 200 if quick else 1_000
    t0 = time.perf_counter()
    dataset, source = _dataset(n_accounts)
    result: dict[str, Any] = {"build_s": round(time.perf_counter() - t0, 2)}
    result["generated"] = _measure(dataset, source, n_accounts, repeat=3 if quick else 1)
    del dataset
    if not quick:
        # The generator is too slow to build 10M rows inside a benchmark; the fixture has the same tables.
        result["scale"] = _measure(_synthetic(10_000), "synthetic fixture", 10_000, repeat=1)

    # The API validates each request body with validate_frames: per-call latency on one account matters there.
    # Peer: only casting to canonical dtypes (Dataset.from_frames), no checks.
    one, _ = _dataset(1)
    frames = dict(one.tables) if isinstance(one, Dataset) else one
    validate_frames(frames)
    small_s, _ = median_time(lambda: validate_frames(frames), repeat=11)
    cast_s, _ = median_time(lambda: Dataset.from_frames(frames), repeat=11)
    result["one_account_frames"] = {
        "rows": int(sum(len(f) for f in frames.values())),
        "validate_frames_ms": round(small_s * 1000, 1),
        "cast_only_ms": round(cast_s * 1000, 1),
        "ratio": round(small_s / cast_s, 1),
    }
    result["small_body"] = _small_body(frames)
    result["peak_rss_mib"] = round(peak_rss_mib())
    return result


def _api_body_frames(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The /v1/deals/score body as the API hands it over (`api._service.deal_frames`): one deal with its people,
    meetings, e-mails and signals; text columns as Python objects, timestamps as datetime64[ns, UTC]."""
    deal_id = str(frames["deals"]["deal_id"].iloc[0])
    deals = frames["deals"].iloc[:1]
    meetings = frames["meetings"][frames["meetings"]["deal_id"] == deal_id]
    emails = frames["emails"][frames["emails"]["deal_id"] == deal_id]
    body = {
        "accounts": frames["accounts"],
        "people": frames["people"],
        "deals": deals,
        "meetings": meetings,
        "meeting_attendees": frames["meeting_attendees"][
            frames["meeting_attendees"]["meeting_id"].isin(meetings["meeting_id"])
        ],
        "emails": emails,
        "email_recipients": frames["email_recipients"][
            frames["email_recipients"]["message_id"].isin(emails["message_id"])
        ],
        "signals": frames["signals"],
    }
    out = {}
    for name, frame in body.items():
        columns: dict[str, Any] = {}
        for column in frame.columns:
            values = frame[column]
            if pd.api.types.is_string_dtype(values.dtype):
                columns[column] = np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
            else:
                columns[column] = (
                    values.to_numpy() if not isinstance(values.dtype, pd.DatetimeTZDtype) else values
                )
        out[name] = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    return out


def _cpu_and_wall(fn: Any, repeat: int) -> tuple[float, float]:
    """Median wall and median CPU (process time) seconds per call: CPU time is what a loaded machine distorts
    least, wall time is what a client sees."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def _small_body(frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """validate_frames on one API body. Peers in the same run: the cast alone (Dataset.from_frames) and the same
    validation with the column rules run through pandera (the reference implementation of those checks)."""
    from influence import data
    from influence.contract import Dataset

    body = _api_body_frames(frames)
    data.validate_frames(body)
    wall, cpu = _cpu_and_wall(lambda: data.validate_frames(body), 31)
    cast_wall, cast_cpu = _cpu_and_wall(lambda: Dataset.from_frames(body), 31)
    fast = data._check_columns
    data._check_columns = data._check_columns_pandera  # type: ignore[assignment]
    try:
        data.validate_frames(body)
        pandera_wall, pandera_cpu = _cpu_and_wall(lambda: data.validate_frames(body), 11)
    finally:
        data._check_columns = fast  # type: ignore[assignment]
    return {
        "rows": {k: len(v) for k, v in body.items()},
        "validate_frames_ms": {"wall": round(wall * 1000, 1), "cpu": round(cpu * 1000, 1)},
        "cast_only_ms": {"wall": round(cast_wall * 1000, 1), "cpu": round(cast_cpu * 1000, 1)},
        "with_pandera_column_checks_ms": {
            "wall": round(pandera_wall * 1000, 1),
            "cpu": round(pandera_cpu * 1000, 1),
        },
        "cpu_ratio_to_cast_only": round(cpu / cast_cpu, 1),
        "cpu_ratio_pandera_over_fast": round(pandera_cpu / cpu, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }
