"""Scoring: influence, DMU profile, reasons, engagement, coverage and next-best contacts for every person of a
deal, from a model bundle.

`Scorer(bundle)` copies the fitted trees once into numpy arrays (`fastpath.FastForest`) and then scores feature
rows without scikit-learn's per-call overhead; `score_dataset` runs the very same `build_features` as training,
so batch, API and training never disagree on a feature. Results name the model version.

People the model cannot apply to get a zero-label, network-only prior (`method == "prior"`), see
`network_prior` and docs/scoring.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from influence.contract import PROFILES, Dataset
from influence.data import _objects, _string_array
from influence.explain import render_reasons, top_features
from influence.fastpath import SKLEARN_MIN_ROWS, FastForest, compiled_walk_available

if TYPE_CHECKING:
    from influence.bundle import ModelBundle

__all__ = [
    "MIN_OBSERVED_SHARE",
    "PEOPLE_COLUMNS",
    "PROBA_COLUMNS",
    "ScoreResult",
    "Scorer",
    "network_prior",
]

PROBA_COLUMNS = [f"p_{p}" for p in PROFILES]
# The model is applied to a row when at least this share of its features is observed (not NaN); below that the
# trees would mostly follow their learnt missing-value branches, which says more about the gaps than the person.
MIN_OBSERVED_SHARE = 0.5
PEOPLE_COLUMNS = [
    "account_id",
    "deal_id",
    "person_id",
    "email",
    "full_name",
    "title",
    "influence",
    "influence_rank",
    "profile",
    "profile_confidence",
    *PROBA_COLUMNS,
    "method",
    "engagement",
    "seller_meetings",
    "seller_emails",
    "reasons",
]
_PRIOR_FEATURES = ("rel_net_pagerank", "rel_net_degree")
_BLOCK = 4096  # rows scored at once


@dataclass(frozen=True)
class _Table:
    """One result table before its frame: the column values (in frame order; arrays, lists, object Series, or
    None for a column that is all missing) and how to build the frame, on first use."""

    values: dict[str, Any]
    build: Callable[[], pd.DataFrame]


class ScoreResult:
    """Everything `Scorer.score_dataset` computes; frames are documented in docs/architecture.md ("Scoring").

    `score_dataset` builds the four frames lazily, on first access: one API deal only needs `deal_report`, which
    reads the same column values the frames are built from (a frame costs ~1 ms of pandas overhead per deal).
    A result built from frames (the constructor) reports from the frames.
    """

    def __init__(
        self,
        model_version: str,
        as_of: pd.Timestamp | None,
        engagement_assessable: bool,
        people: pd.DataFrame | None = None,
        coverage: pd.DataFrame | None = None,
        next_best_contacts: pd.DataFrame | None = None,
        deals: pd.DataFrame | None = None,
        contributions: pd.DataFrame | None = None,
        *,
        tables: Mapping[str, _Table] | None = None,
    ) -> None:
        self.model_version = model_version
        self.as_of = as_of
        self.engagement_assessable = engagement_assessable
        self.contributions = contributions
        self._frames: dict[str, pd.DataFrame | None] = {
            "people": people,
            "coverage": coverage,
            "next_best_contacts": next_best_contacts,
            "deals": deals,
        }
        self._tables: dict[str, _Table] = dict(tables or {})
        missing = [k for k, v in self._frames.items() if v is None and k not in self._tables]
        if missing:
            raise TypeError(f"ScoreResult needs the frame(s) {', '.join(missing)}")

    def _frame(self, name: str) -> pd.DataFrame:
        frame = self._frames[name]
        if frame is None:
            frame = self._frames[name] = self._tables[name].build()
        return frame

    @property
    def people(self) -> pd.DataFrame:
        """One row per scored person (PEOPLE_COLUMNS)."""
        return self._frame("people")

    @property
    def coverage(self) -> pd.DataFrame:
        """One row per (deal, non-peripheral profile) (coverage.COVERAGE_COLUMNS)."""
        return self._frame("coverage")

    @property
    def next_best_contacts(self) -> pd.DataFrame:
        """Up to k people per deal to engage next (coverage.NEXT_BEST_COLUMNS)."""
        return self._frame("next_best_contacts")

    @property
    def deals(self) -> pd.DataFrame:
        """One row per scored deal: deal_id, account_id, n_people, engagement_assessable, gaps."""
        return self._frame("deals")

    def __repr__(self) -> str:
        return (
            f"ScoreResult(model_version={self.model_version!r}, as_of={self.as_of!r}, "
            f"engagement_assessable={self.engagement_assessable!r})"
        )

    def deal_report(self, deal_id: str) -> dict[str, Any]:
        """One deal as JSON-ready dicts (NaN -> None); KeyError when the deal was not scored."""
        if self._tables:
            return self._report_from_tables(deal_id)
        at = _rows_of(self.deals, deal_id)
        if not len(at):
            raise KeyError(f"deal {deal_id!r} was not scored")
        deal = self.deals.iloc[int(at[0])]
        return {
            "deal_id": deal_id,
            "account_id": json_ready(deal["account_id"]),
            "model_version": self.model_version,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "engagement_assessable": self.engagement_assessable,
            "people": _records(self.people, _rows_of(self.people, deal_id)),
            "coverage": _records(self.coverage, _rows_of(self.coverage, deal_id)),
            "gaps": list(deal["gaps"]),
            "next_best_contacts": _records(
                self.next_best_contacts, _rows_of(self.next_best_contacts, deal_id)
            ),
        }

    def _report_from_tables(self, deal_id: str) -> dict[str, Any]:
        """`deal_report` from the column values, converted column by column (the same JSON as from the frames,
        tested)."""
        deals = self._tables["deals"].values
        at = _value_rows(deals["deal_id"], deal_id)
        if not len(at):
            raise KeyError(f"deal {deal_id!r} was not scored")
        first = at[:1]

        def records(name: str) -> list[dict[str, Any]]:
            values = self._tables[name].values
            return _column_records(values, _value_rows(values["deal_id"], deal_id))

        return {
            "deal_id": deal_id,
            "account_id": _json_column(deals["account_id"], first)[0],
            "model_version": self.model_version,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "engagement_assessable": self.engagement_assessable,
            "people": records("people"),
            "coverage": records("coverage"),
            "gaps": list(_column_list(deals["gaps"], first)[0]),
            "next_best_contacts": records("next_best_contacts"),
        }


def _rows_of(frame: pd.DataFrame, deal_id: str) -> np.ndarray:
    """Positions of the frame's rows of one deal (a boolean frame filter copies every column)."""
    return np.flatnonzero(frame["deal_id"].to_numpy(dtype=object, na_value=None) == deal_id)


