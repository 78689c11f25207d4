"""The synthetic generator: determinism, chunking, contract validity and the documented statistics of its world.

Statistics are measured on the shared `small_dataset`/`small_truth` (60 accounts, seed 11); tolerances allow for
sampling noise at that size around the targets written in docs/synthetic-data.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from influence.contract import PROFILES, TABLE_ORDER
from influence.generate import (
    TRUTH_COLUMNS,
    GeneratorConfig,
    generate,
    generate_with_truth,
    settings_table,
    write_generated,
)

ROOT = Path(__file__).resolve().parents[2]
CFG = GeneratorConfig()


def _assert_same(a, b) -> None:  # noqa: ANN001
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_same_seed_same_data_other_seed_differs() -> None:
    first, truth1 = generate_with_truth(6, seed=3)
    second, truth2 = generate_with_truth(6, seed=3)
    _assert_same(first, second)
    pd.testing.assert_frame_equal(truth1, truth2)
    other = generate(6, seed=4)
    assert not first.emails.equals(other.emails)
    assert not first.people["full_name"].equals(other.people["full_name"])


def test_chunking_and_workers_do_not_change_the_data() -> None:
    whole = generate(8, seed=5, chunk_size=500)
    _assert_same(whole, generate(8, seed=5, chunk_size=3))
    _assert_same(whole, generate(8, seed=5, chunk_size=2, workers=2))


def test_generated_data_satisfies_the_contract(small_dataset) -> None:  # noqa: ANN001
    from influence.data import validate_frames

    _, report = validate_frames(small_dataset.tables)
    assert report.ok, report.format_problems(10)
    for name in TABLE_ORDER:
        assert len(small_dataset[name]) > 0, name


def test_truth_has_one_row_per_dmu_member_and_never_reaches_the_dataset(small_dataset, small_truth) -> None:  # noqa: ANN001
    assert list(small_truth.columns) == list(TRUTH_COLUMNS)
    assert not small_truth.duplicated(["deal_id", "person_id"]).any()
    assert set(small_truth["deal_id"]) == set(small_dataset.deals["deal_id"])
    people = small_dataset.people.set_index("person_id")
    assert set(small_truth["person_id"]) <= set(people.index)
    assert not (people.loc[small_truth["person_id"], "side"] == "seller").any()
    for name in TABLE_ORDER:
        leaked = {"influence", "is_key", "seniority_level", "profile"} & set(small_dataset[name].columns)
        assert name == "labels" or not leaked, (name, leaked)


def test_seniority_explains_influence_only_partly(small_truth) -> None:  # noqa: ANN001
    rho = spearmanr(small_truth["seniority_level"], small_truth["influence"]).statistic
    assert 0.27 <= rho <= 0.43, rho  # documented target 0.3-0.4
    assert small_truth["seniority_level"].between(1, 6).all()
    silent = small_truth[small_truth["profile"] == "silent_influencer"]
    assert silent["seniority_level"].max() <= 4 and silent["is_key"].mean() > 0.6
    senior_peripheral = small_truth[
        (small_truth["profile"] == "peripheral") & (small_truth["seniority_level"] >= 5)
    ]
    assert len(senior_peripheral) > 0 and senior_peripheral["is_key"].mean() < 0.1


def test_key_share_and_profile_mix_match_the_documented_world(small_truth) -> None:  # noqa: ANN001
    assert 0.20 <= small_truth["is_key"].mean() <= 0.35
    assert (small_truth["is_key"] == (small_truth["influence"] >= 0.5)).all()
    mix = small_truth["profile"].value_counts(normalize=True)
    for profile, expected in CFG.expected_profile_mix().items():
        assert abs(mix.get(profile, 0.0) - expected) < 0.03, (profile, mix.get(profile), expected)
    per_deal = small_truth.groupby("deal_id")
    buyers = small_truth[small_truth["side"] == "buyer"].groupby("deal_id").size()
    assert buyers.min() >= CFG.min_buyer_dmu and 5 <= buyers.median() <= 15
    assert per_deal["profile"].nunique().max() < len(PROFILES) or per_deal.ngroups > 0
    sponsor_share = per_deal["profile"].apply(lambda p: (p == "executive_sponsor").any()).mean()
    assert 0.2 <= sponsor_share <= 0.5  # rare-ish: not every deal has one


def test_capture_rate_is_about_85_percent(small_truth) -> None:  # noqa: ANN001
    # Header-only accounts drop whole kinds of evidence on top of capture loss; see the test below.
    small_truth = small_truth[small_truth["evidence"] == "full"]
    for total, captured in (
        ("emails_sent", "captured_emails_sent"),
        ("meetings_invited", "captured_meetings_invited"),
        ("emails_received", "captured_emails_received"),
    ):
        rate = small_truth[captured].sum() / small_truth[total].sum()
        assert 0.80 <= rate <= 0.90, (total, rate)


def test_in_reply_to_may_point_to_uncaptured_messages(small_dataset) -> None:  # noqa: ANN001
    emails = small_dataset.emails
    replies = emails["in_reply_to"].dropna()
    dangling = ~replies.isin(emails["message_id"])
    assert 0.05 < dangling.mean() < 0.30


def test_labels_are_noisy_and_only_on_closed_deals(small_dataset, small_truth) -> None:  # noqa: ANN001
    labels = small_dataset.labels.merge(small_truth, on=["deal_id", "person_id"], suffixes=("", "_true"))
    assert len(labels) == len(small_dataset.labels)
    closed = set(small_dataset.deals.loc[small_dataset.deals["outcome"] != "open", "deal_id"])
    assert set(labels["deal_id"]) == closed
    assert len(labels) == int(small_truth["labelled"].sum())
    wrong = (labels["profile"] != labels["profile_true"]).mean()
    assert 0.07 <= wrong <= 0.13, wrong
    noise = labels["influence"] - labels["influence_true"]
    assert 0.03 < noise.std() < 0.07 and labels["influence"].between(0, 1).all()
    assert set(labels["source"]) == {"win_loss_review", "crm_contact_role"}


def _accounts_by_evidence(truth: pd.DataFrame) -> dict[str, set[str]]:
    kinds = truth.drop_duplicates("account_id").groupby("evidence")["account_id"]
    return {kind: set(ids) for kind, ids in kinds}


def test_titles_are_missing_for_about_10_percent_and_speak_the_country_language(
    small_dataset, small_truth
) -> None:  # noqa: ANN001
    people = small_dataset.people
    buyers = people[people["side"] == "buyer"]
    full = buyers[buyers["account_id"].isin(_accounts_by_evidence(small_truth)["full"])]
    assert 0.07 <= full["title"].isna().mean() <= 0.13
    with_country = buyers.merge(small_dataset.accounts[["account_id", "country"]], on="account_id")
    german = with_country.loc[with_country["country"].isin(["DE", "AT"]), "title"].dropna()
    dutch = with_country.loc[with_country["country"] == "NL", "title"].dropna()
    assert german.str.contains(r"Leiter|Einkäufer|Sachbearbeiter|Geschäftsführ|Entwickler|Referent").any()
    assert dutch.str.contains(r"Hoofd|Teamleider|Medewerker|Inkoper|beheerder|Directeur").any()
    assert people["email"].is_unique and people["email"].notna().all()


def test_open_deals_are_about_15_percent_and_end_at_now(small_dataset) -> None:  # noqa: ANN001
    deals = small_dataset.deals
    open_share = (deals["outcome"] == "open").mean()
    assert 0.08 <= open_share <= 0.24, open_share
    now = pd.Timestamp(CFG.now)
    assert deals["created_at"].max() <= now and deals["closed_at"].max() <= now
    assert small_dataset.emails["sent_at"].max() <= now and small_dataset.signals["occurred_at"].max() <= now


def test_winning_depends_on_meeting_key_people_early(small_truth) -> None:  # noqa: ANN001
    deals = small_truth.drop_duplicates("deal_id")
    closed = deals[deals["deal_outcome"] != "open"]
    won = closed["deal_outcome"] == "won"
    early = closed["deal_engaged_share"] > 0.5
    assert won[early].mean() - won[~early].mean() >= 0.25


def test_behaviour_carries_influence_and_profile(small_dataset, small_truth) -> None:  # noqa: ANN001
    active = small_truth[small_truth["active"] & (small_truth["side"] == "buyer")]
    received = spearmanr(active["influence"], active["captured_emails_received"]).statistic
    assert received > 0.3, received
    # Influential people get answers faster than others.
    emails = small_dataset.emails
    parents = emails[["message_id", "sent_at", "sender_id"]].rename(
        columns={"message_id": "in_reply_to", "sent_at": "asked_at", "sender_id": "asker"}
    )
    replies = emails.merge(parents, on="in_reply_to")
    hours = (replies["sent_at"] - replies["asked_at"]).dt.total_seconds() / 3600
    asker = replies[["deal_id", "asker"]].rename(columns={"asker": "person_id"})
    infl = asker.merge(small_truth[["deal_id", "person_id", "influence"]], how="left")["influence"]
    known = infl.notna().to_numpy()
    assert spearmanr(infl[known], hours[known]).statistic < -0.1
    # Digital researchers leave the most signals, much of it before the deal exists.
    by_profile = small_truth[small_truth["active"]].groupby("profile")["signals"].mean()
    assert by_profile.idxmax() == "digital_researcher"
    # Inactive DMU members exist and have no captured activity, yet they are labelled.
    inactive = small_truth[~small_truth["active"]]
    assert len(inactive) > 0
    assert (inactive[["meetings_invited", "emails_sent", "emails_received", "signals"]].to_numpy() == 0).all()


def test_external_advisors_are_partner_people_from_other_domains(small_dataset, small_truth) -> None:  # noqa: ANN001
    people = small_dataset.people.set_index("person_id")
    advisors = small_truth.loc[small_truth["profile"] == "external_advisor", "person_id"].unique()
    assert len(advisors) > 0
    assert (people.loc[advisors, "side"] == "partner").all() and people.loc[
        advisors, "account_id"
    ].isna().all()
    domains = people.loc[advisors, "email"].str.split("@").str[1]
    assert not domains.isin(small_dataset.accounts["domain"]).any()
    sellers = people[people["side"] == "seller"]
    assert sellers["email"].str.endswith("@" + CFG.seller_domain).all() and sellers["account_id"].isna().all()


def test_interaction_volume_is_about_1000_rows_per_account(small_dataset, small_truth) -> None:  # noqa: ANN001
    kinds = _accounts_by_evidence(small_truth)
    deals = small_dataset.deals.set_index("deal_id")["account_id"]
    account_of = {
        "meeting_attendees": small_dataset.meeting_attendees.merge(small_dataset.meetings, on="meeting_id")[
            "deal_id"
        ].map(deals),
        "emails": small_dataset.emails["deal_id"].map(deals),
        "email_recipients": small_dataset.email_recipients.merge(small_dataset.emails, on="message_id")[
            "deal_id"
        ].map(deals),
        "signals": small_dataset.signals.merge(small_dataset.people, on="person_id")["account_id"],
    }
    rows = pd.concat(list(account_of.values())).value_counts()
    ordinary = kinds["full"] | kinds["header_only"]
    assert 600 <= rows.reindex(list(ordinary)).fillna(0).sum() / len(ordinary) <= 1400
    # a mailbox is a whole company's mail: thousands of messages
    mailbox_emails = small_dataset.emails["deal_id"].map(deals).isin(kinds["mailbox"])
    assert kinds["mailbox"] and mailbox_emails.sum() / len(kinds["mailbox"]) >= 1000


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_generated_streams_the_same_tables(tmp_path: Path, fmt: str) -> None:
    from influence.data import load

    counts = write_generated(tmp_path, 5, seed=2, fmt=fmt, chunk_size=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.{fmt}" for t in TABLE_ORDER)
    loaded = load(tmp_path)
    direct = generate(5, seed=2)
    for name in TABLE_ORDER:
        assert counts[name] == len(direct[name]) == len(loaded[name]), name
    pd.testing.assert_frame_equal(
        loaded.emails.reset_index(drop=True), direct.emails, check_dtype=False, check_exact=True
    )


def test_cli_generate_writes_and_summarises(tmp_path: Path) -> None:
    from influence.cli import app

    out = tmp_path / "gen"
    result = CliRunner().invoke(
        app, ["generate", "--out", str(out), "--accounts", "4", "--seed", "1", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"accounts 4, people \d+, deals \d+", result.output)
    assert (out / "emails.csv").exists()
    bad = CliRunner().invoke(app, ["generate", "--out", str(out), "--accounts", "4", "--format", "xlsx"])
    assert bad.exit_code == 1 and "parquet or csv" in bad.output


def test_config_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="capture_rate"):
        GeneratorConfig(capture_rate=1.5)
    with pytest.raises(ValueError, match="n_accounts"):
        generate(0, seed=1)


def test_docs_list_every_setting_with_its_default() -> None:
    doc = (ROOT / "docs" / "synthetic-data.md").read_text(encoding="utf-8")
    for name, value, _ in settings_table():
        row = re.search(rf"^\| `{name}` \| `(.*?)` \|", doc, flags=re.MULTILINE)
        assert row, f"docs/synthetic-data.md has no row for setting {name}"
        assert row.group(1) == value.replace("|", "\\|"), (name, row.group(1), value)


def test_sample_account_list_mixes_known_and_unknown_ids() -> None:
    path = ROOT / "data" / "sample-accounts.csv"
    ids = pd.read_csv(path, dtype=str)["account_id"]
    assert ids.is_unique and 30 <= len(ids) <= 60
    # Sample account ids are A-000000 ... A-000199 (200 accounts); exactly two ids are deliberately unknown.
    numbers = pd.to_numeric(ids.str.extract(r"^A-(\d{6})$")[0], errors="coerce")
    known = numbers.notna() & (numbers < 200)
    assert (~known).sum() == 2


# --- real-world evidence: header-only exports, mailboxes, hierarchy, assistants ------------------------------


def _bare_exports(**overrides: float) -> GeneratorConfig:
    rates = {
        "header_only_share": 1.0,
        "mailbox_share": 0.0,
        "header_only_no_cc_rate": 1.0,
        "header_only_no_reply_rate": 1.0,
        "header_only_flat_thread_rate": 1.0,
        "header_only_no_seller_rate": 1.0,
        "header_only_no_titles_rate": 1.0,
    }
    return GeneratorConfig(**(rates | overrides))


def test_header_only_accounts_hold_mail_headers_and_nothing_else() -> None:
    from influence.data import validate_frames

    ds, truth = generate_with_truth(5, seed=4, config=_bare_exports())
    assert (truth["evidence"] == "header_only").all()
    assert len(ds.meetings) == len(ds.meeting_attendees) == len(ds.signals) == 0
    assert len(ds.emails) > 0 and (ds.email_recipients["kind"] == "to").all()
    assert ds.emails["in_reply_to"].isna().all() and ds.emails["thread_id"].is_unique
    sellers = set(ds.people.loc[ds.people["side"] == "seller", "person_id"])
    assert not ds.emails["sender_id"].isin(sellers).any()
    assert not ds.email_recipients["person_id"].isin(sellers).any()
    buyers = ds.people[ds.people["side"] == "buyer"]
    assert buyers["title"].isna().all() and buyers["department"].isna().all()
    # the world behind the export is complete: labels come from the latent influence as always
    assert len(ds.labels) == int(truth["labelled"].sum()) > 0
    _, report = validate_frames(ds.tables)
    assert report.ok, report.format_problems(5)


def test_header_only_accounts_may_keep_cc_reply_headers_our_side_and_titles() -> None:
    kept = _bare_exports(
        header_only_no_cc_rate=0.0,
        header_only_no_reply_rate=0.0,
        header_only_no_seller_rate=0.0,
        header_only_no_titles_rate=0.0,
        header_only_title_missing_rate=0.0,
        title_missing_rate=0.0,
    )
    ds = generate(5, seed=4, config=kept)
    assert len(ds.meetings) == len(ds.signals) == 0
    assert (ds.email_recipients["kind"] == "cc").any() and ds.emails["in_reply_to"].notna().any()
    sellers = set(ds.people.loc[ds.people["side"] == "seller", "person_id"])
    assert ds.emails["sender_id"].isin(sellers).any()
    assert ds.people.loc[ds.people["side"] == "buyer", "title"].notna().all()


def test_a_mailbox_is_one_large_deal_with_thousands_of_messages() -> None:
    cfg = GeneratorConfig(mailbox_share=1.0, header_only_share=0.0, mailbox_people=(50, 60))
    ds, truth = generate_with_truth(2, seed=8, config=cfg)
    assert (truth["evidence"] == "mailbox").all()
    assert ds.deals.groupby("account_id").size().eq(1).all()
    people = truth[truth["side"] == "buyer"].groupby("deal_id").size()
    assert people.between(35, 90).all(), people
    assert (ds.emails.groupby("deal_id").size() >= 500).all()
    recipients_per_message = len(ds.email_recipients) / len(ds.emails)
    assert 1.2 <= recipients_per_message <= 3.0, recipients_per_message
    # the profile mix and key share of a mailbox are those of ordinary deals
    assert 0.15 <= truth["is_key"].mean() <= 0.40


def test_generation_is_deterministic_with_mailboxes_and_header_only_accounts() -> None:
    cfg = GeneratorConfig(mailbox_share=0.4, header_only_share=0.4, mailbox_people=(20, 30))
    _assert_same(generate(5, seed=9, config=cfg), generate(5, seed=9, config=cfg, chunk_size=2))


def _seniority_fan_in(cfg: GeneratorConfig) -> float:
    ds, truth = generate_with_truth(30, seed=6, config=cfg)
    mail = ds.email_recipients.merge(ds.emails[["message_id", "deal_id", "sender_id"]], on="message_id")
    mail = mail[mail["person_id"] != mail["sender_id"]]
    fan_in = (
        mail.drop_duplicates(["deal_id", "person_id", "sender_id"]).groupby(["deal_id", "person_id"]).size()
    )
    rows = truth[truth["side"] == "buyer"].set_index(["deal_id", "person_id"])
    rows = rows.assign(fan_in=fan_in.reindex(rows.index).fillna(0).to_numpy())
    rank = rows.groupby(level="deal_id")["fan_in"].rank(pct=True)
    return float(spearmanr(rows["seniority_level"], rank).statistic)


def test_mail_flows_up_the_hierarchy() -> None:
    flat = GeneratorConfig(mail_hierarchy_strength=0.0, mailbox_share=0.0, assistant_rate=0.0)
    ranked = GeneratorConfig(mail_hierarchy_strength=1.0, mailbox_share=0.0, assistant_rate=0.0)
    # seniors hear from more distinct people than juniors, within a deal, once mail follows the hierarchy
    assert _seniority_fan_in(ranked) > _seniority_fan_in(flat) + 0.1


def test_executive_assistants_are_busy_low_influence_people() -> None:
    from influence.generate._vocab import ASSISTANT_TITLES

    cfg = GeneratorConfig(assistant_rate=1.0, mailbox_share=0.0, header_only_share=0.0, title_noise_rate=0.0)
    _, truth = generate_with_truth(40, seed=2, config=cfg)
    names = {title for pairs in ASSISTANT_TITLES.values() for pair in pairs for title in pair}
    # ordinary staff may carry such a title too ("Executive Assistant" is a common role); most are assistants
    helpers = truth[truth["title"].isin(names)]
    assistants = helpers[(helpers["profile"] == "peripheral") & (helpers["seniority_level"] == 1)]
    assert len(helpers) > 0 and len(assistants) / len(helpers) > 0.6
    assert assistants["influence"].mean() < 0.3
    others = truth[(truth["profile"] == "peripheral") & ~truth["person_id"].isin(assistants["person_id"])]
    assert assistants["captured_emails_sent"].mean() > 2 * others["captured_emails_sent"].mean()


def _mailbox_shape(**overrides: float) -> pd.DataFrame:
    from influence.generate import mail_shape

    cfg = GeneratorConfig(mailbox_share=1.0, header_only_share=0.0, mailbox_people=(50, 70), **overrides)
    ds = generate(3, seed=3, config=cfg)
    return pd.DataFrame([mail_shape(ds, deal) for deal in ds.deals["deal_id"]])


def test_mailbox_volume_concentrates_on_routine_pairs_while_breadth_does_not() -> None:
    """Label-free shape of real mail (docs/synthetic-data.md, "Real mail vs the generator"): a few heavy pairs
    carry much of the volume, so how much mail someone gets says less about how many people write to them."""
    routine = _mailbox_shape()
    none = _mailbox_shape(mailbox_routine_share=0.0)
    rho = "rho_received_distinct_senders"
    assert routine[rho].mean() < none[rho].mean() - 0.04, (routine[rho], none[rho])
    assert routine["top_sender_share_median"].mean() > none["top_sender_share_median"].mean() + 0.03
    # breadth stays a matter of position: routine pairs add volume, not many new correspondents
    assert routine["distinct_senders_median_share"].mean() < none["distinct_senders_median_share"].mean()


def test_mail_shape_hand_computed() -> None:
    from influence.contract import Dataset
    from influence.generate import mail_shape

    # a -> b three times, c -> b once, b -> a once: b hears from 2 people, a from 1
    emails = pd.DataFrame(
        {
            "message_id": ["m1", "m2", "m3", "m4", "m5"],
            "deal_id": ["D1"] * 5,
            "sender_id": ["a", "a", "a", "c", "b"],
        }
    )
    recipients = pd.DataFrame({"message_id": ["m1", "m2", "m3", "m4", "m5"], "person_id": list("bbbba")})
    shape = mail_shape(Dataset({"emails": emails, "email_recipients": recipients}, path=None))
    assert shape["people"] == 3 and shape["recipients_per_message"] == 1.0
    # 3 directed pairs: the busiest one carries 3 of 5 recipient rows
    assert shape["top10_pair_share"] == pytest.approx(3 / 5)
    # b gets 3 of 4 from a; a gets all from b
    assert shape["top_sender_share_median"] == pytest.approx((3 / 4 + 1) / 2)
    assert shape["pair_reciprocity"] == pytest.approx(2 / 3)  # a->b and b->a, not c->b
