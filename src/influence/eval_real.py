"""The real-data check: zero-label scores of real Enron e-mail metadata against a Senior/Junior ground truth.

`run_eval_real(enron_dir)` imports `perry_wolfe.mbox` with the product's own mail importer (one account
`enron.com`, one deal: `--account-domain enron.com --deal-by account`), scores it with no labels through the
batch scoring path (`influence.batch.score_accounts`, the code behind `influence score`), joins the scores to
`perry_wolfe_people.csv` by e-mail, and reports the ROC-AUC of Senior vs Junior for the model's influence beside
simple baselines computed in the same run from the same imported dataset:

- `distinct_senders`: number of distinct people who wrote to a person;
- `messages_received`: messages the person received;
- `pagerank`: PageRank (damping 0.85) of the sender -> recipient graph weighted by messages;
- `network_prior`: the product's documented zero-label network-only prior (`predict.network_prior`);
- `title_seniority`: the seniority level parsed from the people file's titles (`influence.titles`);
- `model_with_titles`: the model again after the people file's titles and departments were added to the
  imported people (what a user with a CRM export would do). Titles are evidence, not labels, but the
  Senior/Junior label was assigned from these very titles, so this row says little about the mail evidence.

The report also holds the imported mailbox's label-free shape statistics (`influence.generate.mail_shape`: how
mail volume and breadth spread over people and pairs), the figures the generator's mailboxes are compared with.

Scoring rule for the AUC: every one of the labelled people counts. People who never appear in a message have no
mail evidence; every method that relies on mail gives them its lowest score (they tie at the bottom), while the
title baseline still scores them from their title. `auc_seen` is the same AUC over the people seen in mail.

`run_stress(ds)` (`python -m influence.eval_real --stress data/sample`) reproduces the same situation on a labelled
synthetic dataset, without any real label: the dataset as generated, stripped of what a header-only mailbox lacks
(titles, meetings, Cc and threading: `strip_evidence`) and merged into one deal (`merge_into_one_deal`).

The labels never enter training, feature or hyperparameter choice: this module only reads them to compute
AUCs. Nothing per person is written: the report holds aggregate figures only, and the imported dataset and the
scores live in a temporary folder (or `work_dir`, which must not be inside the repository's tracked folders).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from influence.contract import Dataset

__all__ = [
    "ACCOUNT_DOMAIN",
    "GOAL_AUC",
    "MBOX_NAME",
    "PEOPLE_NAME",
    "EvalRealError",
    "EnronFiles",
    "auc_table",
    "email_pagerank",
    "write_json",
    "find_enron_files",
    "format_report",
    "mail_activity",
    "main",
    "read_seniority_labels",
    "roc_auc",
    "run_eval_real",
    "merge_into_one_deal",
    "run_stress",
    "strip_evidence",
    "format_stress",
    "title_seniority",
    "with_titles",
]

MBOX_NAME = "perry_wolfe.mbox"
PEOPLE_NAME = "perry_wolfe_people.csv"
ACCOUNT_DOMAIN = "enron.com"
GOAL_AUC = 0.85
POSITIVE = "Senior"
NEGATIVE = "Junior"
LABEL_COLUMNS = ("email", "title", "seniority")

# Report order: the model first, then the baselines.
METHODS = (
    "model",
    "model_with_titles",
    "distinct_senders",
    "messages_received",
    "pagerank",
    "network_prior",
    "title_seniority",
)
METHOD_TEXT = {
    "model": "shipped model, mail metadata only (zero labels)",
    "model_with_titles": "shipped model, mail + the people file's titles",
    "distinct_senders": "distinct people who wrote to the person",
    "messages_received": "messages received",
    "pagerank": "PageRank of the e-mail graph",
    "network_prior": "network-only prior (predict.network_prior)",
    "title_seniority": "title seniority (influence.titles)",
}


class EvalRealError(ValueError):
    """The real-data check cannot run on these inputs; the message names the file, row and field."""


@dataclass(frozen=True)
class EnronFiles:
    folder: Path
    mbox: Path
    people: Path


def find_enron_files(folder: str | Path) -> EnronFiles | str:
    """The Enron development files in `folder`, or a one-line reason why they are not there."""
    root = Path(folder)
    if not root.is_dir():
        return f"{root} not found"
    missing = [name for name in (MBOX_NAME, PEOPLE_NAME) if not (root / name).is_file()]
    if missing:
        return f"{', '.join(str(root / m) for m in missing)} not found"
    return EnronFiles(root, root / MBOX_NAME, root / PEOPLE_NAME)


# -- labels --------------------------------------------------------------------------------------------------------
def read_seniority_labels(path: str | Path) -> pd.DataFrame:
    """The people file as a frame: email (lower case), title, department (may be empty), senior (bool).

    Raises EvalRealError naming the file, row (1 = first data row) and field for a missing column, an empty or
    duplicate e-mail, or a seniority other than Senior/Junior. Nothing is dropped.
    """
    file = Path(path)
    try:
        frame = pd.read_csv(file, dtype="string", keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise EvalRealError(f"{file}: cannot read the people file: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
    if missing:
        raise EvalRealError(f"{file}: missing column(s) {', '.join(missing)} (header: {list(frame.columns)})")
    email = frame["email"].str.strip().str.lower()
    seniority = frame["seniority"].str.strip()
    for i in range(len(frame)):
        if not email.iloc[i]:
            raise EvalRealError(f"{file}: row {i + 1}: field email is empty")
        if seniority.iloc[i] not in (POSITIVE, NEGATIVE):
            raise EvalRealError(
                f"{file}: row {i + 1}: field seniority is {seniority.iloc[i]!r}; expected {POSITIVE} or {NEGATIVE}"
            )
    dup = email.duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise EvalRealError(f"{file}: row {i + 1}: field email {email.iloc[i]!r} occurs more than once")
    department = frame["department"] if "department" in frame.columns else pd.Series("", index=frame.index)
    blank_to_na = lambda s: s.str.strip().replace("", pd.NA)  # noqa: E731
    return pd.DataFrame(
        {
            "email": email.astype("string"),
            "title": blank_to_na(frame["title"]).astype("string"),
            "department": blank_to_na(department.astype("string")).astype("string"),
            "senior": (seniority == POSITIVE).astype(bool).to_numpy(),
        }
    ).reset_index(drop=True)


# -- metrics -------------------------------------------------------------------------------------------------------
def roc_auc(positive: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """ROC-AUC of `score` for `positive` (Mann-Whitney U with mid-ranks: a tie counts one half).

    NaN when one of the two classes is empty. Scores must be finite (decide what missing means first).
    """
    from scipy.stats import rankdata

    y = np.asarray(positive, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"roc_auc: labels {y.shape} and scores {s.shape} must be 1-d of the same length")
    if not np.isfinite(s).all():
        raise ValueError("roc_auc: scores must be finite; give missing people an explicit score first")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s, method="average")
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def email_pagerank(
    senders: np.ndarray,
    recipients: np.ndarray,
    n_nodes: int,
    *,
    damping: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> np.ndarray:
    """PageRank of a directed multigraph given as parallel arrays of node codes (one edge per message and
    recipient, so weights are message counts). Dangling nodes spread their mass uniformly. Sums to 1."""
    from scipy.sparse import coo_matrix

    if n_nodes == 0:
        return np.zeros(0)
    src = np.asarray(senders, dtype=np.int64)
    dst = np.asarray(recipients, dtype=np.int64)
    weights = coo_matrix((np.ones(len(src)), (dst, src)), shape=(n_nodes, n_nodes)).tocsr()  # column = source
    out_weight = np.asarray(weights.sum(axis=0)).ravel()
    dangling = out_weight == 0
    inv = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out_weight))
    rank = np.full(n_nodes, 1.0 / n_nodes)
    for _ in range(max_iter):
        new = damping * (weights @ (rank * inv)) + (damping * rank[dangling].sum() + 1.0 - damping) / n_nodes
        if np.abs(new - rank).sum() < tol:
            rank = new
            break
        rank = new
    return rank / rank.sum()


def mail_activity(ds: Dataset) -> pd.DataFrame:
    """Per person of `ds.people` (index person_id): distinct_senders (distinct other people who wrote to them),
    messages_received, messages_sent and pagerank of the e-mail graph. Computed from the raw tables, not from
    the feature code, so the baselines are an independent check. Self-addressed copies are ignored."""
    people = pd.Index(pd.unique(ds.people["person_id"].astype(str)), name="person_id")
    emails = ds.emails[["message_id", "sender_id"]].astype(str)
    rec = ds.email_recipients[["message_id", "person_id"]].astype(str)
    rec = rec.merge(emails, on="message_id", how="inner", validate="many_to_one")
    rec = rec[rec["person_id"] != rec["sender_id"]]
    received = rec.groupby("person_id").size()
    senders = rec.drop_duplicates(["person_id", "sender_id"]).groupby("person_id").size()
    sent = emails.groupby("sender_id").size()
    src = people.get_indexer(rec["sender_id"])
    dst = people.get_indexer(rec["person_id"])
    known = (src >= 0) & (dst >= 0)
    rank = email_pagerank(src[known], dst[known], len(people))
    return pd.DataFrame(
        {
            "distinct_senders": senders.reindex(people).fillna(0).to_numpy(dtype=np.float64),
            "messages_received": received.reindex(people).fillna(0).to_numpy(dtype=np.float64),
            "messages_sent": sent.reindex(people).fillna(0).to_numpy(dtype=np.float64),
            "pagerank": rank,
        },
        index=people,
    )


def title_seniority(titles: pd.Series) -> np.ndarray:
    """Seniority level 0-6 of each title (`influence.titles`; 0 = missing or unrecognised), as float64."""
    from influence.titles import parse_titles

    return parse_titles(titles.astype(object).where(titles.notna(), None)).seniority_level.to_numpy(
        np.float64
    )


def auc_table(
    senior: np.ndarray, scores: Mapping[str, np.ndarray], seen: np.ndarray
) -> dict[str, dict[str, float]]:
    """{method: {auc, auc_seen}} for aligned arrays: `senior` (bool), each method's score (NaN = no evidence,
    ranked below every known score), `seen` (bool: the person appears in mail)."""
    out: dict[str, dict[str, float]] = {}
    for name, values in scores.items():
        s = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(s)
        floor = (np.min(s[finite]) - 1.0) if finite.any() else 0.0
        filled = np.where(finite, s, floor)
        out[name] = {
            "auc": roc_auc(senior, filled),
            "auc_seen": roc_auc(senior[seen], filled[seen]),
        }
    return out


# -- data preparation ----------------------------------------------------------------------------------------------
def with_titles(ds: Dataset, labels: pd.DataFrame) -> Dataset:
    """A copy of `ds` whose people get `title` and `department` from `labels` (matched by e-mail) where the
    dataset has none; everything else unchanged."""
    people = ds.people.copy()
    by_email = labels.set_index("email")
    key = people["email"].astype("string").str.lower()
    for column in ("title", "department"):
        found = by_email[column].reindex(key.to_numpy()).to_numpy()
        current = people[column].astype("string")
        people[column] = current.where(current.notna(), pd.array(found, dtype="string"))
    tables = dict(ds.tables)
    tables["people"] = people
    return Dataset(tables, path=None)


# -- the run -------------------------------------------------------------------------------------------------------
def _score(ds_or_path: Dataset | Path, out: Path, scorer: Any) -> pd.DataFrame:
    from influence.batch import score_accounts

    score_accounts(ds_or_path, out, model=scorer, explain=False, progress=False)
    return pd.read_parquet(out)


def _by_email(scores: pd.DataFrame, labels: pd.DataFrame, column: str) -> np.ndarray:
    """One value per labelled person: the maximum over their deals (one deal here), NaN when not scored."""
    best = scores.groupby(scores["email"].astype("string").str.lower())[column].max()
    return best.reindex(labels["email"].to_numpy()).to_numpy(dtype=np.float64)


def run_eval_real(
    enron_dir: str | Path,
    *,
    model: str | Path | None = None,
    work_dir: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Import, score with zero labels, and compare with the baselines (see the module docstring).

    Returns a JSON-ready dict of aggregate figures: {"status": "skipped", "reason"} when the files are absent,
    else status "ok" with import counts, coverage, `auc` / `auc_seen` per method, the goal and timings.
    Raises EvalRealError for a malformed people file, `BundleError` for a model that cannot be loaded.
    """
    from influence.data import load
    from influence.features import FEATURE_COLUMNS, build_features
    from influence.generate import mail_shape
    from influence.importers import import_mbox
    from influence.predict import Scorer, network_prior

    say = say or (lambda _m: None)
    files = find_enron_files(enron_dir)
    if isinstance(files, str):
        return {"status": "skipped", "reason": f"Enron development set: {files}"}
    t0 = time.perf_counter()
    labels = read_seniority_labels(files.people)
    scorer = Scorer.from_ref(str(model) if model is not None else None)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="influence-eval-real-") as tmp:
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        data_dir = root / "enron-dataset"
        say(f"importing {files.mbox} (--account-domain {ACCOUNT_DOMAIN} --deal-by account)")
        t = time.perf_counter()
        report = import_mbox(
            [files.mbox], data_dir, account_domains=[ACCOUNT_DOMAIN], deal_by="account", overwrite=True
        )
        timings["import"] = time.perf_counter() - t
        if report.imported == 0:
            first = report.rejects[0].reason if report.rejects else "the file holds no message"
            raise EvalRealError(
                f"{files.mbox}: no message imported ({report.rejected} rejected; first: {first})"
            )

        say(f"scoring with {scorer.model_version} (zero labels)")
        t = time.perf_counter()
        scores = _score(data_dir, root / "scores.parquet", scorer)
        timings["score"] = time.perf_counter() - t
        ds = load(data_dir)
        t = time.perf_counter()
        scores_titled = _score(with_titles(ds, labels), root / "scores-with-titles.parquet", scorer)
        timings["score_with_titles"] = time.perf_counter() - t

        t = time.perf_counter()
        shape = mail_shape(ds)
        activity = mail_activity(ds)
        features = build_features(ds)
        cols = [c for c in FEATURE_COLUMNS if c in ("rel_net_pagerank", "rel_net_degree")]
        features["network_prior"] = network_prior(features[cols].to_numpy(dtype=np.float64), cols)
        timings["baselines"] = time.perf_counter() - t

    emails = ds.people.set_index(ds.people["person_id"].astype(str))["email"].astype("string").str.lower()
    activity.index = emails.reindex(activity.index).to_numpy()
    features["email"] = emails.reindex(features["person_id"].astype(str).to_numpy()).to_numpy()
    label_emails = labels["email"].to_numpy()
    act = activity.reindex(label_emails)
    seen = (act["messages_received"].fillna(0) + act["messages_sent"].fillna(0)).to_numpy() > 0
    model_scores = _by_email(scores, labels, "influence")
    method_counts = scores["method"].value_counts().to_dict()
    columns = {
        "model": model_scores,
        "model_with_titles": _by_email(scores_titled, labels, "influence"),
        "distinct_senders": act["distinct_senders"].to_numpy(dtype=np.float64),
        "messages_received": act["messages_received"].to_numpy(dtype=np.float64),
        "pagerank": act["pagerank"].to_numpy(dtype=np.float64),
        "network_prior": features.groupby("email")["network_prior"].max().reindex(label_emails).to_numpy(),
        "title_seniority": title_seniority(labels["title"]),
    }
    # People without mail have no mail evidence: NaN, so auc_table ranks them below everyone seen.
    for name in ("distinct_senders", "messages_received", "pagerank"):
        columns[name] = np.where(seen, columns[name], np.nan)
    senior = labels["senior"].to_numpy(dtype=bool)
    aucs = auc_table(senior, columns, seen)
    scored_emails = set(scores["email"].astype("string").str.lower().dropna())
    listed = set(label_emails)
    finite_model = model_scores[np.isfinite(model_scores)]
    top_share = (
        float(pd.Series(finite_model).value_counts(normalize=True).iloc[0])
        if len(finite_model)
        else float("nan")
    )
    timings["total"] = time.perf_counter() - t0
    model_auc = aucs["model"]["auc"]
    return {
        "status": "ok",
        "model_version": scorer.model_version,
        "command": "influence eval-real",
        "import": {
            "options": f"--account-domain {ACCOUNT_DOMAIN} --deal-by account",
            "messages_read": report.records_read,
            "messages_imported": report.imported,
            "messages_rejected": report.rejected,
            "tables": {name: int(len(ds.tables[name])) for name in ds if len(ds.tables[name])},
        },
        "coverage": {
            "people_listed": len(labels),
            "senior": int(senior.sum()),
            "junior": int((~senior).sum()),
            "people_scored": len(listed & scored_emails),
            "people_never_seen": int((~seen).sum()),
            "scored_not_listed": len(scored_emails - listed),
            "rows_scored": len(scores),
            "rows_by_method": {str(k): int(v) for k, v in method_counts.items()},
        },
        "mail_shape": shape,
        "auc": {name: aucs[name]["auc"] for name in METHODS},
        "auc_seen": {name: aucs[name]["auc_seen"] for name in METHODS},
        "model_scores": {
            "distinct_values": int(len(np.unique(finite_model))),
            "share_at_most_common_value": top_share,
            "min": float(finite_model.min()) if len(finite_model) else float("nan"),
            "max": float(finite_model.max()) if len(finite_model) else float("nan"),
        },
        "goal_auc": GOAL_AUC,
        "goal_met": bool(np.isfinite(model_auc) and model_auc >= GOAL_AUC),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }


# -- the same failure on synthetic data, without real labels -----------------------------------------------------------
STRESS_VARIANTS: tuple[tuple[str, dict[str, bool]], ...] = (
    ("as generated", {}),
    ("no titles", {"titles": True}),
    ("no meetings", {"meetings": True}),
    ("flat mail (no cc, no reply headers, no threads)", {"mail_structure": True}),
    ("no titles, meetings or mail structure", {"titles": True, "meetings": True, "mail_structure": True}),
    (
        "same, all deals merged into one",
        {"titles": True, "meetings": True, "mail_structure": True, "merge": True},
    ),
    ("as generated, all deals merged into one", {"merge": True}),
)


def strip_evidence(
    ds: Dataset, *, titles: bool = False, meetings: bool = False, mail_structure: bool = False
) -> Dataset:
    """A copy of `ds` without the evidence a header-only mailbox lacks: titles and departments (`titles`),
    meetings and attendees (`meetings`), Cc/Bcc (all recipients become `to`), In-Reply-To and threads (each
    message its own thread) (`mail_structure`). Labels are kept (for measuring), every other row unchanged."""
    tables = dict(ds.tables)
    if titles:
        tables["people"] = ds.people.assign(
            title=pd.array([pd.NA] * len(ds.people), dtype="string"),
            department=pd.array([pd.NA] * len(ds.people), dtype="string"),
        )
    if meetings:
        tables["meetings"] = ds.meetings.iloc[:0]
        tables["meeting_attendees"] = ds.meeting_attendees.iloc[:0]
    if mail_structure:
        emails = ds.emails.copy()
        emails["in_reply_to"] = pd.array([pd.NA] * len(emails), dtype="string")
        emails["thread_id"] = emails["message_id"]
        tables["emails"] = emails
        recipients = ds.email_recipients.copy()
        recipients["kind"] = "to"
        tables["email_recipients"] = recipients
    return Dataset(tables, path=None)