def _column_list(values: Any, rows: np.ndarray) -> list[Any]:
    """The values at positions `rows` as a Python list (missing: None or NaN, as stored)."""
    if isinstance(values, pd.Series):
        values = values.to_numpy() if values.dtype == object else values.array
    if isinstance(values, np.ndarray):
        return values[rows].tolist()
    if isinstance(values, list):
        return [values[i] for i in rows.tolist()]
    # Convert, then pick: an Arrow `take` costs ~30 us per column, several times the conversion of a deal's rows.
    return _objects(values)[rows].tolist()


def _value_rows(values: Any, deal_id: str) -> np.ndarray:
    """Positions of one deal in a deal_id column's values."""
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        # The same comparison on the same objects, without first copying them out and back (~10 us a table).
        return np.flatnonzero(values == deal_id)
    everything = np.arange(len(values), dtype=np.intp)
    return np.flatnonzero(np.asarray(_column_list(values, everything), dtype=object) == deal_id)


def _json_column(values: Any, rows: np.ndarray) -> list[Any]:
    """`json_ready` of each value at `rows`, with the per-value work skipped for plain numeric arrays."""
    if values is None:
        return [None] * len(rows)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
        return values[rows].tolist()
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return [None if math.isnan(v) else v for v in values[rows].tolist()]
    return _json_values(_column_list(values, rows))


def _json_values(values: list[Any]) -> list[Any]:
    """`[json_ready(v) for v in values]`, with plain Python values (None, str, int, bool, float, lists of them:
    nearly every value of a result table) handled inline: json_ready's chain of type checks cost ~1 us per value,
    most of turning one API deal into JSON."""
    out = []
    for v in values:
        kind = type(v)
        if v is None or kind is str or kind is int or kind is bool:
            out.append(v)
        elif kind is float:
            out.append(None if v != v else v)
        elif kind is list:
            out.append(_json_values(v))
        else:
            out.append(json_ready(v))
    return out


