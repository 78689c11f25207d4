"""Reasons: every feature renders in both directions with the person's values, and the reasons a person gets
name features that really moved that person's score, in the direction the sentence says."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from influence.explain import REASON_TEMPLATES, render_reason, top_reasons
from influence.features import FEATURE_COLUMNS

VALUES = (0.0, 1.0, 0.4, 2.5, 7.0, -3.0, 1000.0, math.nan)
CONTEXT = {"ctx_deal_meetings": 10.0, "title": "Head of Procurement"}
PRONOUNS = re.compile(r"\b(he|she|his|her|hers|him)\b", re.IGNORECASE)


@pytest.mark.parametrize("feature", FEATURE_COLUMNS)
def test_every_feature_has_a_template_and_renders_both_directions(feature: str) -> None:
    assert feature in REASON_TEMPLATES, f"no reason template for {feature}"
    for value in VALUES:
        up = render_reason(feature, value, +1, CONTEXT)
        down = render_reason(feature, value, -1, CONTEXT)
        for text in (up, down):
            assert text and "{" not in text and "}" not in text, (feature, value, text)
            assert not PRONOUNS.search(text), (feature, value, text)
            assert "undefined" not in text or math.isnan(value) or feature.startswith("title_"), text
        # The sentence itself must say which way the feature moved the score.
        assert up != down, (feature, value, up)


@pytest.mark.parametrize(
    ("feature", "value", "direction", "expected"),
    [
        ("mtg_attended_share", 0.9, 1, "attends 9 of 10 meetings"),
        ("mtg_attended_share", 0.1, -1, "attends only 1 of 10 meetings"),
        ("em_latency_received_h", 0.5, 1, "others reply within an hour"),
        ("em_latency_received_h", 70.0, -1, "others take 3 days to reply"),
        ("title_seniority", 4.0, 1, "senior title: Head of Procurement (manager-level)"),
        ("sig_days_first_to_contact", 42.0, 1, "first active online 6 weeks before our first contact"),
        ("em_sent", 1.0, -1, "sent only 1 e-mail"),
        ("em_sent", 12.0, 1, "sent 12 e-mails in the deal"),
        ("mtg_attended", 0.0, -1, "attended no meeting"),
    ],
)
def test_templates_use_the_persons_values(feature: str, value: float, direction: int, expected: str) -> None:
    assert render_reason(feature, value, direction, CONTEXT) == expected


def test_counts_appear_in_the_sentence() -> None:
    counted = [
        f for f in FEATURE_COLUMNS if f.startswith(("em_sent", "em_received", "em_fan", "hist_", "sig_in"))
    ]
    for feature in counted:
        assert "17" in render_reason(feature, 17.0, 1, CONTEXT), feature


def test_unknown_feature_gets_a_generic_but_honest_sentence() -> None:
    assert render_reason("new_feature_x", 3.0, 1) == "new feature x = 3, which raises the estimate"
    assert render_reason("new_feature_x", 3.0, -1) == "new feature x = 3, which lowers the estimate"


def test_top_reasons_pick_the_largest_contributions_with_their_sign() -> None:
    rng = np.random.default_rng(0)
    columns = list(FEATURE_COLUMNS)
    X = rng.integers(0, 20, size=(30, len(columns))).astype(float)
    contrib = rng.normal(size=X.shape) * (rng.random(X.shape) < 0.3)
    reasons = top_reasons(X, contrib, columns, n=4)
    for i, row in enumerate(reasons):
        expected = np.argsort(-np.abs(contrib[i]), kind="stable")[:4]
        assert [r.feature for r in row] == [columns[j] for j in expected]
        for r in row:
            j = columns.index(r.feature)
            assert r.contribution == contrib[i, j]
            assert r.direction == np.sign(contrib[i, j])
            assert r.text == render_reason(
                r.feature, X[i, j], r.direction, dict(zip(columns, X[i], strict=True))
            )


def test_zero_contributions_are_never_reasons() -> None:
    X = np.ones((2, 3))
    contrib = np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
    reasons = top_reasons(X, contrib, ["em_sent", "em_received", "em_fan_in"], n=3)
    assert [r.feature for r in reasons[0]] == ["em_received"]
    assert reasons[1] == []


@pytest.fixture(scope="module")
def scored(unit_bundle):
    """The session's small trained bundle and another generated dataset's feature rows."""
    from influence.features import build_features
    from influence.generate import generate
    from influence.predict import Scorer

    bundle = unit_bundle
    features = build_features(generate(6, 77))
    return Scorer(bundle, n_reasons=4), features


def test_person_reasons_name_features_that_moved_that_persons_score(scored) -> None:
    scorer, features = scored
    out = scorer.score_features(features)
    X = scorer.feature_matrix(features)
    forest = scorer._influence
    contrib = forest.contributions(X, output=0)
    raw = forest.raw_margin(X)[:, 0]
    np.testing.assert_allclose(contrib.sum(axis=1) + forest.bias()[0], raw, atol=1e-9)
    cols = list(scorer.feature_columns)
    typical = dict(zip(cols, forest.typical_thresholds(), strict=True))
    checked = 0
    for i, reasons in enumerate(out["reasons"]):
        assert 3 <= len(reasons) <= 5
        top = np.argsort(-np.abs(contrib[i]), kind="stable")[:4]
        context = dict(zip(cols, X[i], strict=True))
        for rank, j in enumerate(top):
            if abs(contrib[i, j]) < 1e-6:
                continue
            sign = 1 if contrib[i, j] > 0 else -1
            t = typical[cols[j]] if np.isfinite(typical[cols[j]]) else None
            # The rank-th reason is the sentence for the rank-th largest contribution, worded for its sign
            # (and not for the opposite sign).
            assert reasons[rank] == render_reason(cols[j], X[i, j], sign, context, t)
            assert reasons[rank] != render_reason(cols[j], X[i, j], -sign, context, t)
            checked += 1
    assert checked > len(out)  # most people have several non-zero reasons


def test_only_wording_is_kept_for_values_on_the_expected_side() -> None:
    assert render_reason("em_sent", 1.0, -1, typical=5.0) == "sent only 1 e-mail"
    assert (
        render_reason("em_sent", 1.0, +1, typical=5.0)
        == "sent 1 e-mail in the deal, which raises the estimate"
    )
    assert render_reason("sig_in_deal", 32.0, -1, typical=5.0) == (
        "32 digital signals during the deal, which lowers the estimate"
    )
    assert render_reason("sig_in_deal", 32.0, +1, typical=5.0) == "32 digital signals during the deal"


def test_profile_reason_is_evidence_for_the_predicted_profile(scored) -> None:
    scorer, features = scored
    out = scorer.score_features(features.head(40))
    X = scorer.feature_matrix(features.head(40))
    proba = scorer._profile.predict_proba(X)
    best = np.argmax(proba, axis=1)
    contrib = scorer._profile.contributions(X, output=best)
    cols = list(scorer.feature_columns)
    typical = dict(zip(cols, scorer._influence.typical_thresholds(), strict=True))
    clauses = (", which raises the estimate", ", which lowers the estimate")
    for i, reasons in enumerate(out["reasons"]):
        label = str(out["profile"].iloc[i]).replace("_", " ")
        profile_reasons = [r for r in reasons if r.startswith(f"{label} profile: ")]
        if contrib[i].max() <= 0:
            assert profile_reasons == []
            continue
        assert len(profile_reasons) == 1
        j = int(np.argmax(contrib[i]))  # the strongest positive evidence for the predicted class
        t = typical[cols[j]] if np.isfinite(typical[cols[j]]) else None
        candidates = set()
        for direction in (1, -1):
            text = render_reason(cols[j], X[i, j], direction, dict(zip(cols, X[i], strict=True)), t)
            for clause in clauses:
                text = text.replace(clause, "")
            candidates.add(f"{label} profile: {text}")
        assert profile_reasons[0] in candidates
        assert not any(c in profile_reasons[0] for c in clauses)


def test_render_reasons_gives_render_reason_for_every_entry(scored) -> None:
    """The batch renderer shares one rendering among entries whose sentence depends on the same things (the
    rounded value, the direction, the title, ...): each sentence must still be exactly render_reason's, also
    for values on rounding edges, zero, -0.0, NaN and infinities."""
    from influence.explain import render_reasons

    scorer, features = scored
    X = scorer.feature_matrix(features)
    rng = np.random.default_rng(5)
    edges = np.array(
        [0.0, -0.0, np.nan, np.inf, -np.inf, 0.5, 1.5, 0.005, 0.015, 0.125, 0.995, 2.675, 1e-10, 24.0]
    )
    rows = np.concatenate([X, X[:40] * 1.0001, rng.choice(edges, size=(len(edges) * 6, X.shape[1]))])
    titles = [("CFO" if i % 3 else None) if i % 5 else "Head of IT" for i in range(len(rows))]
    cols = list(scorer.feature_columns)
    typical = scorer._typical
    n_entries = 3000
    entry_rows = rng.integers(0, len(rows), n_entries)
    entry_features = rng.integers(0, len(cols), n_entries)
    positive = rng.random(n_entries) < 0.5
    got = render_reasons(entry_features, entry_rows, positive, rows, cols, titles=titles, typical=typical)
    # A few entries (one API deal) are rendered one by one: the same sentences.
    few = render_reasons(
        entry_features[:50], entry_rows[:50], positive[:50], rows, cols, titles=titles, typical=typical
    )
    assert few.tolist() == got[:50].tolist()
    for e in range(n_entries):
        i, j = int(entry_rows[e]), int(entry_features[e])
        context = {**dict(zip(cols, rows[i], strict=True)), "title": titles[i]}
        expected = render_reason(cols[j], rows[i, j], 1 if positive[e] else -1, context, typical.get(cols[j]))
        assert got[e] == expected, (cols[j], rows[i, j], positive[e], titles[i])


@pytest.mark.parametrize(
    ("feature", "value", "direction", "words", "says_effect"),
    [
        # Near 1x an average person is neither "central" nor "peripheral"; a side that disagrees with the
        # direction is given as a plain ratio (issue #4: "peripheral ..., which raises the estimate").
        ("net_pagerank", 0.94, +1, "about as central as an average person", True),
        (
            "net_pagerank",
            1.004,
            -1,
            "about as central as an average person in the communication network (1x)",
            True,
        ),
        ("net_pagerank", 0.5, -1, "peripheral", False),
        ("net_pagerank", 0.5, +1, "0.5x an average person's centrality", True),
        ("net_pagerank", 2.5, -1, "2.5x an average person's centrality", True),
        ("net_pagerank", 2.5, +1, "central in the communication network (2.5x", False),
        ("net_pagerank", 1.3, +1, "somewhat more central than an average person", False),
        # The log ratio reads as a factor: e^0.77 = 2.2, e^0.5 = 1.6; near 1 it says "about as fast".
        ("em_latency_log_ratio", -0.77, +1, "answers others about 2.2x faster", True),
        ("em_latency_log_ratio", 0.5, +1, "others answer about 1.6x faster", False),
        ("em_latency_log_ratio", 0.1, +1, "about as fast as they answer", True),
        # Within-deal percentiles: the top reads "first", never "above 100%"; the middle is the neutral point.
        ("pct_net_cc_weighted", 1.0, +1, "ranks first among the deal's people", False),
        ("pct_net_cc_weighted", 0.8, -1, "ranks above 80% of the deal's other people", True),
        ("pct_net_cc_weighted", 0.2, -1, "ranks above only 20% of the deal's other people", False),
        ("net_brokerage", 0.2, +1, "mostly know each other (20% of pairs", True),
        ("net_brokerage", 0.2, -1, "mostly know each other (only 20% of pairs", False),
    ],
)
def test_side_of_neutral_wording_follows_the_value_not_the_contribution(
    feature: str, value: float, direction: int, words: str, says_effect: bool
) -> None:
    text = render_reason(feature, value, direction, {}, typical=None)
    assert words in text
    assert ("raises" in text or "lowers" in text) == says_effect
    assert "-0.77" not in text  # a log ratio is never printed as a "ratio"


def test_constraint_states_its_scale_instead_of_a_side() -> None:
    text = render_reason("net_constraint", 1.0, -1, {})
    assert "(a broker between groups)" not in text
    assert "1 = one closed group" in text


EMAIL_ONLY_WORDS = ("e-mailed by nobody", "none of the deal's e-mail threads", "sends no e-mail while others")


def _about(prefixes: tuple[str, ...]) -> list[str]:
    return [f for f in FEATURE_COLUMNS if f.startswith(prefixes)]


@pytest.mark.parametrize(
    ("count", "prefixes", "absent"),
    [
        (
            "ctx_deal_emails",
            ("em_", "rel_em_", "pct_em_", "net_in_strength", "pct_net_in"),
            "no e-mail on record",
        ),
        ("ctx_deal_meetings", ("mtg_", "rel_mtg_", "pct_mtg_"), "no meeting on record"),
    ],
)
def test_a_deal_without_emails_or_meetings_says_so_instead_of_describing_the_person(
    count: str, prefixes: tuple[str, ...], absent: str
) -> None:
    """Issue #4: in a deal with no e-mail at all, "e-mailed by nobody while others are" is false; the feature's
    reason says the deal has none (once, the same words for every such feature), in the contribution's direction."""
    features = _about(prefixes)
    assert len(features) >= 5
    for feature in features:
        for value in VALUES:
            for direction, effect in ((+1, "raises"), (-1, "lowers")):
                text = render_reason(feature, value, direction, {**CONTEXT, count: 0.0})
                assert text == f"{absent} for this deal, which {effect} the estimate", (feature, value, text)
                # With some e-mail / meetings in the deal, the person's own value is described as before.
                assert not render_reason(feature, value, direction, {**CONTEXT, count: 4.0}).startswith(
                    absent
                )
                # Unknown deal context (an API row without it): the person's own wording.
                assert not render_reason(feature, value, direction, {"title": "CFO"}).startswith(absent)