def merge_into_one_deal(ds: Dataset) -> Dataset:
    """A copy of `ds` as one company's mailbox: one account (the first), one open deal holding every e-mail and
    meeting, every buyer moved to that account. Labels are dropped (they no longer refer to a deal)."""
    from influence.contract import coerce_table, empty_table

    account = str(ds.accounts["account_id"].iloc[0])
    deal_id = "merged-deal"
    tables = dict(ds.tables)
    tables["accounts"] = ds.accounts.iloc[:1].copy()
    deal = pd.DataFrame(
        {
            "deal_id": [deal_id],
            "account_id": [account],
            "created_at": [ds.deals["created_at"].min()],
            "closed_at": [pd.NaT],
            "stage": [pd.NA],
            "outcome": ["open"],
            "amount": [np.nan],
            "currency": [pd.NA],
        }
    )
    tables["deals"] = coerce_table("deals", deal)
    for name in ("emails", "meetings"):
        tables[name] = ds.tables[name].assign(
            deal_id=pd.array([deal_id] * len(ds.tables[name]), dtype="string")
        )
    people = ds.people.copy()
    people["account_id"] = people["account_id"].where(people["side"] != "buyer", account).astype("string")
    tables["people"] = people
    tables["labels"] = empty_table("labels")
    return Dataset(tables, path=None)