def _column_records(values: Mapping[str, Any], rows: np.ndarray) -> list[dict[str, Any]]:
    """Rows `rows` of a table's column values as JSON-ready dicts, converted column by column."""
    names = list(values)
    columns = [_json_column(values[c], rows) for c in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def json_ready(value: Any) -> Any:
    """JSON-ready: NaN/NA/NaT -> None, numpy scalars -> Python, timestamps -> ISO 8601, containers recursively."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    return value


def _records(frame: pd.DataFrame, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Rows (all, or the positions `rows`) as JSON-ready dicts. One object matrix for the whole frame: per-row
    or per-column pandas access (`itertuples`, `items`) costs milliseconds for one deal."""
    names = [str(c) for c in frame.columns]
    values = frame.to_numpy(dtype=object)
    if rows is not None:
        values = values[np.asarray(rows, dtype=np.intp)]
    return [{c: json_ready(v) for c, v in zip(names, row, strict=True)} for row in values.tolist()]


def network_prior(X: np.ndarray, feature_columns: Sequence[str]) -> np.ndarray:
    """Zero-label, network-only prior in [0, 1]: the mean of the person's PageRank and degree relative to the
    deal's most central person (`rel_net_pagerank`, `rel_net_degree`), over whichever of the two is known; 0
    when neither is. A rank-like score, not a calibrated probability."""
    idx = [list(feature_columns).index(f) for f in _PRIOR_FEATURES if f in feature_columns]
    if not idx:
        return np.zeros(len(X))
    values = np.clip(X[:, idx], 0.0, 1.0)
    known = np.isfinite(values)
    total = np.where(known, values, 0.0).sum(axis=1)
    count = known.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


class Scorer:
    """Scores feature rows and datasets with one model bundle. Build once; read-only and thread-safe after."""

    def __init__(self, bundle: ModelBundle, *, n_reasons: int = 4) -> None:
        self.bundle = bundle
        self.n_reasons = n_reasons
        self.feature_columns: tuple[str, ...] = tuple(bundle.feature_columns)
        self.model_name = str(bundle.name)
        self.model_version = f"{bundle.name}/{bundle.version}"
        self.profiles: tuple[str, ...] = tuple(bundle.profile_classes)
        if tuple(self.profiles) != PROFILES:
            raise ValueError(
                f"bundle {self.model_version}: profile classes {self.profiles} differ from PROFILES"
            )
        self._influence = FastForest.from_estimator(bundle.influence_hgb)
        self._profile = FastForest.from_estimator(bundle.profile_hgb)
        for forest, what in ((self._influence, "influence"), (self._profile, "profile")):
            if forest.n_features != len(self.feature_columns):
                raise ValueError(
                    f"bundle {self.model_version}: the {what} model has {forest.n_features} features but the "
                    f"metadata lists {len(self.feature_columns)}"
                )
        positive = np.flatnonzero(np.asarray(self._influence.classes) == 1)
        if self._influence.n_outputs != 1 or len(positive) != 1:
            raise ValueError(
                f"bundle {self.model_version}: the influence model is not a binary 0/1 classifier"
            )
        # The profile model may know a subset of PROFILES (a profile never seen in training): map its columns.
        self._profile_cols = np.array([PROFILES.index(str(c)) for c in self._profile.classes], dtype=np.intp)
        self._column_index = {c: i for i, c in enumerate(self.feature_columns)}
        typical = self._influence.typical_thresholds()
        self._typical = {
            c: float(t) for c, t in zip(self.feature_columns, typical, strict=True) if np.isfinite(t)
        }
        # Warm up once: builds the lazily cached traversal and attribution tables now, not inside the first (maybe
        # concurrent) request. Two rows: one row and a few rows take different attribution paths.
        self._score_block(np.full((2, len(self.feature_columns)), np.nan), None, False, True)

    @classmethod
    def from_ref(cls, ref: str | Any | None = None, **kwargs: Any) -> Scorer:
        """Load a bundle (`models/<name>[/<version>]`, `models:/NAME@ALIAS`; default: the shipped model)."""
        from influence.bundle import load_bundle
        from influence.settings import default_model_path

        return cls(load_bundle(default_model_path() if ref is None else ref), **kwargs)

    # -- the numpy core -----------------------------------------------------------------------------------------
    def score_matrix(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated influence (n,) and profile probabilities (n, 10) for float64 rows in feature order."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        influence = self.bundle.calibrate_scores(self._influence.raw_margin(X)[:, 0])
        return influence, self._profile_proba(self._profile.predict_proba(X))

    def _profile_proba(self, proba: np.ndarray) -> np.ndarray:
        out = np.zeros((proba.shape[0], len(PROFILES)))
        out[:, self._profile_cols] = proba
        return out

    def _score_block(
        self, X: np.ndarray, extra: Sequence[Mapping[str, Any]] | None, explain: bool, want_contrib: bool
    ) -> dict[str, Any]:
        """Score in blocks of `_BLOCK` rows: the per-tree leaf arrays are (rows x ~1,300 trees), so blocks keep
        memory flat whatever the input size. The reason sentences are rendered once for all blocks (each distinct
        sentence once). `extra`: per row {"title": ...} for the templates (only the title is read)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if len(X) <= _BLOCK:
            merged = self._score_rows_block(X, explain, want_contrib)
        else:
            parts = [
                self._score_rows_block(X[s : s + _BLOCK], explain, want_contrib)
                for s in range(0, len(X), _BLOCK)
            ]
            merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        if explain:
            titles = None if extra is None else [e.get("title") for e in extra]
            merged["reasons"], merged["why"] = self._reasons(X, merged, titles)
        for key in [k for k in merged if k.startswith("_")]:
            del merged[key]
        return merged

    def _score_rows_block(self, X: np.ndarray, explain: bool, want_contrib: bool) -> dict[str, Any]:
        n = len(X)
        if not explain and not want_contrib and n >= SKLEARN_MIN_ROWS:
            # No leaves needed. Scored as scikit-learn's own predict (the answers of this path always were): its
            # summation order, its softmax; the compiled walk does it at about half the CPU.
            loss = getattr(self.bundle.profile_hgb, "_loss", None)
            if compiled_walk_available() and loss is not None:
                raw = self._influence.raw_margin_sklearn_order(X)[:, 0]
                proba_model = loss.predict_proba(self._profile.raw_margin_sklearn_order(X))
            else:
                raw = self.bundle.influence_hgb.decision_function(X)
                proba_model = self.bundle.profile_hgb.predict_proba(X)
            influence = self.bundle.calibrate_scores(np.asarray(raw, dtype=np.float64).ravel())
            leaves_i = leaves_p = None
        else:
            # One pass per model gives the leaves (for the attributions) and the margins.
            leaves_i, raw_i = self._influence.walk(X)
            influence = self.bundle.calibrate_scores(raw_i[:, 0])
            leaves_p, raw_p = self._profile.walk(X)
            proba_model = self._profile.proba_from_margin(raw_p)
        proba = self._profile_proba(proba_model)
        best_model = np.argmax(proba_model, axis=1)  # first maximum: deterministic tie-break
        profile = np.asarray(PROFILES, dtype=object)[self._profile_cols[best_model]]
        confidence = proba_model[np.arange(n), best_model]

        observed = np.isfinite(X).mean(axis=1) if X.shape[1] else np.zeros(n)
        prior = observed < MIN_OBSERVED_SHARE
        method = np.where(prior, "prior", "model").astype(object)
        out: dict[str, Any] = {
            "influence": influence,
            "profile": profile,
            "profile_confidence": confidence,
            "proba": proba,
            "method": method,
        }
        if prior.any():
            p = network_prior(X[prior], self.feature_columns)
            out["influence"] = influence.copy()
            out["influence"][prior] = p
            out["profile"] = profile.copy()
            out["profile"][prior] = None
            out["profile_confidence"] = confidence.copy()
            out["profile_confidence"][prior] = np.nan
            out["proba"] = proba.copy()
            out["proba"][prior] = np.nan
        if not explain and not want_contrib:
            return out
        c_inf = self._influence.contributions(leaves=leaves_i, output=0)
        c_prof = self._profile.contributions(leaves=leaves_p, output=best_model)
        if want_contrib:
            out["contrib_influence"], out["contrib_profile"] = c_inf, c_prof
        if explain:
            # What the sentences need, kept small across blocks: the top influence contributions, and the
            # profile's strongest positive evidence (worded the way it reads for the person's influence, see
            # `_profile_text`).
            out["_top_order"], out["_top_chosen"], out["_top_keep"] = top_features(c_inf, self.n_reasons)
            best = np.argmax(np.where(c_prof > 0, c_prof, -np.inf), axis=1)
            rows = np.arange(n)
            out["_best_feature"] = best
            out["_best_shown"] = c_prof[rows, best] > 0
            out["_best_raises"] = ~(c_inf[rows, best] < 0)
        return out

    def _reasons(
        self, X: np.ndarray, block: Mapping[str, Any], titles: Sequence[Any] | None
    ) -> tuple[list[list[str]], list[str | None]]:
        """Per row: the influence model's top reasons, then the profile's strongest positive evidence; and the
        first reason that raised the influence (the next-best contacts' "why"). All sentences are rendered in one
        `render_reasons` call (each distinct sentence once), with no per-row objects."""
        n = len(X)
        if n == 0:
            return [], []
        prior = block["method"] == "prior"
        order, chosen = block["_top_order"], block["_top_chosen"]
        keep = block["_top_keep"] & ~prior[:, None]
        rows, slots = np.nonzero(keep)
        p_rows = np.flatnonzero(~prior & block["_best_shown"])
        p_features = block["_best_feature"][p_rows]
        k = order.shape[1]
        texts_flat = render_reasons(
            np.concatenate([order[rows, slots], p_features]),
            np.concatenate([rows, p_rows]),
            np.concatenate([chosen[rows, slots] > 0, block["_best_raises"][p_rows]]),
            X,
            self.feature_columns,
            titles=titles,
            typical=self._typical,
        )
        grid = np.full((n, k + 1), None, dtype=object)
        grid[rows, slots] = texts_flat[: len(rows)]
        profile = block["profile"]
        grid[p_rows, k] = [
            self._profile_text(str(profile[i]), t)
            for i, t in zip(p_rows.tolist(), texts_flat[len(rows) :].tolist(), strict=True)
        ]
        raised = keep & (chosen > 0)
        first_raised = np.argmax(raised, axis=1) if k else np.zeros(n, dtype=np.intp)
        why = np.where(raised.any(axis=1), grid[np.arange(n), first_raised], None).tolist()
        # Several features can render the same sentence (e.g. "no e-mail on record for this deal" for every e-mail
        # feature of a deal without e-mail): say it once.
        texts = [list(dict.fromkeys(t for t in row if t is not None)) for row in grid.tolist()]
        for i in np.flatnonzero(prior).tolist():
            share = float(np.isfinite(X[i]).mean()) if X.shape[1] else 0.0
            texts[i] = [
                f"network-only prior: only {round(100 * share)}% of the model's features are known for "
                "this person, so the score is the relative network centrality, not the model"
            ]
        return texts, why

    @staticmethod
    def _profile_text(profile: str, text: str) -> str:
        """The profile's evidence without the influence-direction clause, which would be about the other model."""
        for clause in (", which raises the estimate", ", which lowers the estimate"):
            text = text.replace(clause, "")
        return f"{profile.replace('_', ' ')} profile: {text}"

    # -- feature frames -----------------------------------------------------------------------------------------
    def feature_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The frame's model features as float64 (n, n_features); ValueError naming missing or non-numeric
        columns (with the first bad row). None / pd.NA become NaN."""
        # One set of the labels: `c in frame.columns` costs ~1.3 us a lookup, 104 per call.
        present = set(frame.columns.tolist()) if frame.columns.is_unique else frame.columns
        missing = [c for c in self.feature_columns if c not in present]
        if missing:
            raise ValueError(
                f"feature rows lack {len(missing)} model feature column(s): {', '.join(missing)} "
                f"(model {self.model_version} needs all of {len(self.feature_columns)}; values may be empty)"
            )
        found = _float_block(frame, self.feature_columns)
        if found is not None:
            return found
        try:
            # `reindex` selects the columns in half the time of `frame[list]` (~0.3 ms on 104 columns); it needs
            # unique labels, which a feature frame has.
            picked = (
                frame.reindex(columns=list(self.feature_columns))
                if frame.columns.is_unique
                else frame[list(self.feature_columns)]
            )
            return picked.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            pass  # find the offending value and name it
        X = np.empty((len(frame), len(self.feature_columns)))
        for j, c in enumerate(self.feature_columns):
            col = frame[c]
            values = pd.to_numeric(col.astype("object"), errors="coerce")
            bad = values.isna().to_numpy() & col.notna().to_numpy()
            if bad.any():
                pos = int(np.flatnonzero(bad)[0])
                raise ValueError(f"feature {c!r}, row {pos}: {col.iloc[pos]!r} is not a number")
            X[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return X

    def score_rows(
        self, X: np.ndarray, *, titles: Sequence[str | None] | None = None, explain: bool = True
    ) -> list[dict[str, Any]]:
        """The API fast path without pandas: one dict per row of X (float64, feature order, NaN allowed) with
        influence, profile, profile_confidence, probabilities ({profile: p}), method and reasons (if explain).
        NaN outputs (prior rows) are None."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_columns):
            raise ValueError(f"expected rows of {len(self.feature_columns)} features, got shape {X.shape}")
        extra = [{"title": t} for t in titles] if explain and titles is not None else None
        block = self._score_block(X, extra, explain, False)
        rows = []
        for i in range(len(X)):
            conf = float(block["profile_confidence"][i])
            proba = block["proba"][i]
            row: dict[str, Any] = {
                "influence": float(block["influence"][i]),
                "profile": block["profile"][i],
                "profile_confidence": None if math.isnan(conf) else conf,
                "probabilities": {
                    p: (None if math.isnan(v) else float(v)) for p, v in zip(PROFILES, proba, strict=True)
                },
                "method": block["method"][i],
            }
            if explain:
                row["reasons"] = block["reasons"][i]
            rows.append(row)
        return rows

    def score_features(
        self, frame: pd.DataFrame, *, explain: bool = True, contributions: bool = False
    ) -> pd.DataFrame:
        """Score precomputed feature rows (from `influence.features.build_features` or an API client).

        Non-feature columns (deal_id, person_id, account_id, title, ...) are passed through in front; rows keep
        their order. `influence_rank` is within deal_id when that column exists. A `title` column, when present,
        is used in the reasons. With `contributions=True` the frame's `attrs["contributions"]` holds the long
        contribution frame (see `ScoreResult.contributions`). `attrs["model_version"]` names the model.
        """
        out, _, contrib = self._score_frame(frame, explain=explain, contributions=contributions)
        if contrib is not None:
            out.attrs["contributions"] = contrib
        out.attrs["model_version"] = self.model_version
        return out

    def _score_frame(
        self, frame: pd.DataFrame, *, explain: bool, contributions: bool
    ) -> tuple[pd.DataFrame, list[str | None] | None, pd.DataFrame | None]:
        """score_features' work, plus the per-row `why` text and the contributions, kept out of `attrs`
        (pandas deep-copies attrs on every operation)."""
        X = self.feature_matrix(frame)
        passthrough = [c for c in frame.columns if c not in self._column_index]
        extra = None
        if explain and "title" in frame.columns:
            titles = frame["title"].astype("object").where(frame["title"].notna(), None).tolist()
            extra = [{"title": t} for t in titles]
        block = self._score_block(X, extra, explain, contributions)
        columns: dict[str, Any] = {
            c: frame[c].to_numpy() if c != "title" else frame[c].array for c in passthrough
        }
        group = frame["deal_id"].to_numpy(dtype=object) if "deal_id" in frame.columns else None
        tie = frame["person_id"].to_numpy(dtype=object) if "person_id" in frame.columns else None
        columns["influence"] = block["influence"]
        columns["influence_rank"] = _rank_within(group, block["influence"], tie)
        columns["profile"] = pd.array(block["profile"], dtype="string")
        columns["profile_confidence"] = block["profile_confidence"]
        for j, c in enumerate(PROBA_COLUMNS):
            columns[c] = block["proba"][:, j]
        columns["method"] = block["method"]
        if explain:
            columns["reasons"] = block["reasons"]
        out = pd.DataFrame(columns)
        for c in passthrough:  # keep the caller's dtypes (e.g. string ids)
            if out[c].dtype != frame[c].dtype:
                out[c] = out[c].astype(frame[c].dtype)
        contrib = self._contributions_frame(out, X, block) if contributions else None
        return out, (block["why"] if explain else None), contrib

    def _contributions_frame(self, ids: pd.DataFrame, X: np.ndarray, block: dict[str, Any]) -> pd.DataFrame:
        n, f = X.shape
        parts = []
        for target, contrib in (
            ("influence", block["contrib_influence"]),
            ("profile", block["contrib_profile"]),
        ):
            part = pd.DataFrame(
                {
                    "row": np.repeat(np.arange(n), f),
                    "target": target,
                    "feature": np.tile(np.asarray(self.feature_columns, dtype=object), n),
                    "value": X.ravel(),
                    "contribution": contrib.ravel(),
                }
            )
            parts.append(part[part["contribution"] != 0])
        long = pd.concat(parts, ignore_index=True)
        for key in ("deal_id", "person_id"):
            if key in ids.columns:
                long.insert(0, key, ids[key].to_numpy()[long["row"].to_numpy()])
        return long.drop(columns="row").reset_index(drop=True)

    # -- datasets -----------------------------------------------------------------------------------------------
    def score_dataset(
        self,
        ds: Dataset,
        *,
        as_of: pd.Timestamp | str | None = None,
        explain: bool = True,
        deal_ids: Sequence[str] | None = None,
        contributions: bool = False,
    ) -> ScoreResult:
        """Score every deal of `ds` (or `deal_ids`) as known at `as_of` (None: all events).

        Features are built for the whole dataset (an account's history matters for its deals), then only the
        requested deals are kept. Deterministic: the same input gives the same frames in the same order.
        """
        from influence.coverage import (
            COVERAGE_COLUMNS,
            NEXT_BEST_COLUMNS,
            PeopleColumns,
            _value_lists,
            coverage_column_values,
            coverage_frame,
            engagement_count_columns,
            engagement_level,
            next_best_column_values,
            seller_ids,
        )
        from influence.features import build_features, parse_as_of

        as_of_ts = parse_as_of(as_of)
        # People tied to a deal only by the CRM (a contact or buying role, kept by the importers as a label whose
        # source starts with "crm_") get a zero-activity row too: the tie is known at scoring time; the label's
        # values (influence, profile) are never read. Other labels (win/loss reviews) add no rows.
        labels = ds.labels
        pairs = None
        if len(labels):  # an API body has no labels: skip the string operations
            crm = labels["source"].astype("string").str.startswith("crm_").fillna(False).to_numpy(dtype=bool)
            pairs = labels.loc[crm, ["deal_id", "person_id"]]
        features = build_features(ds, as_of=as_of_ts, pairs=pairs)
        if deal_ids is not None:
            wanted = pd.Index(pd.unique(pd.Series(list(deal_ids), dtype=_string_dtype())))
            unknown = wanted.difference(pd.Index(ds.deals["deal_id"].astype(_string_dtype())))
            if len(unknown):
                raise ValueError(f"deal_ids not in the dataset: {', '.join(map(str, unknown[:10]))}")
            features = features[features["deal_id"].isin(wanted)].reset_index(drop=True)
        # Plain arrays and dicts from here on: one API deal is ~30 rows, where each pandas reindex/sort/astype
        # costs a fixed ~0.1-1 ms; the frames are built once at the end, each column converted once.
        n = len(features)
        account_o = _objects(features["account_id"])
        deal_o = _objects(features["deal_id"])
        person_o = _objects(features["person_id"])
        people_ids, *people_info = _value_lists(ds.people, "person_id", "email", "full_name", "title")
        pos = _person_positions(people_ids, person_o)
        if pos is None:  # ids that are not all text (a hand-built dataset): matched on their str()
            first: dict[Any, int] = {}
            for i, q in enumerate(people_ids):
                first.setdefault(str(q), i)
            pos = np.asarray([first.get(str(q), -1) for q in person_o.tolist()], dtype=np.int64)
        info = {
            c: _take_or_none(values, pos)
            for c, values in zip(("email", "full_name", "title"), people_info, strict=True)
        }

        X = self.feature_matrix(features)
        extra = [{"title": t} for t in info["title"].tolist()] if explain else None
        block = self._score_block(X, extra, explain, contributions)
        # Large inputs (a batch chunk) rank and sort on integer codes of the ids; small ones (an API deal) on the
        # Python values, where building the codes costs more than it saves. Both give the same order.
        codes = _id_codes(account_o, deal_o, person_o) if n >= _CODES_MIN_ROWS else None
        if codes is None:
            rank = _rank_within(deal_o, block["influence"], person_o)
        else:
            rank = _rank_on_codes(codes["deal_empty"], block["influence"], codes["person_empty"])
        contrib = None
        if contributions:
            contrib = self._contributions_frame(features[["deal_id", "person_id"]], X, block)

        sellers = seller_ids(ds)  # read once: whether engagement is assessable, and the engagement counts
        assessable = bool(sellers)
        seller_meetings, seller_emails = engagement_count_columns(
            ds, deal_o, person_o, as_of_ts, sellers=sellers
        )
        level = engagement_level(seller_meetings, seller_emails, assessable)

        def key(v: Any) -> tuple[int, Any]:  # pandas sorts missing values last
            return (1, "") if v is None else (0, v)

        if codes is None:
            order = np.asarray(
                sorted(
                    range(n),
                    key=lambda i: (key(account_o[i]), key(deal_o[i]), int(rank[i]), key(person_o[i]), i),
                ),
                dtype=np.int64,
            )
        else:  # the same order: missing ids last, then rank, then row
            order = np.lexsort((np.arange(n), codes["person"], rank, codes["deal"], codes["account"]))
        plain = {
            "deal_id": deal_o[order],
            "person_id": person_o[order],
            "full_name": info["full_name"][order],
            "email": info["email"][order],
            "profile": block["profile"][order],
            "engagement": level[order],
            "method": block["method"][order],
        }
        columns: dict[str, Any] = {
            "account_id": _string_array(account_o[order]),
            "deal_id": _string_array(plain["deal_id"]),
            "person_id": _string_array(plain["person_id"]),
            "email": _string_array(plain["email"]),
            "full_name": _string_array(plain["full_name"]),
            "title": _string_array(info["title"][order]),
            "influence": block["influence"][order],
            "influence_rank": rank[order],
            "profile": _string_array(plain["profile"]),
            "profile_confidence": block["profile_confidence"][order],
        }
        for j, c in enumerate(PROBA_COLUMNS):
            columns[c] = block["proba"][order, j]
        columns["method"] = plain["method"]
        columns["engagement"] = plain["engagement"]
        columns["seller_meetings"] = seller_meetings[order]
        columns["seller_emails"] = seller_emails[order]
        reasons = block["reasons"] if explain else [[] for _ in range(n)]
        reasons_ordered = [reasons[i] for i in order.tolist()]
        why = block["why"] if explain else [None] * n
        why_ordered = np.asarray([why[i] for i in order.tolist()] if n else [], dtype=object)

        people = PeopleColumns(columns, n, plain)
        coverage = coverage_column_values(people, engagement_assessable=assessable)
        nbc = next_best_column_values(people, engagement_assessable=assessable, why=why_ordered)
        deals = self._deals_columns(ds, plain["deal_id"], coverage, assessable, deal_ids, as_of_ts)
        # What the JSON of one deal reads: plain values (object ids with None) where the frame has typed ones.
        people_values = {
            **columns,
            **{c: plain[c] for c in ("deal_id", "person_id", "full_name", "email", "profile")},
            "account_id": account_o[order],
            "title": info["title"][order],
            "reasons": reasons_ordered,
        }

        def people_frame() -> pd.DataFrame:
            index = pd.RangeIndex(n)
            built = dict(columns)
            built["reasons"] = pd.Series(reasons_ordered, index=index, dtype=object)
            return pd.DataFrame(built, index=index)

        n_nbc = len(nbc["rank"])
        tables = {
            "people": _Table({c: people_values[c] for c in PEOPLE_COLUMNS}, people_frame),
            "coverage": _Table(
                {c: coverage.get(c) for c in COVERAGE_COLUMNS},
                lambda: coverage_frame(coverage),
            ),
            "next_best_contacts": _Table(
                {c: nbc.get(c) for c in NEXT_BEST_COLUMNS},
                lambda: pd.DataFrame(nbc, index=pd.RangeIndex(n_nbc), columns=NEXT_BEST_COLUMNS),
            ),
            "deals": _Table(deals, lambda: pd.DataFrame(deals)),
        }
        return ScoreResult(
            model_version=self.model_version,
            as_of=as_of_ts,
            engagement_assessable=assessable,
            contributions=contrib,
            tables=tables,
        )

    @staticmethod
    def _deals_columns(
        ds: Dataset,
        people_deals: np.ndarray,
        coverage: Mapping[str, Any],
        assessable: bool,
        deal_ids: Sequence[str] | None,
        as_of: pd.Timestamp | None,
    ) -> dict[str, Any]:
        """The deals table's column values (deal_id, account_id, n_people, engagement_assessable, gaps)."""
        deals = ds.deals
        keep = np.ones(len(deals), dtype=bool)
        if as_of is not None:  # deals opened later did not exist yet, as in build_features
            keep &= (deals["created_at"] < as_of).to_numpy(dtype=bool, na_value=False)
        deal = deals["deal_id"].astype(_string_dtype()).array[keep]
        account = deals["account_id"].astype(_string_dtype()).array[keep]
        if deal_ids is not None:
            wanted = pd.array(list(deal_ids), dtype=_string_dtype())
            member = deal.isin(wanted)
            deal, account = deal[member], account[member]
        deal_o, account_o = _objects(deal), _objects(account)

        def key(v: Any) -> tuple[int, Any]:  # pandas sorts missing values last
            return (1, "") if v is None else (0, v)

        order = np.asarray(
            sorted(range(len(deal_o)), key=lambda i: (key(account_o[i]), key(deal_o[i]), i)), dtype=np.int64
        )
        counts: dict[str, int] = {}
        for d in people_deals.tolist():
            if d is not None:
                counts[d] = counts.get(d, 0) + 1
        messages: dict[str, list[str]] = {}
        for d, m in zip(
            np.asarray(coverage["deal_id"], dtype=object).tolist(),
            np.asarray(coverage["message"], dtype=object).tolist(),
            strict=True,
        ):
            if d is not None and isinstance(m, str):
                messages.setdefault(d, []).append(m)
        gaps = []
        for d in (str(deal_o[i]) for i in order.tolist()):
            found = list(messages.get(d, []))
            if not assessable:
                found.append(_not_assessable())
            if counts.get(d, 0) == 0:
                found.insert(0, "no buyer-side activity recorded for this deal yet")
            gaps.append(found)
        return {
            "deal_id": deal.take(order),
            "account_id": account.take(order),
            "n_people": np.asarray([counts.get(str(deal_o[i]), 0) for i in order.tolist()], dtype=np.int64),
            "engagement_assessable": np.full(len(order), assessable, dtype=bool),
            "gaps": pd.Series(gaps, dtype=object),
        }


def _float_block(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray | None:
    """The frame's `columns` as a new C-ordered float64 (rows, columns) array, straight from pandas' storage when
    they sit side by side, in this order, in one float64 block (what `build_features` returns); None otherwise.

    Selecting 104 columns through pandas (`reindex`, then `to_numpy`) costs ~0.3 ms, a tenth of scoring one API
    deal's rows; the block is already that matrix, transposed. Uses pandas' private block manager (as
    `data.frame_of_columns` uses its private constructor), hence the None fallback to the public path."""
    if not columns or not frame.columns.is_unique:
        return None
    names = frame.columns.tolist()
    try:
        start = names.index(columns[0])
    except ValueError:
        return None
    stop = start + len(columns)
    if tuple(names[start:stop]) != columns:
        return None
    for block in getattr(getattr(frame, "_mgr", None), "blocks", ()):
        locs = getattr(getattr(block, "mgr_locs", None), "indexer", None)
        values = getattr(block, "values", None)
        if (
            isinstance(locs, slice)
            and (locs.start, locs.stop, locs.step or 1) == (start, stop, 1)
            and isinstance(values, np.ndarray)
            and values.dtype == np.float64
            and values.shape == (len(columns), len(frame))
        ):
            return np.array(values.T, order="C")
    return None


@functools.cache
def _string_dtype() -> pd.StringDtype:
    """pandas' "string" dtype; looking it up by name costs ~40 us per call."""
    return pd.api.types.pandas_dtype("string")


def _not_assessable() -> str:
    from influence.coverage import NOT_ASSESSABLE_MESSAGE

    return NOT_ASSESSABLE_MESSAGE


def _id_texts(values: np.ndarray) -> list[Any]:
    """Ids as `_codes` orders them: missing (None, NA, NaN) as "", the rest as they are."""
    return [
        "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in values.tolist()
    ]


def _rank_within_small(group: np.ndarray | None, s: np.ndarray, tie: np.ndarray | None) -> np.ndarray | None:
    """`_rank_within`'s ranks by one Python sort on the same keys in the same order: group, then `s` (the negated
    score, NaN last), then tie, then row; ids compare as their sorted codes would (`_codes` sorts these very
    values). None when the ids do not sort in Python (mixed types): the vectorised route decides then."""
    n = len(s)
    groups = _id_texts(group) if group is not None else [""] * n
    ties = _id_texts(tie) if tie is not None else [""] * n
    negated = s.tolist()
    try:
        order = sorted(range(n), key=lambda i: (groups[i], negated[i], ties[i], i))
    except TypeError:
        return None
    out = np.empty(n, dtype=np.int64)
    previous: Any = None
    rank = 0
    for i in order:
        if rank == 0 or groups[i] != previous:
            previous, rank = groups[i], 0
        rank += 1
        out[i] = rank
    return out


def _codes(values: np.ndarray) -> np.ndarray:
    """Sorted integer codes of ids (missing as ""): what `pd.factorize(..., sort=True)` gives, without a Series."""
    text = [
        "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in values.tolist()
    ]
    try:
        return np.unique(np.asarray(text, dtype=object), return_inverse=True)[1].astype(np.int64).ravel()
    except TypeError:  # mixed types do not sort in Python; pandas orders them its own way
        return pd.factorize(pd.Series(text, dtype="object"), sort=True)[0]


# Up to this many rows `_rank_within` sorts Python values (one API deal): np.unique on object ids and lexsort cost
# ~150 us for a 9-person deal, a Python sort of the same keys ~15 us.
_RANK_SMALL_ROWS = 256


def _rank_within(group: np.ndarray | None, score: np.ndarray, tie: np.ndarray | None) -> np.ndarray:
    """1 = highest score within each group; ties broken by `tie` (person_id), then row order."""
    n = len(score)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    s = -np.where(np.isnan(score), -np.inf, score)
    if n <= _RANK_SMALL_ROWS:
        small = _rank_within_small(group, s, tie)
        if small is not None:
            return small
    zeros = np.zeros(n, dtype=np.int64)  # a constant key leaves lexsort's order as without it
    return _rank_on_codes(
        _codes(group) if group is not None else zeros, score, _codes(tie) if tie is not None else zeros
    )


# -- score_dataset on integer codes (large inputs: a batch chunk) --------------------------------------------------
_CODES_MIN_ROWS = 256  # from this many rows, ids are ranked and sorted on integer codes


def _person_positions(people_ids: list[Any], person_o: np.ndarray) -> np.ndarray | None:
    """Row in the people table (its first row with that id) of each scored person, -1 when absent: Arrow's hash
    lookup instead of a Python dict. None when an id is not text or is missing (str(None) would match "None")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        keys = pa.array(people_ids, type=pa.string())
        asked = pa.array(person_o, type=pa.string())
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if keys.null_count or asked.null_count:
        return None
    # index_in answers the first position of a repeated key, as dict.setdefault kept it.
    return pc.index_in(asked, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _take_or_none(values: list[Any], pos: np.ndarray) -> np.ndarray:
    """values[pos] as an object array, None where pos is -1."""
    padded = np.empty(len(values) + 1, dtype=object)
    padded[: len(values)] = values
    padded[len(values)] = None
    return padded[np.where(pos >= 0, pos, len(values))]


def _sorted_codes(values: np.ndarray, *, missing_as_empty: bool) -> np.ndarray | None:
    """Dense integer codes in the values' sort order (Python's str order = Arrow's byte order of UTF-8): missing
    (None) values coded last, or as "" (`missing_as_empty`, what `_codes` does). None when a value is not str."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if missing_as_empty and array.null_count:
        array = array.fill_null("")
    encoded = array.dictionary_encode()
    dictionary = encoded.dictionary
    rank = np.empty(len(dictionary) + 1, dtype=np.int64)
    rank[pc.array_sort_indices(dictionary).to_numpy(zero_copy_only=False)] = np.arange(len(dictionary))
    rank[len(dictionary)] = len(dictionary)  # missing: after every value
    return rank[encoded.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)]


def _id_codes(
    account_o: np.ndarray, deal_o: np.ndarray, person_o: np.ndarray
) -> dict[str, np.ndarray] | None:
    """Sort codes of the id columns (missing last), and of deal and person with missing as "" (`_rank_within`'s
    grouping); None when an id is not text (the Python sort handles any values)."""
    found = {
        "account": _sorted_codes(account_o, missing_as_empty=False),
        "deal": _sorted_codes(deal_o, missing_as_empty=False),
        "person": _sorted_codes(person_o, missing_as_empty=False),
        "deal_empty": _sorted_codes(deal_o, missing_as_empty=True),
        "person_empty": _sorted_codes(person_o, missing_as_empty=True),
    }
    if any(v is None for v in found.values()):
        return None
    return {k: v for k, v in found.items() if v is not None}


def _rank_on_codes(group: np.ndarray, score: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """`_rank_within(group_values, score, tie_values)` given the codes `_codes` makes of those values."""
    n = len(score)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    s = -np.where(np.isnan(score), -np.inf, score)
    order = np.lexsort([np.arange(n), tie, s, group])  # last key is primary: group, score (desc), tie, row
    g_sorted = group[order]
    start = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, n]))
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) - first + 1
    return out