def test_account_wide_features_keep_their_wording_in_a_deal_without_email() -> None:
    context = {**CONTEXT, "ctx_deal_emails": 0.0, "ctx_deal_meetings": 0.0}
    assert render_reason("hist_emails", 3.0, +1, context) == "3 e-mails in earlier deals"
    assert "account" in render_reason("acct_degree", 3.0, +1, context)


def test_signal_absence_is_worded_as_nothing_on_record() -> None:
    # A dataset without a signals table has no signals for anyone: "no digital research" would be a claim.
    for feature in _about(("sig_",)):
        for direction in (1, -1):
            text = render_reason(
                feature, 0.0 if feature != "sig_days_first_to_contact" else math.nan, direction
            )
            assert "on record" in text, (feature, text)


@pytest.mark.parametrize("value", [0.8, 0.9, 0.97, 1.0, 1.004, 1.1, 1.24])
@pytest.mark.parametrize(
    "feature", ["net_pagerank", "acct_pagerank", "net_pagerank_distinct", "net_cc_sender_rank"]
)
def test_near_average_centrality_is_neither_central_nor_peripheral(feature: str, value: float) -> None:
    for direction in (1, -1):
        text = render_reason(feature, value, direction, {})
        assert "about as central as an average person" in text, text
        assert not re.search(r"\b(central|peripheral) (in|among|people)\b", text), text
        assert "raises" in text or "lowers" in text  # near neutral: the direction is said