def _person_labels(ds: Dataset, key_threshold: float) -> tuple[pd.Series, pd.Series]:
    """Per person: key influencer in any deal (max label influence >= threshold) and title seniority >= 5."""
    labels = ds.labels.dropna(subset=["influence"])
    key = labels.groupby(labels["person_id"].astype(str))["influence"].max() >= key_threshold
    senior = pd.Series(
        title_seniority(ds.people["title"]) >= 5, index=ds.people["person_id"].astype(str).to_numpy()
    )
    return key, senior[~senior.index.duplicated()]


def run_stress(ds: Dataset, *, model: str | Path | Any | None = None) -> dict[str, Any]:
    """Score a labelled (synthetic) dataset as generated and stripped down to what a header-only mailbox holds
    (`strip_evidence`, `merge_into_one_deal`), and report per variant the person-level ROC-AUC of the model's
    influence (max over the person's deals) for the key-influencer label and for a director-or-higher title.

    The general form of the Enron failure, measured without any real label. JSON-ready dict.
    """
    from influence.predict import Scorer

    scorer = (
        model if isinstance(model, Scorer) else Scorer.from_ref(str(model) if model is not None else None)
    )
    key, senior = _person_labels(ds, float(scorer.bundle.key_threshold))
    rows = []
    for name, options in STRESS_VARIANTS:
        variant = strip_evidence(
            ds, **{k: v for k, v in options.items() if k in ("titles", "meetings", "mail_structure")}
        )
        if options.get("merge"):
            variant = merge_into_one_deal(variant)
        people = scorer.score_dataset(variant, explain=False).people
        score = people.groupby(people["person_id"].astype(str))["influence"].max()
        row: dict[str, Any] = {
            "variant": name,
            "deals": int(people["deal_id"].nunique()),
            "people": int(len(score)),
        }
        for target, truth in (("auc_key_influencer", key), ("auc_director_or_higher", senior)):
            y = truth.reindex(score.index)
            known = y.notna().to_numpy()
            row[target] = roc_auc(y[known].astype(bool).to_numpy(), score.to_numpy()[known])
        rows.append(row)
    return {"model_version": scorer.model_version, "variants": rows}


