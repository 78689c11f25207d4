"""Zero-label scoring of imported data: each importer's small fixture -> import -> `influence validate` exits 0 ->
`influence score` gives every buyer/partner person of every deal an influence in [0, 1] from the shipped default
model (or the network-only prior), and the rows add up: every active person in, one row per (deal, person) out;
people tied to a deal by the CRM only (a contact or buying role, no e-mail or meeting) get a row too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.cli import app
from influence.data import load
from influence.settings import default_model_path

pytestmark = pytest.mark.skipif(
    not any(default_model_path().glob("*/metadata.json")),
    reason=f"no shipped default model in {default_model_path()} (run `make train`)",
)

OUTPUT_COLUMNS = ("account_id", "deal_id", "person_id", "email", "influence", "influence_rank", "method")


# -- fixtures: one company's own mail and calendar, no seller side, no labels ---------------------------------------
def _message(mid: str, date: str, frm: str, to: str, subject: str, cc: str = "", extra: str = "") -> str:
    lines = ["From x@x Mon Jan  1 00:00:00 2024", f"From: {frm}", f"To: {to}"]
    lines += [f"Cc: {cc}"] if cc else []
    lines += [f"Date: {date}", f"Message-ID: {mid}", f"Subject: {subject}"]
    lines += [extra] if extra else []
    return "\n".join([*lines, "", "body text that is never read", "", ""])


def _company_mailbox() -> str:
    """acme.nl's own mail: internal threads, an external advisor, a free-mail address, an encoded name."""
    return "".join(
        [
            _message("<a1@acme.nl>", "Mon, 04 Mar 2024 09:00:00 +0100", "Eva CEO <eva@acme.nl>",
                     "Jörg <joerg@acme.nl>, ann@acme.nl", "Budget 2024", cc="Pat <pat@advisors.com>"),
            _message("<a2@acme.nl>", "Mon, 04 Mar 2024 11:30:00 +0100",
                     "=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@acme.nl>", "eva@acme.nl", "RE: Budget 2024",
                     cc="ann@acme.nl", extra="In-Reply-To: <a1@acme.nl>\nReferences: <a1@acme.nl>"),
            _message("<a3@acme.nl>", "Tue, 05 Mar 2024 08:00:00 +0000", "Ann Analyst <ann@acme.nl>",
                     "joerg@acme.nl", "Re: Budget 2024"),
            _message("<a4@advisors.com>", "Wed, 06 Mar 2024 14:00:00 +0000", "Pat <pat@advisors.com>",
                     "eva@acme.nl", "Market study", cc="bob@acme.nl"),
            _message("<a5@acme.nl>", "Thu, 07 Mar 2024 10:00:00 +0000", "Bob <bob@acme.nl>",
                     "ann@acme.nl, joerg@acme.nl, eva@acme.nl", "Vendor shortlist"),
            _message("<a6@acme.nl>", "Fri, 08 Mar 2024 16:00:00 +0000", "eva@acme.nl", "bob@acme.nl",
                     "Re: Vendor shortlist", extra="In-Reply-To: <a5@acme.nl>"),
            _message("<a7@gmail.com>", "Sat, 09 Mar 2024 12:00:00 +0000", "Kim <kim.home@gmail.com>",
                     "ann@acme.nl", "Fwd: Vendor shortlist"),
        ]
    )  # fmt: skip


def _company_calendar() -> str:
    def event(uid: str, start: str, summary: str, people: str) -> str:
        return f"BEGIN:VEVENT\nUID:{uid}\nDTSTART:{start}\nDURATION:PT45M\nSUMMARY:{summary}\n{people}END:VEVENT\n"

    body = event(
        "steer-1",
        "20240305T090000Z",
        "Steering committee",
        "ORGANIZER;CN=Eva CEO:mailto:eva@acme.nl\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:joerg@acme.nl\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:bob@acme.nl\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:pat@advisors.com\n",
    ) + event(
        "tech-1",
        "20240307T130000Z",
        "Architecture review",
        "ORGANIZER:mailto:bob@acme.nl\nATTENDEE;PARTSTAT=TENTATIVE:mailto:lena@acme.nl\n",
    )
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n" + body + "END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"influence {' '.join(args)}\n{result.output}"
    return result.output


