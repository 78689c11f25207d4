"""Score drift: compare a recent batch of scores with a reference batch (e.g. the scores at promotion time).

Inputs are two people-score frames as written by `influence score` (columns `influence`, `profile`, `method`,
optionally `p_<profile>`). Computed (see docs/operations.md for the thresholds and what to do):

- PSI (population stability index) of the `influence` distribution over the reference's deciles;
- the absolute change, in percentage points, of each profile's share, and the PSI of the profile mix;
- the change of the share of rows scored by the network-only prior (`method == "prior"`): rows with too few
  observed features, which rises when a data feed breaks rather than when buyers change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from influence.contract import PROFILES

__all__ = ["DriftReport", "PSI_ALARM", "PSI_WATCH", "SHARE_ALARM_PP", "PRIOR_ALARM_PP", "psi", "score_drift"]

PSI_WATCH = 0.10  # below: stable; 0.10-0.25: watch
PSI_ALARM = 0.25  # above: the population moved; investigate, then retrain or fix the feed
SHARE_ALARM_PP = 10.0  # a profile's share moved by more than 10 percentage points
PRIOR_ALARM_PP = 5.0  # the share of prior-only rows rose by more than 5 points: a data problem, usually
_EPS = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two histograms (counts or shares over the same bins)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.clip(e / max(e.sum(), 1e-12), _EPS, None)
    a = np.clip(a / max(a.sum(), 1e-12), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _decile_edges(values: np.ndarray) -> np.ndarray:
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    return np.concatenate([[-np.inf], edges[1:-1], [np.inf]])


@dataclass
class DriftReport:
    """Drift of `current` against `reference`; `alarms` lists every threshold crossed, in words."""

    rows_reference: int
    rows_current: int
    influence_psi: float
    profile_psi: float
    profile_share_change_pp: dict[str, float] = field(default_factory=dict)
    prior_share_change_pp: float = 0.0
    alarms: list[str] = field(default_factory=list)
    watch: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.alarms

    def lines(self) -> list[str]:
        out = [
            f"reference {self.rows_reference} rows, current {self.rows_current} rows",
            f"influence PSI {self.influence_psi:.3f}, profile-mix PSI {self.profile_psi:.3f}, "
            f"prior-only share {self.prior_share_change_pp:+.1f} pp",
        ]
        out += [f"ALARM: {a}" for a in self.alarms] + [f"watch: {w}" for w in self.watch]
        return out or ["no drift"]


def score_drift(reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    """Compare two people-score frames (see the module docstring); raises ValueError naming a missing column."""
    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in ("influence", "profile", "method") if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{name} scores lack column(s) {missing}; pass files written by `influence score`"
            )
        if len(frame) == 0:
            raise ValueError(f"{name} scores are empty")
    ref_inf = reference["influence"].to_numpy(dtype=np.float64)
    cur_inf = current["influence"].to_numpy(dtype=np.float64)
    edges = _decile_edges(ref_inf)
    influence_psi = psi(np.histogram(ref_inf, edges)[0], np.histogram(cur_inf, edges)[0])

    ref_share = (
        reference["profile"].astype(str).value_counts(normalize=True).reindex(PROFILES, fill_value=0.0)
    )
    cur_share = current["profile"].astype(str).value_counts(normalize=True).reindex(PROFILES, fill_value=0.0)
    profile_psi = psi(ref_share.to_numpy(), cur_share.to_numpy())
    change = ((cur_share - ref_share) * 100).round(2).to_dict()

    def prior_share(frame: pd.DataFrame) -> float:
        return float((frame["method"].astype(str) == "prior").mean() * 100)

    prior_change = prior_share(current) - prior_share(reference)
    report = DriftReport(
        rows_reference=len(reference),
        rows_current=len(current),
        influence_psi=influence_psi,
        profile_psi=profile_psi,
        profile_share_change_pp={k: float(v) for k, v in change.items()},
        prior_share_change_pp=prior_change,
    )
    for what, value in (("influence", influence_psi), ("profile mix", profile_psi)):
        if value > PSI_ALARM:
            report.alarms.append(f"{what} PSI {value:.3f} > {PSI_ALARM}")
        elif value > PSI_WATCH:
            report.watch.append(f"{what} PSI {value:.3f} > {PSI_WATCH}")
    for profile, pp in report.profile_share_change_pp.items():
        if abs(pp) > SHARE_ALARM_PP:
            report.alarms.append(f"share of {profile} moved {pp:+.1f} pp (> {SHARE_ALARM_PP:.0f})")
    if prior_change > PRIOR_ALARM_PP:
        report.alarms.append(
            f"prior-only rows rose {prior_change:+.1f} pp (> {PRIOR_ALARM_PP:.0f}): check the data feeds"
        )
    return report