def format_stress(report: Mapping[str, Any]) -> str:
    """The stress report as a text table."""
    lines = [
        f"Synthetic stress test, model {report['model_version']}: person-level ROC-AUC of the influence score",
        f"  {'key':>6}  {'dir+':>6}  {'deals':>6}  {'people':>6}  variant",
    ]
    for r in report["variants"]:
        lines.append(
            f"  {r['auc_key_influencer']:6.3f}  {r['auc_director_or_higher']:6.3f}  {r['deals']:6d}  "
            f"{r['people']:6d}  {r['variant']}"
        )
    lines.append(
        "key: key influencer in any deal (label influence >= key threshold); dir+: title seniority >= 5"
    )
    return "\n".join(lines)


def format_report(report: Mapping[str, Any]) -> str:
    """The report as the text `influence eval-real` prints."""
    if report.get("status") != "ok":
        return f"skipped: {report.get('reason', 'unknown reason')}"
    imp, cov = report["import"], report["coverage"]
    lines = [
        f"Real-data check: Enron e-mail metadata, Senior vs Junior, model {report['model_version']}",
        f"import ({imp['options']}): {imp['messages_read']:,} messages read, {imp['messages_imported']:,} "
        f"imported, {imp['messages_rejected']:,} rejected; "
        + ", ".join(f"{k} {v:,}" for k, v in imp["tables"].items()),
        f"coverage: {cov['people_scored']} of {cov['people_listed']} people scored "
        f"({cov['senior']} Senior, {cov['junior']} Junior); {cov['people_never_seen']} never seen in a message; "
        f"{cov['scored_not_listed']} scored but not in the people file; rows by method "
        + ", ".join(f"{k} {v}" for k, v in cov["rows_by_method"].items()),
        "label-free mail shape (compare docs/synthetic-data.md, 'Real mail vs the generator'; definitions: "
        "influence.generate.SHAPE_STATISTICS):",
        *[f"  {v:9.3f}  {k}" for k, v in report.get("mail_shape", {}).items()],
        "",
        f"  {'ROC-AUC':>7}  {'seen':>6}  method",
    ]
    for name in METHODS:
        auc, seen = report["auc"][name], report["auc_seen"][name]
        lines.append(f"  {auc:7.3f}  {seen:6.3f}  {name}: {METHOD_TEXT[name]}")
    ms = report["model_scores"]
    lines += [
        "",
        f"model scores: {ms['distinct_values']} distinct values in [{ms['min']:.3f}, {ms['max']:.3f}]; "
        f"{100 * ms['share_at_most_common_value']:.0f}% of people share the most common value (ties count 1/2)",
        f"goal: model ROC-AUC >= {report['goal_auc']:.2f} with mail metadata only: "
        + ("met" if report["goal_met"] else f"NOT met ({report['auc']['model']:.3f})"),
        "AUC over all listed people (never-seen people rank lowest for mail-based methods); 'seen': only people "
        "who appear in a message.",
        "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items()),
    ]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the report (aggregate figures only; NaN -> null) as indented JSON."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(_jsonable(dict(report)), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return file


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m influence.eval_real [--enron-dir DIR] [--model REF] [--json FILE] [--stress DATA_DIR]`.

    Exit 0 on success and when the default Enron folder is absent (prints "skipped: ... not found"); 1 when an
    explicitly given folder is missing or an input is unusable.
    """
    from influence.bundle import BundleError
    from influence.data import DatasetError
    from influence.importers import ImporterError
    from influence.settings import shared_enron_dir

    parser = argparse.ArgumentParser(prog="influence.eval_real", description=__doc__.splitlines()[0])
    parser.add_argument("--enron-dir", type=Path, default=None, help="Default: settings.shared_enron_dir().")
    parser.add_argument("--model", default=None, help="Bundle reference; default: the shipped model.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the report as JSON here.")
    parser.add_argument("--work-dir", type=Path, default=None, help="Keep the imported dataset here.")
    parser.add_argument(
        "--stress",
        type=Path,
        default=None,
        metavar="DATA_DIR",
        help="Instead: the synthetic stress test on this labelled dataset folder (e.g. data/sample).",
    )
    args = parser.parse_args(argv)
    if args.stress is not None:
        from influence.data import load

        try:
            stress = run_stress(load(args.stress), model=args.model)
        except (BundleError, DatasetError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(format_stress(stress))
        if args.json is not None:
            print(f"written to {write_json(stress, args.json)}")
        return 0
    folder = args.enron_dir if args.enron_dir is not None else shared_enron_dir()
    if args.enron_dir is not None and isinstance(find_enron_files(folder), str):
        print(f"error: --enron-dir: {find_enron_files(folder)}", file=sys.stderr)
        return 1
    try:
        report = run_eval_real(
            folder, model=args.model, work_dir=args.work_dir, say=lambda m: print(m, file=sys.stderr)
        )
    except (EvalRealError, BundleError, DatasetError, ImporterError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    if report["status"] != "ok":
        return 0
    if args.json is not None:
        print(f"written to {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