# -- the checks ----------------------------------------------------------------------------------------------------
def _active_pairs(folder: Path) -> pd.DataFrame:
    """(deal_id, person_id) of every buyer/partner person with an event in the deal or a CRM role on it (a label
    whose source starts with "crm_"), from the raw tables."""
    ds = load(folder)
    emails, meetings = ds.emails, ds.meetings
    parts = [
        emails[["deal_id", "sender_id"]].rename(columns={"sender_id": "person_id"}),
        ds.email_recipients.merge(emails[["message_id", "deal_id"]], on="message_id")[
            ["deal_id", "person_id"]
        ],
        meetings[["deal_id", "organizer_id"]].dropna().rename(columns={"organizer_id": "person_id"}),
        ds.meeting_attendees.merge(meetings[["meeting_id", "deal_id"]], on="meeting_id")[
            ["deal_id", "person_id"]
        ],
        ds.labels.loc[ds.labels["source"].astype(str).str.startswith("crm_"), ["deal_id", "person_id"]],
    ]
    pairs = pd.concat([p.astype("string") for p in parts], ignore_index=True).drop_duplicates()
    sides = ds.people.set_index(ds.people["person_id"].astype("string"))["side"]
    pairs = pairs[pairs["person_id"].map(sides).isin(["buyer", "partner"])]
    return pairs.sort_values(["deal_id", "person_id"]).reset_index(drop=True)


def _validate_score_and_check(folder: Path, out: Path) -> pd.DataFrame:
    """`influence validate` exits 0, `influence score` writes `out`; every check that holds for any dataset."""
    assert "OK" in _invoke(["validate", str(folder)])
    summary = _invoke(["score", str(folder), "--out", str(out), "--no-progress"])
    scores = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out, dtype={"deal_id": str})
    for column in OUTPUT_COLUMNS:
        assert column in scores.columns, column
    assert f"{len(scores)} people" in summary  # the summary counts what was written
    influence = scores["influence"].to_numpy(dtype=np.float64)
    assert not np.isnan(influence).any() and ((influence >= 0) & (influence <= 1)).all()
    assert set(scores["method"]) <= {"model", "prior"}
    # rows in = rows out: one row per active or CRM-tied buyer/partner (deal, person), nobody dropped or invented
    got = scores[["deal_id", "person_id"]].astype("string").sort_values(["deal_id", "person_id"])
    assert not got.duplicated().any()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), _active_pairs(folder))
    # the e-mail shown is the person's address from the people table (how a user joins scores to a CRM)
    people = load(folder).people
    emails = people.set_index(people["person_id"].astype(str))["email"]
    assert (scores["email"].astype(str).to_numpy() == emails.reindex(scores["person_id"].astype(str))).all()
    # ranks are 1..n within each deal
    for _, deal in scores.groupby("deal_id"):
        assert sorted(deal["influence_rank"]) == list(range(1, len(deal) + 1))
    return scores


# -- mail ----------------------------------------------------------------------------------------------------------
def test_a_company_mailbox_as_one_account_and_one_deal_scores_everyone_without_labels(tmp_path: Path) -> None:
    mbox = tmp_path / "acme.mbox"
    mbox.write_text(_company_mailbox(), encoding="utf-8")
    folder = tmp_path / "ds"
    _invoke(["import", "mbox", str(mbox), "--out", str(folder), "--account-domain", "acme.nl",
             "--deal-by", "account", "--format", "csv", "--no-progress"])  # fmt: skip
    ds = load(folder)
    assert len(ds.labels) == 0 and not (ds.people["side"] == "seller").any()
    scores = _validate_score_and_check(folder, tmp_path / "scores.parquet")
    assert scores["deal_id"].nunique() == 1
    # everyone in the mailbox is a buyer or partner here, so everyone is scored
    assert set(scores["email"]) == set(ds.people["email"])
    assert len(scores) == 6  # eva, joerg, ann, bob, pat (advisor), kim (free-mail), nobody else
    # without a seller side, engagement cannot be assessed, and says so
    assert (scores["engagement"] == "unknown").all()


def test_eml_files_one_deal_per_thread(tmp_path: Path) -> None:
    folder = tmp_path / "eml"
    folder.mkdir()
    for i, message in enumerate(_company_mailbox().split("From x@x Mon Jan  1 00:00:00 2024\n")[1:]):
        (folder / f"{i}.eml").write_text(message, encoding="utf-8")
    _invoke(["import", "eml", str(folder), "--out", str(tmp_path / "ds"), "--account-domain", "acme.nl",
             "--no-progress"])  # fmt: skip
    scores = _validate_score_and_check(tmp_path / "ds", tmp_path / "scores.parquet")
    assert scores["deal_id"].nunique() == load(tmp_path / "ds").deals.shape[0] > 1


