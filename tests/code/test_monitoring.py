"""Score drift: a resample of the same population raises nothing; a shifted one raises the matching alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from influence.contract import PROFILES
from influence.monitoring import PSI_ALARM, psi, score_drift

MIX = np.array([0.05, 0.06, 0.04, 0.10, 0.25, 0.08, 0.07, 0.05, 0.05, 0.25])


def scores(seed: int, n: int = 5000, *, beta=(2.0, 5.0), mix=MIX, prior_share: float = 0.02) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "influence": rng.beta(*beta, size=n),
            "profile": rng.choice(PROFILES, size=n, p=mix / mix.sum()),
            "method": np.where(rng.random(n) < prior_share, "prior", "model"),
        }
    )


def test_same_population_is_stable() -> None:
    report = score_drift(scores(1), scores(2))
    assert report.ok and not report.watch
    assert report.influence_psi < 0.02 and report.profile_psi < 0.02


def test_shifted_influence_raises_an_alarm() -> None:
    report = score_drift(scores(1), scores(2, beta=(5.0, 2.0)))
    assert report.influence_psi > PSI_ALARM
    assert any(a.startswith("influence PSI") for a in report.alarms)


def test_changed_profile_mix_names_the_profile() -> None:
    mix = MIX.copy()
    mix[PROFILES.index("end_user")] += 0.2
    report = score_drift(scores(1), scores(2, mix=mix))
    assert any("share of end_user moved +" in a for a in report.alarms)
    assert report.profile_share_change_pp["end_user"] > 10


def test_more_prior_only_rows_points_at_the_data_feed() -> None:
    report = score_drift(scores(1), scores(2, prior_share=0.15))
    assert any("check the data feeds" in a for a in report.alarms)


def test_psi_is_zero_for_equal_histograms_and_grows_with_the_shift() -> None:
    base = np.array([10, 20, 30, 40])
    assert psi(base, base * 3) == pytest.approx(0.0)
    assert psi(base, [20, 20, 30, 30]) < psi(base, [40, 30, 20, 10])


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"current scores lack column\(s\) \['method'\]"):
        score_drift(scores(1), scores(2).drop(columns="method"))