@pytest.mark.parametrize(
    "feature", ["net_pagerank", "acct_pagerank", "net_pagerank_distinct", "net_cc_sender_rank"]
)
def test_central_only_from_a_clear_factor(feature: str) -> None:
    for value in (0.05, 0.5, 0.7, 1.3, 1.49):
        assert not re.search(r"\bcentral (in|among|people)\b", render_reason(feature, value, +1, {}))
    for value in (1.5, 3.0):
        assert re.search(r"\bcentral (in|among|people)\b", render_reason(feature, value, +1, {}))


LOW_WORDS = re.compile(r"\b(only|peripheral|less central|rarely)\b")
# "ranks first ..., which lowers the estimate" states a fact; calling someone "central" is a judgement.
HIGH_WORDS = re.compile(r"(?<!from )\bcentral (in|among|people)\b")


@pytest.mark.parametrize("feature", FEATURE_COLUMNS)
def test_no_sentence_contradicts_its_direction(feature: str) -> None:
    """Issue #4: "peripheral ..., which raises the estimate" reads as a contradiction. A sentence with low words
    ("only", "peripheral") never says it raised the score, one calling the person central never says it lowered
    it."""
    values = (0.0, 0.003, 0.2, 0.5, 0.7, 0.94, 1.0, 1.3, 2.5, 7.0, 1000.0, math.nan)
    for value in values:
        for typical in (None, 0.5, 5.0):
            up = render_reason(feature, value, +1, CONTEXT, typical)
            down = render_reason(feature, value, -1, CONTEXT, typical)
            assert not (LOW_WORDS.search(up) and "raises the estimate" in up), (value, typical, up)
            assert not (HIGH_WORDS.search(down) and "lowers the estimate" in down), (value, typical, down)