def test_mail_plus_calendar_of_one_company(tmp_path: Path) -> None:
    mbox, ics = tmp_path / "acme.mbox", tmp_path / "acme.ics"
    mbox.write_text(_company_mailbox(), encoding="utf-8")
    ics.write_text(_company_calendar(), encoding="utf-8")
    folder = tmp_path / "ds"
    _invoke(["import", "mbox", str(mbox), "--out", str(folder), "--account-domain", "acme.nl",
             "--deal-by", "account", "--no-progress"])  # fmt: skip
    _invoke(["import", "ics", str(ics), "--out", str(folder), "--window-start", "2024-01-01",
             "--window-end", "2024-12-31"])  # fmt: skip
    assert len(load(folder).meetings) == 2
    scores = _validate_score_and_check(folder, tmp_path / "scores.csv")
    assert "lena@acme.nl" in set(scores["email"])  # known only from the calendar, still scored


def test_calendar_only_into_a_fresh_folder(tmp_path: Path) -> None:
    ics = tmp_path / "acme.ics"
    ics.write_text(_company_calendar(), encoding="utf-8")
    _invoke(["import", "ics", str(ics), "--out", str(tmp_path / "ds"), "--account-domain", "acme.nl",
             "--window-start", "2024-01-01", "--window-end", "2024-12-31"])  # fmt: skip
    scores = _validate_score_and_check(tmp_path / "ds", tmp_path / "scores.parquet")
    assert len(scores) == 5  # eva, joerg, bob, pat, lena


# -- CRM exports ---------------------------------------------------------------------------------------------------
def test_salesforce_export_scores_the_same_with_and_without_its_labels(tmp_path: Path) -> None:
    from test_import_salesforce import NOW, _export  # the Salesforce fixture of the sibling test module

    from influence.importers import import_salesforce

    folder = tmp_path / "ds"
    import_salesforce(_export(tmp_path), folder, now=NOW)
    assert len(load(folder).labels) > 0
    with_labels = _validate_score_and_check(folder, tmp_path / "with.parquet")
    (folder / "labels.parquet").unlink()  # zero labels: the same export without contact roles
    without = _validate_score_and_check(folder, tmp_path / "without.parquet")
    assert len(without) > 0
    # scoring never reads labels: removing them changes nothing
    pd.testing.assert_frame_equal(with_labels, without)


def test_hubspot_export_validates_and_scores_its_active_people(tmp_path: Path) -> None:
    from test_import_hubspot import _export  # the HubSpot fixture of the sibling test module

    from influence.importers import import_hubspot

    folder = tmp_path / "ds"
    import_hubspot(_export(tmp_path), folder)
    scores = _validate_score_and_check(folder, tmp_path / "scores.parquet")
    # the HubSpot fixture has contacts and deal associations but no activity: exactly the contacts the importer
    # keeps as CRM ties of a deal (a "crm_" label: the three with a buying role, and, where the importer keeps
    # them, those associated without a role) are scored
    assert len(scores) == len(_active_pairs(folder)) >= 3


def test_crm_contacts_of_a_deal_without_activity_are_scored(tmp_path: Path) -> None:
    from test_import_hubspot import _export

    from influence.importers import import_hubspot

    folder = tmp_path / "ds"
    import_hubspot(_export(tmp_path), folder)
    _invoke(["score", str(folder), "--out", str(tmp_path / "s.parquet"), "--no-progress"])
    scores = pd.read_parquet(tmp_path / "s.parquet").set_index("email")
    assert {"joerg@acme.nl", "ann@acme.nl", "greta@globex.de"} <= set(scores.index)
    assert scores.loc[["joerg@acme.nl", "ann@acme.nl"], "deal_id"].tolist() == ["31", "31"]
    assert scores.loc["greta@globex.de", "deal_id"] == "32"
    # Pat is associated with a deal without a buying role: scored exactly when the importer keeps that tie
    ds = load(folder)
    pat = set(ds.people.loc[ds.people["email"] == "pat@advisors.com", "person_id"].astype(str))
    crm = ds.labels[ds.labels["source"].astype(str).str.startswith("crm_")]
    assert ("pat@advisors.com" in scores.index) == bool(pat & set(crm["person_id"].astype(str)))
    assert scores["influence"].between(0, 1).all() and (scores["method"] == "model").all()


