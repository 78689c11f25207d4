"""Baselines the models must beat, computed from the same feature frame the models see.

- title seniority: the parsed title seniority (0-6) is the influence score; what a rep does by default.
- network centrality: the deal-graph PageRank feature alone.
- classic DMU title rules: title function and seniority mapped to a profile, the textbook buying-centre view.

All take a feature frame from `influence.features.build_features` (column names from its catalogue) and
return one value per row, aligned with the frame's index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BASELINE_SCORES", "centrality_scores", "classic_dmu_profiles", "title_seniority_scores"]

SENIORITY = "title_seniority"
PAGERANK = "net_pagerank"
EXTERNAL = "ext_external"
DIRECTOR = 5
EXECUTIVE = 6


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise KeyError(f"baseline needs feature column {name!r}, absent from the feature frame")
    return frame[name].astype("float64")


def title_seniority_scores(frame: pd.DataFrame) -> np.ndarray:
    """Parsed title seniority (0 = unknown) as an influence score: ties are common and are kept as ties."""
    return _column(frame, SENIORITY).fillna(0.0).to_numpy()


def centrality_scores(frame: pd.DataFrame) -> np.ndarray:
    """Deal-graph PageRank as an influence score (0 for people without any tie)."""
    return _column(frame, PAGERANK).fillna(0.0).to_numpy()


BASELINE_SCORES = {"title": title_seniority_scores, "centrality": centrality_scores}


def _flag(frame: pd.DataFrame, name: str) -> np.ndarray:
    return (
        frame[name].fillna(0.0).to_numpy(dtype=np.float64) > 0.5
        if name in frame.columns
        else np.zeros(len(frame), bool)
    )


def classic_dmu_profiles(frame: pd.DataFrame) -> np.ndarray:
    """Profile per row from title rules, first match wins.

    external (partner side or foreign e-mail domain) -> external_advisor; C-level / executive function at
    seniority 6 -> executive_sponsor; finance at seniority >= 4 -> budget_holder; procurement -> procurement;
    it / engineering / security / data -> technical_gatekeeper; everything else -> end_user.
    """
    seniority = _column(frame, SENIORITY).fillna(0.0).to_numpy()
    external = _flag(frame, EXTERNAL)
    executive = (seniority >= EXECUTIVE) | _flag(frame, "title_fn_executive")
    finance = _flag(frame, "title_fn_finance") & (seniority >= 4)
    procurement = _flag(frame, "title_fn_procurement")
    technical = (
        _flag(frame, "title_fn_it")
        | _flag(frame, "title_fn_engineering")
        | _flag(frame, "title_fn_security")
        | _flag(frame, "title_fn_data")
    )
    return np.select(
        [external, executive, finance, procurement, technical],
        ["external_advisor", "executive_sponsor", "budget_holder", "procurement", "technical_gatekeeper"],
        default="end_user",
    ).astype(object)