@pytest.mark.parametrize(
    ("dropped", "count", "false_words"),
    [
        (("emails", "email_recipients"), "ctx_deal_emails", EMAIL_ONLY_WORDS),
        (("meetings", "meeting_attendees"), "ctx_deal_meetings", ("attends no meeting while others do",)),
    ],
)
def test_scored_dataset_without_emails_or_meetings_gives_no_false_reasons(
    unit_bundle, dropped: tuple[str, ...], count: str, false_words: tuple[str, ...]
) -> None:
    """End to end (what `influence dmu` prints): a generated dataset with its e-mail (or meeting) tables dropped,
    as an import of a CRM and a calendar gives; no reason claims the person is left out of e-mail others have."""
    from dataclasses import replace

    from influence.contract import empty_table
    from influence.generate import generate
    from influence.predict import Scorer

    ds = generate(4, 31)
    ds = replace(ds, tables={**ds.tables, **{name: empty_table(name) for name in dropped}})
    people = Scorer(unit_bundle, n_reasons=4).score_dataset(ds).people
    reasons = [r for row in people["reasons"] for r in row]
    assert reasons
    assert not [r for r in reasons if any(w in r for w in false_words)]
    # The features about the dropped tables still move scores; their reasons say the deal has none.
    absent = _ABSENT_WORDS[count]
    assert any(r.startswith(absent) or r.split(": ", 1)[-1].startswith(absent) for r in reasons)
    # Several features render that sentence; a person hears it once.
    assert all(len(set(row)) == len(row) for row in people["reasons"])


_ABSENT_WORDS = {"ctx_deal_emails": "no e-mail on record", "ctx_deal_meetings": "no meeting on record"}