def test_a_crm_tie_gets_a_low_score_beside_active_people_and_its_label_values_are_never_read(
    tmp_path: Path,
) -> None:
    """The mailbox's deal plus one more acme.nl contact with a CRM contact role and no activity: that contact is
    scored (among the least influential of the deal: no title and no activity, so no evidence of any involvement;
    with a senior title the model may rightly rank it above inactive juniors), the active people keep their
    exact scores, and changing the role's label values (influence, profile) changes nothing."""
    from influence.contract import write_dataset

    mbox = tmp_path / "acme.mbox"
    mbox.write_text(_company_mailbox(), encoding="utf-8")
    folder = tmp_path / "ds"
    _invoke(["import", "mbox", str(mbox), "--out", str(folder), "--account-domain", "acme.nl",
             "--deal-by", "account", "--no-progress"])  # fmt: skip
    before = _validate_score_and_check(folder, tmp_path / "before.parquet")
    ds = load(folder)
    deal = ds.deals.iloc[0]
    people = pd.concat(
        [ds.people, ds.people.iloc[[0]].assign(person_id="crm-only-1", email="cto@acme.nl", full_name="Chris",
                                               title=None, account_id=deal["account_id"], side="buyer")],
        ignore_index=True,
    )  # fmt: skip
    label = {"deal_id": deal["deal_id"], "person_id": "crm-only-1", "influence": 0.9,
             "profile": "executive_sponsor", "source": "crm_contact_role"}  # fmt: skip
    tables = {name: ds[name] for name in ds}
    tables["people"] = people
    tables["labels"] = pd.DataFrame([label])
    write_dataset(type(ds).from_frames(tables), folder)
    with_tie = _validate_score_and_check(folder, tmp_path / "tie.parquet")
    assert len(with_tie) == len(before) + 1
    tied = with_tie.set_index("person_id").loc["crm-only-1"]
    # No activity and no title: among the least influential of its deal and never a key influencer. Not
    # necessarily the very lowest: the model learned that a CRM contact role without recorded activity still
    # has a small chance of mattering (header-only exports hide people), while an active person at the bottom
    # of every within-deal percentile has shown evidence of not mattering.
    others = with_tie.loc[with_tie["person_id"] != "crm-only-1", "influence"]
    assert tied["influence"] < 0.5
    assert tied["influence"] <= others.quantile(0.25)
    # ranks: ties on influence are broken by person_id, so only people with a higher influence rank above it
    assert (
        with_tie.loc[with_tie["influence"] > tied["influence"], "influence_rank"] < tied["influence_rank"]
    ).all()
    active = (
        with_tie[with_tie["person_id"] != "crm-only-1"].drop(columns="influence_rank").reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        active, before.drop(columns="influence_rank").reset_index(drop=True), check_dtype=False
    )
    # the label's values are not evidence: another role and influence give the very same rows
    tables["labels"] = pd.DataFrame([{**label, "influence": 0.05, "profile": "peripheral"}])
    write_dataset(type(ds).from_frames(tables), folder)
    relabelled = _validate_score_and_check(folder, tmp_path / "relabelled.parquet")
    pd.testing.assert_frame_equal(relabelled, with_tie)
    # a win/loss-review label is ground truth, not a CRM tie: it adds no row
    tables["labels"] = pd.DataFrame([{**label, "source": "win_loss_review"}])
    write_dataset(type(ds).from_frames(tables), folder)
    assert len(pd.read_parquet(_score(folder, tmp_path / "review.parquet"))) == len(before)


def _score(folder: Path, out: Path) -> Path:
    _invoke(["score", str(folder), "--out", str(out), "--no-progress"])
    return out


# -- the prior -----------------------------------------------------------------------------------------------------
def test_rows_the_model_cannot_apply_to_get_the_network_prior(tmp_path: Path) -> None:
    """Imported feature rows with only the network columns known fall back to the documented prior."""
    from influence.features import FEATURE_COLUMNS, build_features
    from influence.predict import Scorer, network_prior

    mbox = tmp_path / "acme.mbox"
    mbox.write_text(_company_mailbox(), encoding="utf-8")
    from influence.importers import import_mbox

    import_mbox([mbox], tmp_path / "ds", account_domains=["acme.nl"], deal_by="account")
    features = build_features(load(tmp_path / "ds"))
    known = ["rel_net_pagerank", "rel_net_degree"]
    sparse = features.copy()
    sparse[[c for c in FEATURE_COLUMNS if c not in known]] = np.nan
    scored = Scorer.from_ref(None).score_features(sparse, explain=False)
    assert (scored["method"] == "prior").all()
    expected = network_prior(features[known].to_numpy(dtype=np.float64), known)
    np.testing.assert_allclose(scored["influence"].to_numpy(dtype=np.float64), expected)
    assert scored["influence"].between(0, 1).all() and scored["influence"].nunique() > 1
