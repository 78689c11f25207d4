"""The real-data check (`influence eval-real`): AUC and baselines on hand-made cases, the skip path, an end-to-end
run on a small inline mailbox, and the full run on the Enron development set where it exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.cli import app
from influence.contract import Dataset
from influence.eval_real import (
    MBOX_NAME,
    METHODS,
    PEOPLE_NAME,
    STRESS_VARIANTS,
    EvalRealError,
    auc_table,
    email_pagerank,
    find_enron_files,
    format_stress,
    mail_activity,
    merge_into_one_deal,
    read_seniority_labels,
    roc_auc,
    run_eval_real,
    run_stress,
    strip_evidence,
    title_seniority,
    with_titles,
)
from influence.settings import default_model_path, shared_enron_dir


def _has_default_model() -> bool:
    return any(default_model_path().glob("*/metadata.json"))


needs_model = pytest.mark.skipif(
    not _has_default_model(), reason="no shipped default model (run `make train`)"
)


# -- AUC -----------------------------------------------------------------------------------------------------------
def test_roc_auc_counts_pairs_and_ties_by_hand() -> None:
    # pairs (pos, neg): (0.9, 0.5) yes, (0.9, 0.1) yes, (0.4, 0.5) no, (0.4, 0.1) yes -> 3 of 4
    assert roc_auc([True, True, False, False], [0.9, 0.4, 0.5, 0.1]) == pytest.approx(0.75)
    assert roc_auc([True, False], [1.0, 0.0]) == 1.0
    assert roc_auc([True, False], [0.0, 1.0]) == 0.0
    assert roc_auc([True, True, False], [2.0, 2.0, 2.0]) == 0.5  # every pair tied: one half each
    # one tie among four pairs: (3 + 0.5) / 4
    assert roc_auc([True, True, False, False], [3.0, 1.0, 1.0, 0.0]) == pytest.approx(0.875)
    assert np.isnan(roc_auc([True, True], [0.1, 0.2]))
    with pytest.raises(ValueError, match="finite"):
        roc_auc([True, False], [np.nan, 0.0])
    with pytest.raises(ValueError, match="same length"):
        roc_auc([True, False], [0.0])


def test_roc_auc_matches_scikit_learn_with_many_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.4
    s = rng.integers(0, 7, 300).astype(float) + y * rng.integers(0, 2, 300)  # levels, as title seniority has
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_table_ranks_people_without_evidence_lowest_and_reports_the_seen_subset() -> None:
    senior = np.array([True, True, False, False, True])
    seen = np.array([True, True, True, True, False])
    scores = {"m": np.array([5.0, 4.0, 1.0, 2.0, np.nan])}
    out = auc_table(senior, scores, seen)["m"]
    assert out["auc_seen"] == 1.0
    # the unseen senior person ranks below both juniors: 4 of 6 pairs right
    assert out["auc"] == pytest.approx(4 / 6)


# -- baselines -----------------------------------------------------------------------------------------------------
def test_pagerank_favours_the_person_everyone_writes_to_and_is_label_free() -> None:
    # 0..3 all write to 4; 4 writes to 0 once
    src = np.array([0, 1, 2, 3, 4])
    dst = np.array([4, 4, 4, 4, 0])
    rank = email_pagerank(src, dst, 5)
    assert rank.sum() == pytest.approx(1.0)
    assert rank.argmax() == 4 and rank[0] > rank[1] == pytest.approx(rank[2])
    # renumbering the people permutes the ranks and changes nothing else
    perm = np.array([3, 0, 4, 1, 2])
    assert email_pagerank(perm[src], perm[dst], 5)[perm] == pytest.approx(rank)
    # a two-person exchange is symmetric
    assert email_pagerank(np.array([0, 1]), np.array([1, 0]), 2) == pytest.approx([0.5, 0.5])


def _tiny_mail_dataset() -> Dataset:
    people = pd.DataFrame(
        {
            "person_id": ["a", "b", "c", "d"],
            "account_id": ["acc"] * 4,
            "email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com"],
            "title": [pd.NA, "CEO", pd.NA, pd.NA],
            "department": [pd.NA] * 4,
            "side": ["buyer"] * 4,
        }
    )
    emails = pd.DataFrame({"message_id": ["m1", "m2", "m3", "m4"], "sender_id": ["a", "a", "b", "c"]})
    recipients = pd.DataFrame(
        {
            "message_id": ["m1", "m1", "m2", "m3", "m4"],
            "person_id": ["b", "c", "c", "c", "c"],  # m4: c writes to c (a copy to self)
            "kind": ["to"] * 5,
        }
    )
    return Dataset({"people": people, "emails": emails, "email_recipients": recipients})


def test_mail_activity_counts_distinct_senders_and_received_messages_from_the_raw_tables() -> None:
    act = mail_activity(_tiny_mail_dataset())
    assert act.loc["c", "distinct_senders"] == 2  # a and b; c's copy to self is ignored
    assert act.loc["c", "messages_received"] == 3  # m1, m2, m3
    assert act.loc["b", "distinct_senders"] == 1 and act.loc["a", "distinct_senders"] == 0
    assert act.loc["a", "messages_sent"] == 2 and act.loc["d", "messages_sent"] == 0
    assert act.loc["d", "messages_received"] == 0
    assert act["pagerank"].idxmax() == "c"


def test_title_seniority_orders_titles_and_scores_missing_as_zero() -> None:
    levels = title_seniority(pd.Series(["VP Trading", "Mgr Trading", "Analyst", None], dtype="string"))
    assert levels[0] > levels[1] > levels[2] > levels[3] == 0


def test_with_titles_fills_only_missing_titles_by_email() -> None:
    labels = pd.DataFrame(
        {"email": ["a@x.com", "b@x.com"], "title": ["Director", "Trader"], "department": ["Legal", pd.NA]}
    )
    out = with_titles(_tiny_mail_dataset(), labels).people.set_index("person_id")
    assert out.loc["a", "title"] == "Director" and out.loc["a", "department"] == "Legal"
    assert out.loc["b", "title"] == "CEO"  # a title already in the dataset is kept
    assert pd.isna(out.loc["c", "title"])


# -- the people file -----------------------------------------------------------------------------------------------
def _people_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / PEOPLE_NAME
    path.write_text(text, encoding="utf-8")
    return path


def test_people_file_is_read_and_bad_rows_are_named(tmp_path: Path) -> None:
    good = _people_file(
        tmp_path, "email,name,department,title,seniority\nAnn.X@Enron.com ,Ann,Legal,VP,Senior\n"
    )
    frame = read_seniority_labels(good)
    assert frame["email"].tolist() == ["ann.x@enron.com"] and frame["senior"].tolist() == [True]
    cases = {
        "email,title,seniority\na@x.com,VP,Senior\nb@x.com,Clerk,Boss\n": r"row 2: field seniority is 'Boss'",
        "email,title,seniority\na@x.com,VP,Senior\nA@x.com,VP,Junior\n": r"row 2: field email 'a@x.com'",
        "email,title,seniority\n,VP,Senior\n": r"row 1: field email is empty",
        "email,title\na@x.com,VP\n": r"missing column\(s\) seniority",
    }
    for text, message in cases.items():
        with pytest.raises(EvalRealError, match=message):
            read_seniority_labels(_people_file(tmp_path, text))


# -- skip path -----------------------------------------------------------------------------------------------------
def test_missing_folder_skips_with_exit_0_but_a_named_missing_folder_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-folder"
    assert isinstance(find_enron_files(missing), str)
    assert run_eval_real(missing)["status"] == "skipped"
    monkeypatch.setenv("INFLUENCE_ENRON_DIR", str(missing))
    result = CliRunner().invoke(app, ["eval-real", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("skipped:") and "not found" in result.output
    assert not (tmp_path / "r.json").exists()  # a skip never overwrites an earlier report
    named = CliRunner().invoke(app, ["eval-real", "--enron-dir", str(missing)])
    assert named.exit_code == 1 and "not found" in named.output
    # a folder with only one of the two files is also "not found", naming the missing file
    missing.mkdir()
    (missing / MBOX_NAME).write_text("", encoding="utf-8")
    assert PEOPLE_NAME in find_enron_files(missing)


# -- end to end on a small inline company -------------------------------------------------------------------------
def _company(tmp_path: Path) -> Path:
    """A made-up company: 3 seniors who hear from everyone, 5 juniors who hear from one person, 1 listed junior
    who never mails. Seniors are exactly the people with the most distinct senders."""
    folder = tmp_path / "company"
    folder.mkdir()
    seniors = ["sue", "sam", "sid"]
    juniors = ["jo", "jan", "jim", "joy", "jay"]
    lines: list[str] = []
    n = 0
    for j, junior in enumerate(juniors):
        for senior in seniors:
            for _ in range(2):
                n += 1
                day = 1 + n % 27
                lines += [
                    f"From {junior}@enron.com Mon Jan  1 00:00:00 2001",
                    f"From: {junior.title()} <{junior}@enron.com>",
                    f"To: {senior}@enron.com",
                    f"Date: Mon, {day:02d} Jan 2001 10:{n % 60:02d}:00 +0000",
                    f"Message-ID: <m{n}@enron.com>",
                    f"Subject: update {n}",
                    "",
                    "",
                ]
        n += 1
        boss = seniors[j % 3]
        lines += [
            f"From {boss}@enron.com Mon Jan  1 00:00:00 2001",
            f"From: {boss}@enron.com",
            f"To: {junior}@enron.com, {seniors[(j + 1) % 3]}@enron.com",
            f"Date: Tue, {1 + n % 27:02d} Feb 2001 09:00:00 +0000",
            f"Message-ID: <m{n}@enron.com>",
            "Subject: tasks",
            "",
            "",
        ]
    (folder / MBOX_NAME).write_text("\n".join(lines), encoding="utf-8")
    rows = ["email,name,department,title,seniority"]
    rows += [f"{s}@enron.com,{s.title()},Other,VP,Senior" for s in seniors]
    rows += [f"{j}@enron.com,{j.title()},Other,Analyst,Junior" for j in [*juniors, "ned"]]
    (folder / PEOPLE_NAME).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@needs_model
def test_end_to_end_on_an_inline_company_reports_every_method_and_coverage(tmp_path: Path) -> None:
    folder = _company(tmp_path)
    report = run_eval_real(folder, work_dir=tmp_path / "work")
    assert report["status"] == "ok"
    cov = report["coverage"]
    assert cov["people_listed"] == 9 and cov["senior"] == 3 and cov["junior"] == 6
    assert cov["people_scored"] == 8 and cov["people_never_seen"] == 1 and cov["scored_not_listed"] == 0
    assert report["import"]["messages_read"] == report["import"]["messages_imported"] == 35
    assert set(report["auc"]) == set(METHODS) == set(report["auc_seen"])
    assert all(0.0 <= v <= 1.0 for v in report["auc"].values())
    # by construction the seniors hear from the most people, and their titles say VP
    assert report["auc"]["distinct_senders"] == 1.0 and report["auc"]["title_seniority"] == 1.0
    assert report["goal_met"] == (report["auc"]["model"] >= report["goal_auc"])
    # label-free shape of the imported mailbox: the 8 people seen in mail, one recipient per message here
    from influence.generate import SHAPE_STATISTICS

    shape = report["mail_shape"]
    assert set(shape) == set(SHAPE_STATISTICS) and shape["people"] == 8
    assert shape["recipients_per_message"] == pytest.approx(
        report["import"]["tables"]["email_recipients"] / report["import"]["tables"]["emails"]
    )
    # the kept work folder holds the product's own import, which validates
    from influence.data import validate

    assert validate(tmp_path / "work" / "enron-dataset").ok


@needs_model
def test_a_mailbox_without_any_enron_message_is_a_clear_error(tmp_path: Path) -> None:
    folder = _company(tmp_path)
    mbox = folder / MBOX_NAME
    mbox.write_text(mbox.read_text(encoding="utf-8").replace("@enron.com", "@other.org"), encoding="utf-8")
    with pytest.raises(EvalRealError, match=r"perry_wolfe.mbox: no message imported \(35 rejected"):
        run_eval_real(folder)
    result = CliRunner().invoke(app, ["eval-real", "--enron-dir", str(folder)])
    assert result.exit_code == 1 and "no message imported" in result.output


@needs_model
def test_cli_json_holds_aggregates_only(tmp_path: Path) -> None:
    folder = _company(tmp_path)
    out = tmp_path / "reports" / "eval-real.json"
    result = CliRunner().invoke(app, ["eval-real", "--enron-dir", str(folder), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "ROC-AUC" in result.output and "distinct_senders" in result.output
    text = out.read_text(encoding="utf-8")
    report = json.loads(text)
    assert report["coverage"]["people_listed"] == 9
    assert "@" not in text and "Sue" not in text  # nothing per person: no addresses, no names


# -- the real thing ------------------------------------------------------------------------------------------------
@pytest.mark.enron
@pytest.mark.slow
def test_full_enron_run_reports_every_key() -> None:
    folder = shared_enron_dir()
    if isinstance(find_enron_files(folder), str):
        pytest.skip(f"the Enron development set is not available: {find_enron_files(folder)}")
    if not _has_default_model():
        pytest.skip("no shipped default model")
    report = run_eval_real(folder)
    assert report["status"] == "ok"
    for key in (
        "model_version",
        "import",
        "coverage",
        "auc",
        "auc_seen",
        "model_scores",
        "mail_shape",
        "goal_met",
        "seconds",
    ):
        assert key in report
    assert set(report["auc"]) == set(METHODS)
    model_auc = report["auc"]["model"]
    assert isinstance(model_auc, float) and 0.0 <= model_auc <= 1.0
    assert report["coverage"]["people_listed"] == 156  # SOURCE.md
    assert report["import"]["messages_read"] == 21_635


# -- the synthetic stress test -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated() -> Dataset:
    from influence.generate import generate

    return generate(6, 17)


def test_strip_evidence_leaves_a_valid_header_only_mailbox(generated: Dataset) -> None:
    from influence.data import validate_frames

    ds = generated
    assert (
        ds.people["title"].notna().any() and len(ds.meetings) and (ds.email_recipients["kind"] == "cc").any()
    )
    out = strip_evidence(ds, titles=True, meetings=True, mail_structure=True)
    assert out.people["title"].isna().all() and out.people["department"].isna().all()
    assert len(out.meetings) == 0 and len(out.meeting_attendees) == 0
    assert (out.email_recipients["kind"] == "to").all() and out.emails["in_reply_to"].isna().all()
    assert (out.emails["thread_id"] == out.emails["message_id"]).all()
    assert len(out.emails) == len(ds.emails) and len(out.email_recipients) == len(ds.email_recipients)
    assert len(out.labels) == len(ds.labels)  # kept for measuring
    assert validate_frames(out.tables)[1].ok
    # the input is not modified
    assert ds.people["title"].notna().any() and len(ds.meetings)


def test_merge_into_one_deal_keeps_every_event_in_one_valid_deal(generated: Dataset) -> None:
    from influence.data import validate_frames

    out = merge_into_one_deal(generated)
    assert len(out.deals) == 1 and len(out.accounts) == 1
    assert len(out.emails) == len(generated.emails) and len(out.meetings) == len(generated.meetings)
    assert out.emails["deal_id"].nunique() == 1 and len(out.labels) == 0
    buyers = out.people[out.people["side"] == "buyer"]
    assert (buyers["account_id"] == out.accounts["account_id"].iloc[0]).all()
    assert validate_frames(out.tables)[1].ok


@needs_model
def test_stress_report_has_every_variant(generated: Dataset) -> None:
    report = run_stress(generated)
    assert [r["variant"] for r in report["variants"]] == [name for name, _ in STRESS_VARIANTS]
    for row in report["variants"]:
        for key in ("auc_key_influencer", "auc_director_or_higher"):
            assert np.isnan(row[key]) or 0.0 <= row[key] <= 1.0
        assert row["deals"] == 1 if "merged" in row["variant"] else row["deals"] > 1
    assert "as generated" in format_stress(report)
