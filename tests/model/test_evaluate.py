"""Metric functions on small hand-computed cases, and the baselines' rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from influence.baselines import centrality_scores, classic_dmu_profiles, title_seniority_scores
from influence.evaluate import (
    goal_checks,
    hidden_influencer_recall_at_k,
    influence_metrics,
    ndcg_at_k,
    profile_metrics,
    reliability_curve,
)

D = [1 / math.log2(i + 1) for i in range(1, 6)]  # discounts of positions 1..5


def test_ndcg_at_3_single_deal_by_hand() -> None:
    # Ranked by score: relevance 0, 1, 0.5 (then a fourth row beyond k).
    value, n = ndcg_at_k(["d"] * 4, np.array([4.0, 3, 2, 1]), np.array([0.0, 1.0, 0.5, 0.9]), k=3)
    dcg = 0 * D[0] + 1.0 * D[1] + 0.5 * D[2]
    ideal = 1.0 * D[0] + 0.9 * D[1] + 0.5 * D[2]
    assert n == 1
    assert value == pytest.approx(dcg / ideal)


def test_ndcg_is_one_for_the_ideal_order_and_ignores_row_order() -> None:
    groups = np.array(["a", "b", "a", "b", "a"])
    relevance = np.array([0.2, 0.7, 0.9, 0.1, 0.5])
    value, n = ndcg_at_k(groups, relevance * 10, relevance)
    assert (value, n) == (pytest.approx(1.0), 2)
    order = np.array([4, 2, 0, 3, 1])
    assert ndcg_at_k(groups[order], relevance[order] * 10, relevance[order])[0] == pytest.approx(1.0)


def test_ndcg_ties_get_the_average_discount() -> None:
    value, _ = ndcg_at_k(["d", "d"], np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    assert value == pytest.approx((D[0] + D[1]) / 2)


def test_ndcg_skips_single_row_and_zero_relevance_deals() -> None:
    groups = ["solo", "zero", "zero", "ok", "ok"]
    value, n = ndcg_at_k(groups, np.array([1.0, 2, 1, 1, 2]), np.array([1.0, 0, 0, 1, 0]))
    assert n == 1
    assert value == pytest.approx(D[1] / D[0])
    assert math.isnan(ndcg_at_k(["a"], np.array([1.0]), np.array([1.0]))[0])


def test_hidden_influencer_recall_at_3_by_hand() -> None:
    groups = ["d"] * 5 + ["e"] * 2
    scores = np.array([5.0, 4, 3, 2, 1, 1, 2])
    key = np.array([0, 1, 0, 1, 1, 1, 0])
    seniority = np.array([6, 2, 3, 0, 6, 4, 6])
    # hidden: row 1 (rank 2, found), row 3 (rank 4, missed); row 4 is senior; row 5 (rank 2 of 2, found)
    value, n = hidden_influencer_recall_at_k(groups, scores, key, seniority, k=3)
    assert (value, n) == (pytest.approx(2 / 3), 3)


def test_hidden_influencer_recall_counts_ties_fractionally() -> None:
    # Four people tied: the hidden key influencer is in a random top 3 with probability 3/4.
    value, n = hidden_influencer_recall_at_k(["d"] * 4, np.ones(4), np.array([1, 0, 0, 0]), np.zeros(4), k=3)
    assert (value, n) == (pytest.approx(0.75), 1)


def test_reliability_curve_bins() -> None:
    curve = reliability_curve(np.array([0, 1, 1, 0]), np.array([0.05, 0.15, 0.95, 1.0]), n_bins=10)
    assert len(curve) == 10
    assert curve["count"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert curve.loc[9, "observed_rate"] == pytest.approx(0.5)
    assert curve.loc[9, "mean_predicted"] == pytest.approx(0.975)
    assert math.isnan(curve.loc[5, "observed_rate"])


def test_influence_metrics_perfect_and_reversed() -> None:
    y = np.array([0, 0, 1, 1])
    assert influence_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))["roc_auc"] == 1.0
    assert influence_metrics(y, np.array([0.9, 0.8, 0.2, 0.1]), probabilistic=False)["roc_auc"] == 0.0
    assert influence_metrics(y, np.array([0.0, 0.0, 1.0, 1.0]))["brier"] == 0.0


def test_profile_macro_f1_over_present_classes() -> None:
    truth = ["end_user", "end_user", "procurement", "procurement"]
    pred = ["end_user", "procurement", "procurement", "procurement"]
    m = profile_metrics(np.array(truth), np.array(pred))
    f1_end_user = 2 * 1 * 0.5 / 1.5
    f1_procurement = 2 * (2 / 3) * 1 / (2 / 3 + 1)
    assert m["macro_f1"] == pytest.approx((f1_end_user + f1_procurement) / 2)
    assert set(m["per_class_f1"]) == {"end_user", "procurement"}


def test_goal_checks_need_the_lift_over_title() -> None:
    metrics = {
        "influence_roc_auc": 0.91,
        "baseline_title_roc_auc": 0.80,
        "ndcg_at_3": 0.9,
        "hidden_influencer_recall_at_3": 0.8,
        "profile_macro_f1": 0.8,
    }
    checks = goal_checks(metrics)
    assert checks["influence_roc_auc"] and not checks["roc_auc_lift_over_title_0.15"]


def test_classic_dmu_rules() -> None:
    frame = pd.DataFrame(
        {
            "title_seniority": [6, 4, 2, 3, 2, 5, 6],
            "ext_external": [0, 0, 0, 0, 0, 1, np.nan],
            "title_fn_executive": [1, 0, 0, 0, 0, 0, 0],
            "title_fn_finance": [0, 1, 1, 0, 0, 0, 1],
            "title_fn_procurement": [0, 0, 0, 1, 0, 0, 0],
            "title_fn_it": [0, 0, 0, 0, 1, 0, 0],
            "net_pagerank": [1.0, np.nan, 2, 0, 0, 0, 0],
        }
    )
    assert classic_dmu_profiles(frame).tolist() == [
        "executive_sponsor",
        "budget_holder",
        "end_user",  # junior finance is not a budget holder
        "procurement",
        "technical_gatekeeper",
        "external_advisor",
        "executive_sponsor",  # a CFO is C-level first
    ]
    assert title_seniority_scores(frame).tolist() == [6, 4, 2, 3, 2, 5, 6]
    assert centrality_scores(frame).tolist() == [1.0, 0.0, 2, 0, 0, 0, 0]


def test_evidence_breakdown_scores_each_segment_on_its_own_rows() -> None:
    from influence.evaluate import evidence_breakdown, evidence_of

    # Two deals with meetings where the model ranks perfectly, two mail-only deals where it ranks backwards.
    deal = np.repeat(["m1", "m2", "e1", "e2"], 3)
    influence = np.tile([0.9, 0.4, 0.1], 4)
    good = np.tile([0.8, 0.5, 0.2], 2)
    score = np.concatenate([good, good[::-1]])
    features = pd.DataFrame({"ctx_deal_meetings": [3] * 6 + [0] * 6})
    rows = pd.DataFrame(
        {
            "deal_id": deal,
            "influence": influence,
            "key": (influence >= 0.5).astype(int),
            "title_seniority": [2.0] * 12,
            "score_model": score,
        }
    )
    truth = np.array(["end_user"] * 12, dtype=object)
    predicted = np.array(["end_user"] * 6 + ["procurement"] * 6, dtype=object)
    assert list(evidence_of(features)) == ["with_meetings"] * 6 + ["mail_only"] * 6
    out = evidence_breakdown(rows, features, features, truth, predicted)
    assert out["with_meetings"]["rows"] + out["mail_only"]["rows"] == len(rows)
    assert out["with_meetings"]["influence_roc_auc"] == 1.0
    assert out["mail_only"]["influence_roc_auc"] == 0.0
    assert out["with_meetings"]["hidden_influencer_recall_at_3"] == 1.0
    assert out["with_meetings"]["profile_macro_f1"] == 1.0
    assert out["mail_only"]["profile_macro_f1"] == 0.0


def test_label_oracle_recall_is_below_one_when_a_deal_has_more_key_people_than_k() -> None:
    from influence.evaluate import _oracle_ranking

    # Deal "small": two key people, one hidden -> the oracle finds her. Deal "big": three senior key people with
    # higher influence than two hidden key people -> ranking by true influence leaves both hidden ones out.
    rows = pd.DataFrame(
        {
            "deal_id": ["small"] * 3 + ["big"] * 6,
            "influence": [0.9, 0.6, 0.1, 0.95, 0.9, 0.85, 0.7, 0.6, 0.2],
            "title_seniority": [6.0, 2.0, 2.0, 6.0, 7.0, 5.0, 3.0, 0.0, 1.0],
        }
    )
    rows["key"] = (rows["influence"] >= 0.5).astype(int)
    oracle = _oracle_ranking(rows)
    assert oracle["oracle_hidden_influencer_recall_at_3"] == pytest.approx(1 / 3)
    assert oracle["oracle_ndcg_at_3"] == pytest.approx(1.0)
    small = _oracle_ranking(rows[rows["deal_id"] == "small"])
    assert small["oracle_hidden_influencer_recall_at_3"] == 1.0
    # Any ranking could put both hidden people of "big" in its top 3: the absolute ceiling is 3 of 3.
    assert oracle["hidden_influencer_recall_ceiling_at_3"] == 1.0


def test_hidden_recall_ceiling_counts_at_most_three_per_deal() -> None:
    from influence.evaluate import _oracle_ranking

    # Five hidden key people (seniority 0-4) in one deal, one in another: at best 3 + 1 of 6 are in a top 3.
    rows = pd.DataFrame(
        {
            "deal_id": ["a"] * 6 + ["b"] * 2,
            "influence": [0.9, 0.8, 0.7, 0.6, 0.55, 0.1, 0.8, 0.9],
            "title_seniority": [0.0, 1.0, 2.0, 3.0, 4.0, 2.0, 2.0, 8.0],
        }
    )
    rows["key"] = (rows["influence"] >= 0.5).astype(int)
    assert _oracle_ranking(rows)["hidden_influencer_recall_ceiling_at_3"] == pytest.approx(4 / 6)


def test_plots_of_one_class_labels_say_why_there_is_no_roc_curve(tmp_path: Path) -> None:
    """Small customer data can hold no key influencer at all: the ROC plot must not warn about an empty legend."""
    import warnings

    import pandas as pd

    from influence.contract import PROFILES
    from influence.evaluate import EvaluationResult, plot_figures

    rows = pd.DataFrame(
        {
            "key": [0, 0, 0],
            "score_model": [0.1, 0.2, 0.3],
            "score_title": [0.1, 0.1, 0.2],
            "score_centrality": [0.3, 0.2, 0.1],
        }
    )
    confusion = pd.DataFrame(0, index=list(PROFILES), columns=list(PROFILES))
    result = EvaluationResult(metrics={}, rows=rows, confusion=confusion)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = plot_figures(result, tmp_path)
    assert paths["roc"].stat().st_size > 0
