"""The scoring service behind the routes: body -> contract frames -> validation -> `predict.Scorer` -> answer.

No scoring logic lives here: a deal body becomes a one-deal dataset in the contract and goes through
`influence.data.validate_frames` and `Scorer.score_dataset`, exactly like a dataset folder does in batch scoring;
precomputed feature rows go through the Scorer's numpy fast path.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from influence.api._errors import ApiProblem, InvalidRequest
from influence.api._schemas import BODY_TABLES, DealScoreRequest, PeopleScoreRequest
from influence.api._settings import ApiSettings
from influence.contract import PROFILES

if TYPE_CHECKING:
    import pandas as pd

    from influence.bundle import ModelBundle
    from influence.data import TypedColumns
    from influence.predict import Scorer

__all__ = ["ScoringService", "deal_frames", "deal_tables", "load_service"]


@dataclass
class ScoringService:
    """The loaded model and what the routes need to answer with it."""

    settings: ApiSettings
    bundle: ModelBundle
    scorer: Scorer
    loaded_at: float = field(default_factory=time.time)

    @property
    def model_version(self) -> str:
        return f"{self.bundle.name}/{self.bundle.version}"

    # -- /v1/model ----------------------------------------------------------------------------------------------
    def model_info(self) -> dict[str, Any]:
        meta = self.bundle.metadata
        return {
            "model_version": self.model_version,
            "name": self.bundle.name,
            "version": self.bundle.version,
            "trained_at": self.bundle.created,
            "source": self.settings.model,
            "metrics": meta.get("metrics", {}),
            "features": list(self.bundle.feature_columns),
            "profiles": list(self.bundle.profile_classes),
            "key_threshold": self.bundle.key_threshold,
            "library_versions": {
                k: meta[k] for k in ("python", "scikit_learn", "numpy", "pandas") if k in meta
            },
        }

    # -- /v1/deals/score ----------------------------------------------------------------------------------------
    def check_deal_size(self, request: DealScoreRequest) -> None:
        limit = self.settings.max_people
        if len(request.people) > limit:
            raise InvalidRequest(
                [
                    ApiProblem(
                        ("body", "people"),
                        f"{len(request.people)} people is more than the limit of {limit} per request "
                        "(INFLUENCE_MAX_PEOPLE)",
                        "too_long",
                    )
                ]
            )

    def score_deal(self, request: DealScoreRequest) -> dict[str, Any]:
        """Validate the deal like a dataset folder, then score it; raises InvalidRequest naming JSON paths."""
        import pandas as pd

        from influence.data import validate_frames

        self.check_deal_size(request)
        if request.as_of is not None and request.as_of <= request.deal.created_at:
            # Features only see deals created before as_of: this one did not exist yet.
            raise InvalidRequest(
                [
                    ApiProblem(
                        ("body", "as_of"),
                        f"as_of {request.as_of.isoformat()} is not after the deal's created_at "
                        f"{request.deal.created_at.isoformat()}: the deal did not exist yet, so there is "
                        "nothing to score",
                        "as_of",
                    )
                ]
            )
        tables, synthesized = deal_tables(request)
        dataset, report = validate_frames(tables, sources=_SOURCES)
        warnings: list[str] = []
        # A clean body (the usual case) has nothing to report: reading the report's problems as objects costs
        # ~0.5 ms even when there are none (pandas builds a namedtuple class per itertuples call).
        if len(report.problems_frame):
            if not report.ok:
                raise InvalidRequest(_report_problems(report, synthesized))
            warnings = [p.format() for p in report.warnings if not (synthesized and p.table == "accounts")]
        as_of = None if request.as_of is None else pd.Timestamp(request.as_of).tz_convert("UTC")
        result = self.scorer.score_dataset(dataset, as_of=as_of)
        return {"model_version": self.model_version, **_deal_answer(result, request), "warnings": warnings}

    # -- /v1/people/score ---------------------------------------------------------------------------------------
    def score_people(self, request: PeopleScoreRequest) -> dict[str, Any]:
        """Score precomputed feature rows with the numpy fast path; raises InvalidRequest for unknown/missing names."""
        import numpy as np

        limit = self.settings.max_rows
        if len(request.rows) > limit:
            raise InvalidRequest(
                [
                    ApiProblem(
                        ("body", "rows"),
                        f"{len(request.rows)} rows is more than the limit of {limit} per request "
                        "(INFLUENCE_MAX_ROWS)",
                        "too_long",
                    )
                ]
            )
        names = self.bundle.feature_columns
        known = self._feature_index
        problems: list[ApiProblem] = []
        matrix = np.full((len(request.rows), len(names)), np.nan)
        for i, row in enumerate(request.rows):
            features = row.features
            if len(features) != len(names) or any(n not in known for n in features):
                unknown = [n for n in features if n not in known]
                for name in unknown:
                    problems.append(
                        ApiProblem(
                            ("body", "rows", i, "features", name), "unknown feature name", "unknown_feature"
                        )
                    )
                missing = [n for n in names if n not in features]
                if missing:
                    problems.append(
                        ApiProblem(
                            ("body", "rows", i, "features"),
                            f"missing feature(s): {', '.join(missing)} (send null for a missing value)",
                            "missing_feature",
                        )
                    )
                continue
            matrix[i] = [math.nan if features[n] is None else features[n] for n in names]
        if problems:
            raise InvalidRequest(problems)
        titles = [row.title for row in request.rows] if request.explain else None
        scored = self.scorer.score_rows(matrix, titles=titles, explain=request.explain)
        rows = [
            {
                "person_id": row.person_id,
                "deal_id": row.deal_id,
                "influence": s["influence"],
                "profile": s["profile"],
                "profile_confidence": s["profile_confidence"],
                "profile_probabilities": s["probabilities"],
                "method": s["method"],
                "reasons": s.get("reasons"),
            }
            for row, s in zip(request.rows, scored, strict=True)
        ]
        return {"model_version": self.model_version, "rows": rows}

    @cached_property
    def _feature_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.bundle.feature_columns)}


def load_service(settings: ApiSettings, bundle: ModelBundle | None = None) -> ScoringService:
    """Load (and verify) the model named by the settings, unless a bundle is given, and wrap it in a Scorer."""
    from influence.bundle import load_bundle
    from influence.predict import Scorer

    bundle = bundle if bundle is not None else load_bundle(settings.model)
    return ScoringService(settings=settings, bundle=bundle, scorer=Scorer(bundle))


# -- body -> contract frames --------------------------------------------------------------------------------------
# Where each contract table comes from in the body, for the validator's messages.
_SOURCES = {t: k for k, t in BODY_TABLES.items()}


def deal_frames(request: DealScoreRequest) -> tuple[dict[str, pd.DataFrame], bool]:
    """The body as contract tables, ready for `validate_frames`. Returns the frames and whether `accounts` was
    synthesized (see `deal_tables`)."""
    tables, synthesized = deal_tables(request)
    return {name: table.frame() for name, table in tables.items()}, synthesized


def deal_tables(request: DealScoreRequest) -> tuple[dict[str, TypedColumns], bool]:
    """The body as contract tables of ready columns (`data.TypedColumns`, what `validate_frames` takes without a
    frame per table built first and read back). Returns the tables and whether `accounts` was synthesized.

    Without `accounts`, the deal's account is taken as known and named by its id, so the references from the deal
    (and from people of that account) hold; people of any other account then need `accounts` in the body.

    Columns are built straight from the pydantic rows in the contract's canonical dtypes (Arrow large strings
    with NA, float64, boolean, datetime64[ns, UTC]): the validator recognises them as typed and runs its rules
    without casting, and pandas never infers the type of an object column (on a 30-person body that inference
    was most of this step).
    """
    from influence.contract import TABLES
    from influence.data import TypedColumns

    deal = request.deal
    synthesized = request.accounts is None
    tables: dict[str, TypedColumns] = {}
    for key, table in BODY_TABLES.items():
        if key == "deal":
            items: list[Any] = [deal]
        elif key == "accounts" and synthesized:
            items = []
        else:
            items = list(getattr(request, key) or ())
        columns: dict[str, list[Any]] = {}
        # A pydantic row keeps every field in its __dict__: a dict lookup is a third of an attribute lookup,
        # which walks the model's classes first (thousands of values per body).
        rows = [item.__dict__ for item in items]
        for column in TABLES[table].columns:
            name = column.name
            values = [row[name] for row in rows]
            if name == "deal_id" and key in ("meetings", "emails"):
                values = [deal.deal_id if v is None else v for v in values]
            columns[name] = values
        tables[table] = TypedColumns(_typed_columns(table, columns), len(items))
    if synthesized:
        synthetic = {
            c.name: [deal.account_id if c.name in ("account_id", "name") else None]
            for c in TABLES["accounts"].columns
        }
        tables["accounts"] = TypedColumns(_typed_columns("accounts", synthetic), 1)
    return tables, synthesized


def _typed_columns(table: str, columns: dict[str, list[Any]]) -> dict[str, Any]:
    """Python values of one table (already checked by pydantic: str, float, bool, aware datetime or None) as the
    contract's canonical arrays."""
    import numpy as np
    import pandas as pd

    from influence.contract import TABLES
    from influence.data import _string_array

    out: dict[str, Any] = {}
    for column in TABLES[table].columns:
        values = columns[column.name]
        if column.dtype == "string":
            out[column.name] = _string_array(values)
        elif column.dtype == "timestamp":
            out[column.name] = _utc_timestamps(values)
        elif column.dtype == "float":
            out[column.name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif column.dtype == "bool":
            out[column.name] = pd.arrays.BooleanArray(
                np.array([v is True for v in values], dtype=bool),
                np.array([v is None for v in values], dtype=bool),
            )
        else:
            raise ValueError(
                f"no API conversion for {table}.{column.name} of contract dtype {column.dtype!r}"
            )
    return out


def _utc_timestamps(values: list[dt.datetime | None]) -> Any:
    """tz-aware datetimes (any offset; None allowed) as datetime64[ns, UTC], exactly: Arrow converts each value
    to UTC integer microseconds through its own offset (as `(v - epoch) // 1 us` would, at half the cost)."""
    import pandas as pd
    import pyarrow as pa

    if os.environ.get("PYARROW_IGNORE_TIMEZONE", False):
        # Importing pyspark.pandas or pandera sets this for the whole process, and Arrow then reads tz-aware
        # datetimes as wall-clock time, dropping the offset (a +05:30 time came out 5.5 hours late). Hand Arrow
        # UTC wall-clock times instead; this is the test Arrow itself applies at every conversion.
        values = [None if v is None else (v - v.utcoffset()).replace(tzinfo=None) for v in values]  # type: ignore[operator]
    micros = pa.array(values, type=pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)
    nanos = micros.astype("datetime64[ns]")
    dtype = _utc_dtype()
    # pandas' own constructor for ready UTC nanoseconds (private, hence the fallback): `pd.array` re-checks and
    # re-localises them for ~25 us a column, five timestamp columns per deal body.
    simple_new = getattr(pd.arrays.DatetimeArray, "_simple_new", None)
    if simple_new is not None:
        return simple_new(nanos, dtype=dtype)
    return pd.array(nanos, dtype=dtype)


@functools.cache
def _utc_dtype() -> Any:
    """datetime64[ns, UTC]: built once (constructing the dtype looks the time zone up, ~30 us a call)."""
    import pandas as pd

    return pd.DatetimeTZDtype("ns", "UTC")


def _report_problems(report: Any, synthesized: bool) -> list[ApiProblem]:
    """Validation problems (errors) as JSON paths into the body, e.g. body.email_recipients[3].person_id."""
    key_of = {t: k for k, t in BODY_TABLES.items()}
    out: list[ApiProblem] = []
    for p in report.errors:
        key = key_of.get(p.table, p.table)
        if synthesized and key == "accounts":
            loc: tuple[str | int, ...] = ("body", "deal", "account_id")
        elif key == "deal":
            loc = ("body", "deal") + ((p.column,) if p.column else ())
        else:
            loc = ("body", key)
            if p.row is not None:
                loc += (int(p.row),)
            if p.column:
                loc += (p.column,)
        out.append(ApiProblem(loc, p.message, "contract"))
    return out


def _people_fields(records: list[dict[str, Any]], profiles: tuple[str, ...]) -> list[dict[str, Any]]:
    """Scored rows (with p_<profile> columns) as the API's person fields, each profile's probability in one object.
    The values are JSON-ready already (`ScoreResult.deal_report` converts every one), so they are moved, not
    converted again; the key lists are worked out once for rows sharing their keys (one table's rows)."""
    out: list[dict[str, Any]] = []
    layout: tuple[tuple[str, ...], list[str], list[tuple[str, str]]] | None = None
    for record in records:
        keys = tuple(record)
        if layout is None or layout[0] != keys:
            plain = [k for k in keys if not k.startswith("p_")]
            probabilities = [(p, f"p_{p}") for p in profiles if f"p_{p}" in record]
            layout = (keys, plain, probabilities)
        _, plain, probabilities = layout
        person = {k: record[k] for k in plain}
        person["profile_probabilities"] = {p: record[column] for p, column in probabilities}
        if "reasons" in person and person["reasons"] is not None:
            person["reasons"] = [str(r) for r in person["reasons"]]
        out.append(person)
    return out


def _deal_answer(result: Any, request: DealScoreRequest) -> dict[str, Any]:
    """`ScoreResult.deal_report` of the body's deal (JSON-ready), with each person's profile probabilities as one
    object."""
    report = result.deal_report(request.deal.deal_id)
    profiles = tuple(PROFILES)
    people = _people_fields(report.get("people", []), profiles)
    as_of = report.get("as_of")
    return {
        "deal_id": report["deal_id"],
        "account_id": report.get("account_id") or request.deal.account_id,
        "as_of": None
        if as_of is None
        else (as_of.isoformat() if hasattr(as_of, "isoformat") else str(as_of)),
        "engagement_assessable": bool(report.get("engagement_assessable", False)),
        "people": people,
        "coverage": list(report.get("coverage", [])),
        "gaps": [str(g) for g in report.get("gaps", [])],
        "next_best_contacts": list(report.get("next_best_contacts", [])),
    }
