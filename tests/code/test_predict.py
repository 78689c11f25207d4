"""Scorer: the fast path equals the bundle, input checks name the problem, ranks and order are stable, the
network prior takes over only where the model cannot apply, and results are deterministic."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from influence.contract import PROFILES
from influence.features import build_features
from influence.predict import MIN_OBSERVED_SHARE, PEOPLE_COLUMNS, PROBA_COLUMNS, Scorer


@pytest.fixture(scope="module")
def setup(unit_bundle):
    from influence.generate import generate

    bundle = unit_bundle
    ds = generate(5, 44)
    return Scorer(bundle), bundle, ds, build_features(ds)


def test_score_features_equals_the_bundle_pipelines(setup) -> None:
    scorer, bundle, _, features = setup
    out = scorer.score_features(features, explain=False)
    np.testing.assert_allclose(out["influence"], bundle.predict_influence(features), atol=1e-6)
    np.testing.assert_allclose(
        out[PROBA_COLUMNS].to_numpy(), bundle.predict_profile_proba(features), atol=1e-6
    )
    best = np.asarray(PROFILES)[np.argmax(bundle.predict_profile_proba(features), axis=1)]
    assert (out["profile"].to_numpy(dtype=object) == best).all()
    assert out.attrs["model_version"] == f"unit/{bundle.version}"
    # ids passed through, row order kept
    assert out["person_id"].tolist() == features["person_id"].tolist()


def test_feature_matrix_from_the_float_block_equals_pandas_selection(setup) -> None:
    from influence.predict import _float_block

    scorer, _, _, features = setup
    columns = scorer.feature_columns
    reordered = features[list(features.columns[::-1])]  # same values, no longer side by side in model order
    assert _float_block(features, columns) is not None  # build_features' frame: one float block, in order
    assert _float_block(reordered, columns) is None
    fast, public = scorer.feature_matrix(features), scorer.feature_matrix(reordered)
    assert fast.shape == (len(features), len(columns)) and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, public)  # NaN in the same places, every other value bit for bit
    assert np.isnan(fast).any()
    i, j = np.argwhere(np.isfinite(fast))[0]
    before = float(features[columns[j]].iloc[i])
    fast[i, j] = before + 1.0  # a copy: scoring never writes into the caller's frame
    assert float(features[columns[j]].iloc[i]) == before


def test_missing_feature_column_is_named(setup) -> None:
    scorer, _, _, features = setup
    with pytest.raises(ValueError, match="em_fan_in, net_degree"):
        scorer.score_features(features.drop(columns=["em_fan_in", "net_degree"]))


def test_non_numeric_value_names_feature_and_row(setup) -> None:
    scorer, _, _, features = setup
    bad = features.head(5).astype({"mtg_invited": "object"})
    bad.loc[3, "mtg_invited"] = "many"
    with pytest.raises(ValueError, match=r"feature 'mtg_invited', row 3: 'many' is not a number"):
        scorer.score_features(bad)


def test_empty_values_are_allowed_and_sparse_rows_get_the_network_prior(setup) -> None:
    scorer, _, _, features = setup
    rows = features.head(6).copy()
    cols = list(scorer.feature_columns)
    rows.loc[rows.index[0], cols[:10]] = np.nan  # a few gaps: still the model
    rows.loc[rows.index[1], cols] = None  # nothing known: the prior
    keep = ["rel_net_pagerank", "rel_net_degree"]
    rows.loc[rows.index[2], [c for c in cols if c not in keep]] = np.nan  # only the network: the prior
    out = scorer.score_features(rows)
    assert out["method"].tolist()[:3] == ["model", "prior", "prior"]
    assert (out["method"].iloc[3:] == "model").all()
    assert out["influence"].iloc[1] == 0.0  # no network data at all
    expected = rows.loc[rows.index[2], keep].astype(float).clip(0, 1).mean()
    assert out["influence"].iloc[2] == pytest.approx(expected)
    assert out["profile"].isna().tolist()[:3] == [False, True, True]
    assert out.loc[1, PROBA_COLUMNS].isna().all()
    assert "network-only prior" in out["reasons"].iloc[1][0]
    assert 1 - np.isfinite(scorer.feature_matrix(rows.iloc[[2]])).mean() > 1 - MIN_OBSERVED_SHARE


def test_ranks_are_within_deal_and_break_ties_by_person(setup) -> None:
    scorer, _, _, features = setup
    out = scorer.score_features(features, explain=False)
    for _, group in out.groupby("deal_id"):
        assert sorted(group["influence_rank"]) == list(range(1, len(group) + 1))
        ordered = group.sort_values("influence_rank")
        assert ordered["influence"].is_monotonic_decreasing
        for _, tie in ordered.groupby("influence"):
            assert tie.sort_values("influence_rank")["person_id"].is_monotonic_increasing


def test_score_rows_matches_score_features(setup) -> None:
    scorer, _, _, features = setup
    X = scorer.feature_matrix(features.head(3))
    rows = scorer.score_rows(X)
    frame = scorer.score_features(features.head(3))
    for i, row in enumerate(rows):
        assert row["influence"] == pytest.approx(frame["influence"].iloc[i])
        assert row["profile"] == frame["profile"].iloc[i]
        assert row["reasons"] == frame["reasons"].iloc[i]
        assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="features"):
        scorer.score_rows(X[:, :5])


def test_score_dataset_is_deterministic_and_complete(setup) -> None:
    scorer, _, ds, features = setup
    a = scorer.score_dataset(ds)
    b = scorer.score_dataset(ds)
    pd.testing.assert_frame_equal(a.people, b.people)
    pd.testing.assert_frame_equal(a.coverage, b.coverage)
    pd.testing.assert_frame_equal(a.next_best_contacts, b.next_best_contacts)
    assert list(a.people.columns) == PEOPLE_COLUMNS
    # people tied to a deal by a CRM role are scored without activity too
    crm_ties = ds.labels[ds.labels["source"].astype(str).str.startswith("crm_")]
    assert len(a.people) == len(build_features(ds, pairs=crm_ties))
    keys = a.people[["account_id", "deal_id", "influence_rank", "person_id"]]
    assert keys.equals(keys.sort_values(list(keys.columns)).reset_index(drop=True))
    assert a.model_version == scorer.model_version
    names = ds.people.set_index("person_id")["full_name"]
    assert (a.people["full_name"].to_numpy() == names.reindex(a.people["person_id"]).to_numpy()).all()


def test_renaming_a_person_changes_no_score(setup) -> None:
    """Invariance: display names are not evidence."""
    scorer, _, ds, _ = setup
    from influence.contract import Dataset

    tables = dict(ds.tables)
    tables["people"] = ds.people.assign(full_name="Someone Else")
    renamed = scorer.score_dataset(Dataset(tables), explain=False).people
    original = scorer.score_dataset(ds, explain=False).people
    np.testing.assert_array_equal(renamed["influence"], original["influence"])
    np.testing.assert_array_equal(renamed["profile"], original["profile"])


def test_as_of_only_uses_the_past(setup) -> None:
    scorer, _, ds, _ = setup
    cut = ds.deals["created_at"].sort_values().iloc[len(ds.deals) // 2]
    result = scorer.score_dataset(ds, as_of=cut)
    assert result.as_of == cut
    alive = set(ds.deals.loc[ds.deals["created_at"] < cut, "deal_id"].astype(str))
    assert set(result.deals["deal_id"].astype(str)) == alive
    assert set(result.people["deal_id"].astype(str)) <= alive


def test_deal_report_is_json_ready(setup) -> None:
    scorer, _, ds, _ = setup
    result = scorer.score_dataset(ds, contributions=True)
    deal_id = str(result.people["deal_id"].iloc[0])
    report = result.deal_report(deal_id)
    text = json.dumps(report, allow_nan=False)
    assert deal_id in text and report["model_version"] == scorer.model_version
    assert len(report["people"]) == int((result.people["deal_id"] == deal_id).sum())
    assert len(report["coverage"]) == len(PROFILES) - 1
    with pytest.raises(KeyError):
        result.deal_report("no-such-deal")
    contrib = result.contributions
    assert set(contrib["target"]) == {"influence", "profile"}
    one = contrib[
        (contrib["person_id"] == result.people["person_id"].iloc[0])
        & (contrib["deal_id"] == result.people["deal_id"].iloc[0])  # a person may be in several deals
        & (contrib["target"] == "influence")
    ]
    forest = scorer._influence
    person = result.people.iloc[0]
    rows = build_features(ds)
    mask = (rows["deal_id"] == person["deal_id"]) & (rows["person_id"] == person["person_id"])
    x = scorer.feature_matrix(rows[mask.to_numpy()])
    assert one["contribution"].sum() + forest.bias()[0] == pytest.approx(forest.raw_margin(x)[0, 0])


def test_unknown_deal_ids_are_an_error(setup) -> None:
    scorer, _, ds, _ = setup
    with pytest.raises(ValueError, match="NOPE"):
        scorer.score_dataset(ds, deal_ids=["NOPE"])


def test_blocks_and_the_no_explanation_path_change_nothing(setup, monkeypatch) -> None:
    import influence.predict as predict

    scorer, _, _, features = setup
    reference = scorer.score_features(features)
    monkeypatch.setattr(predict, "_BLOCK", 16)  # many blocks
    blocked = scorer.score_features(features)
    pd.testing.assert_frame_equal(blocked, reference)
    # scikit-learn's own predict when no leaves are needed
    monkeypatch.setattr(predict, "SKLEARN_MIN_ROWS", 1)
    plain = scorer.score_features(features, explain=False)
    np.testing.assert_allclose(plain["influence"], reference["influence"], atol=1e-12)
    np.testing.assert_allclose(plain[PROBA_COLUMNS], reference[PROBA_COLUMNS], atol=1e-12)
    assert (plain["profile"] == reference["profile"]).all()


def test_no_rows_score_to_an_empty_frame(setup) -> None:
    scorer, _, _, features = setup
    out = scorer.score_features(features.head(0))
    assert len(out) == 0 and "influence" in out.columns and "reasons" in out.columns
    assert scorer.score_rows(np.zeros((0, len(scorer.feature_columns)))) == []


@pytest.mark.parametrize("cut", [False, True])
def test_deal_report_from_columns_equals_the_frames(setup, cut) -> None:
    """score_dataset reports a deal from its column values without building the frames; the same result rebuilt
    from its frames must give the very same JSON (values, None for missing, key order) for every deal."""
    from influence.predict import ScoreResult

    scorer, _, ds, _ = setup
    as_of = ds.deals["created_at"].sort_values().iloc[len(ds.deals) // 2] if cut else None
    lazy = scorer.score_dataset(ds, as_of=as_of)
    reports = {
        d: lazy.deal_report(d) for d in ds.deals["deal_id"].astype(str) if d in set(lazy.deals["deal_id"])
    }
    from_frames = ScoreResult(
        lazy.model_version,
        lazy.as_of,
        lazy.engagement_assessable,
        people=lazy.people,
        coverage=lazy.coverage,
        next_best_contacts=lazy.next_best_contacts,
        deals=lazy.deals,
    )
    assert reports and any(r["next_best_contacts"] for r in reports.values())
    for deal_id, report in reports.items():
        expected = from_frames.deal_report(deal_id)
        assert json.dumps(report, allow_nan=False) == json.dumps(expected, allow_nan=False), deal_id
    with pytest.raises(KeyError):
        lazy.deal_report("no-such-deal")


def test_small_ranks_equal_the_vectorised_ranks(monkeypatch) -> None:
    """The Python sort used for one deal's rows and the lexsort route give the same ranks: groups and ties with
    missing ids, NaN and equal scores (-0.0 and 0.0 too), numbers as ids, and a single group."""
    import influence.predict as predict

    rng = np.random.default_rng(3)
    cases = []
    for n in (1, 2, 9, 40, 200):
        group = rng.choice(np.array(["D-2", "D-1", None, "D-10", ""], dtype=object), n)
        tie = rng.choice(np.array(["P-b", "P-a", None, "P-c", float("nan")], dtype=object), n)
        score = rng.choice(np.array([0.5, 0.25, np.nan, 0.0, -0.0, 1.0]), n)
        cases += [(group, score, tie), (None, score, tie), (group, score, None)]
    cases.append((np.array([3, 1, 3, 2], dtype=object), np.array([0.1, 0.2, 0.2, 0.3]), None))
    small = [predict._rank_within(g, s, t) for g, s, t in cases]
    monkeypatch.setattr(predict, "_RANK_SMALL_ROWS", 0)
    vectorised = [predict._rank_within(g, s, t) for g, s, t in cases]
    for a, b in zip(small, vectorised, strict=True):
        assert a.dtype == b.dtype == np.int64
        np.testing.assert_array_equal(a, b)
    # mixed id types do not sort in Python: the vectorised route answers (pandas' order), no error
    mixed = predict._rank_within(np.array(["a", 1, "a"], dtype=object), np.array([0.1, 0.2, 0.3]), None)
    assert sorted(mixed.tolist()) == [1, 1, 2]


def test_arrow_string_array_equals_pandas_string_array() -> None:
    from influence.data import _arrow_string_array

    for values in (["a", None, "b", ""], np.array(["x", None], dtype=object), [], ["é", "日本"]):
        built = _arrow_string_array(values)
        expected = pd.array(list(values), dtype="string")
        assert built.dtype == expected.dtype and built.equals(expected)
        assert list(built) == list(expected)
    # anything that is not str / None is left to the caller's general route
    assert _arrow_string_array(["a", 1]) is None
    assert _arrow_string_array(np.array(["a", float("nan")], dtype=object)) is None
    assert _arrow_string_array(["a"], dtype=pd.StringDtype("python")) is None
