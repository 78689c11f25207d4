"""Evaluation of a model bundle on labelled deals, side by side with the baselines. Pure functions.

Metrics (definitions are part of the contract with the issue's quality goals):

- influence: ROC-AUC, PR-AUC (average precision), Brier score and a 10-bin reliability curve of P(key influencer)
  against the key label (label influence >= the bundle's key threshold).
- NDCG@3 within a deal: people ranked by score, graded relevance = label influence, linear gain
  (rel / log2(1 + rank), as scikit-learn's `ndcg_score`), averaged over deals with >= 2 labelled rows and a
  non-zero ideal DCG. Tied scores get the average discount of the positions they share (the expected value under
  random tie-breaking), so a baseline with many ties (title seniority) is neither helped nor hurt by row order.
- hidden-influencer recall@3: among true key influencers whose title seniority is below director (< 5, which
  includes 0 = unknown title), the share found in their deal's top 3 (ties: expected share under random order).
- profile: macro-F1 over the profiles present in the labels, per-class F1 and the confusion matrix (PROFILES
  order), for the model and for the classic DMU title rules.
- label oracle: the two ranking metrics for a ranking by the true label influence itself. It is the ceiling of
  any ranker that orders people by influence: in a deal with four or more key influencers, senior ones rightly
  take top places and the hidden ones below them cannot all be in a top 3 (recall@3 < 1 even for the oracle).
  `hidden_influencer_recall_ceiling_at_3` is the ceiling of any ranking at all (sum over deals of
  min(3, hidden key people) / their total): only a ranking that puts every hidden key person above every
  senior one, whatever their influence, reaches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from influence.contract import PROFILES

__all__ = [
    "EvaluationResult",
    "HIDDEN_SENIORITY_BELOW",
    "evaluate",
    "evaluate_frame",
    "hidden_influencer_recall_at_k",
    "influence_metrics",
    "labelled_frame",
    "ndcg_at_k",
    "profile_metrics",
    "reliability_curve",
]

HIDDEN_SENIORITY_BELOW = 5  # director / VP on the shared seniority scale
_KEYS = ["deal_id", "person_id"]


@dataclass
class EvaluationResult:
    """Metrics (JSON-ready) plus the per-row scores the report plots are drawn from."""

    metrics: dict[str, Any]
    rows: pd.DataFrame  # deal_id, account_id, key, influence, title_seniority, score_* ; profile columns
    confusion: pd.DataFrame  # true profile x predicted profile (PROFILES order), model
    baseline_confusion: pd.DataFrame = field(default_factory=pd.DataFrame)


# -- ranking metrics ---------------------------------------------------------------------------------------------
def _tie_ranks(groups: pd.Series | np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based first and last position of each row's tie group within its group, best (highest) score first."""
    ranked = pd.Series(-np.asarray(scores, dtype=np.float64)).groupby(np.asarray(groups))
    return ranked.rank(method="min").to_numpy(), ranked.rank(method="max").to_numpy()


def ndcg_at_k(
    groups: pd.Series | np.ndarray, scores: np.ndarray, relevance: np.ndarray, k: int = 3, min_rows: int = 2
) -> tuple[float, int]:
    """Mean NDCG@k over groups (deals) with >= `min_rows` rows and a positive ideal DCG; returns (mean, n_groups).

    Linear gain, log2 discount, tie-averaged discounts for tied scores (see module docstring). Rows with NaN
    relevance or NaN score are left out. Returns (nan, 0) when no group qualifies.
    """
    frame = pd.DataFrame(
        {"g": np.asarray(groups), "s": np.asarray(scores, np.float64), "r": np.asarray(relevance, np.float64)}
    )
    frame = frame[frame["s"].notna() & frame["r"].notna()]
    sizes = frame.groupby("g")["g"].transform("size")
    frame = frame[sizes >= min_rows].reset_index(drop=True)
    if frame.empty:
        return math.nan, 0
    max_size = int(frame.groupby("g").size().max())
    positions = np.arange(1, max_size + 1)
    discount = np.where(positions <= k, 1.0 / np.log2(positions + 1), 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(discount)])
    first, last = _tie_ranks(frame["g"], frame["s"].to_numpy())
    first_i, last_i = first.astype(int), last.astype(int)
    mean_discount = (cumulative[last_i] - cumulative[first_i - 1]) / (last_i - first_i + 1)
    frame["dcg"] = frame["r"] * mean_discount
    ideal_rank = frame.groupby("g")["r"].rank(method="first", ascending=False).to_numpy().astype(int)
    frame["idcg"] = frame["r"] * discount[ideal_rank - 1]
    per_group = frame.groupby("g")[["dcg", "idcg"]].sum()
    per_group = per_group[per_group["idcg"] > 0]
    if per_group.empty:
        return math.nan, 0
    return float((per_group["dcg"] / per_group["idcg"]).mean()), len(per_group)


def hidden_influencer_recall_at_k(
    groups: pd.Series | np.ndarray, scores: np.ndarray, key: np.ndarray, seniority: np.ndarray, k: int = 3
) -> tuple[float, int]:
    """Share of key influencers with seniority < 5 (0 = unknown counts) ranked in their group's top k.

    Tied scores count fractionally: a row sharing positions first..last is in the top k with probability
    clip((k - first + 1) / (last - first + 1), 0, 1). Returns (recall, n_hidden); (nan, 0) without any.
    """
    frame = pd.DataFrame({"g": np.asarray(groups), "s": np.asarray(scores, np.float64)})
    frame["s"] = frame["s"].fillna(-np.inf)
    first, last = _tie_ranks(frame["g"], frame["s"].to_numpy())
    in_top = np.clip((k - first + 1) / (last - first + 1), 0.0, 1.0)
    sen = np.nan_to_num(np.asarray(seniority, np.float64), nan=0.0)
    hidden = np.asarray(key, dtype=bool) & (sen < HIDDEN_SENIORITY_BELOW)
    n = int(hidden.sum())
    return (float(in_top[hidden].mean()), n) if n else (math.nan, 0)


# -- probability metrics ------------------------------------------------------------------------------------------
def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins of predicted probability: mean prediction, observed frequency and count per bin."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        mask = bins == b
        rows.append(
            {
                "bin_low": b / n_bins,
                "bin_high": (b + 1) / n_bins,
                "count": int(mask.sum()),
                "mean_predicted": float(p[mask].mean()) if mask.any() else math.nan,
                "observed_rate": float(y[mask].mean()) if mask.any() else math.nan,
            }
        )
    return pd.DataFrame(rows)


def influence_metrics(y: np.ndarray, score: np.ndarray, *, probabilistic: bool = True) -> dict[str, float]:
    """ROC-AUC and PR-AUC (any score); Brier score and expected calibration error for probabilities."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    score = np.asarray(score, np.float64)
    out: dict[str, float] = {"n": int(len(y)), "positives": int(y.sum())}
    if 0 < y.sum() < len(y):
        out["roc_auc"] = float(roc_auc_score(y, score))
        out["pr_auc"] = float(average_precision_score(y, score))
    else:
        out["roc_auc"] = out["pr_auc"] = math.nan
    if probabilistic:
        out["brier"] = float(brier_score_loss(y, score))
        curve = reliability_curve(y, score)
        filled = curve[curve["count"] > 0]
        out["ece"] = float(
            (filled["count"] * (filled["mean_predicted"] - filled["observed_rate"]).abs()).sum() / len(y)
        )
    return out


def profile_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Macro-F1 over profiles present in `y_true`, per-class F1 (all profiles present in truth or prediction)."""
    from sklearn.metrics import accuracy_score, f1_score

    y_true = np.asarray(y_true, dtype=object)
    y_pred = np.asarray(y_pred, dtype=object)
    present = [p for p in PROFILES if p in set(y_true)]
    shown = [p for p in PROFILES if p in set(y_true) | set(y_pred)]
    per_class = f1_score(y_true, y_pred, labels=shown, average=None, zero_division=0.0)
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0.0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "n": int(len(y_true)),
        "per_class_f1": {p: float(f) for p, f in zip(shown, per_class, strict=True)},
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(np.asarray(y_true, object), np.asarray(y_pred, object), labels=list(PROFILES))
    return pd.DataFrame(
        matrix, index=pd.Index(PROFILES, name="true"), columns=pd.Index(PROFILES, name="predicted")
    )


# -- evaluation of a labelled feature frame --------------------------------------------------------------------
def labelled_frame(ds: Any, *, closed_only: bool = True) -> tuple[pd.DataFrame, dict[str, int]]:
    """Feature rows of every labelled (deal, person) joined with the labels, plus counts of what was used.

    Only closed deals' labels are used (an open deal's label is not final). Label rows whose person or deal is
    unknown cannot happen in a validated dataset; they are counted here anyway rather than dropped silently.
    """
    from influence.features import build_features

    labels = ds.labels.loc[:, ["deal_id", "person_id", "influence", "profile"]].copy()
    counts: dict[str, int] = {"labels": len(labels)}
    if closed_only:
        closed = ds.deals.loc[ds.deals["outcome"].isin(["won", "lost"]), "deal_id"]
        labels = labels[labels["deal_id"].isin(closed)]
        counts["labels_open_deals_skipped"] = counts["labels"] - len(labels)
    labels = labels.drop_duplicates(_KEYS)
    features = build_features(ds, pairs=labels[_KEYS].reset_index(drop=True))
    frame = features.merge(labels, on=_KEYS, how="inner", validate="one_to_one")
    counts["labels_without_features"] = len(labels) - len(frame)
    counts["rows"] = len(frame)
    counts["rows_missing_influence"] = int(frame["influence"].isna().sum())
    counts["rows_missing_profile"] = int(frame["profile"].isna().sum())
    return frame.reset_index(drop=True), counts


def evaluate_frame(bundle: Any, frame: pd.DataFrame) -> EvaluationResult:
    """Metrics of `bundle` and the baselines on a labelled feature frame (see `labelled_frame`)."""
    from influence.baselines import centrality_scores, classic_dmu_profiles, title_seniority_scores

    threshold = bundle.key_threshold
    with_influence = frame[frame["influence"].notna()]
    rows = pd.DataFrame(
        {
            "deal_id": with_influence["deal_id"].to_numpy(),
            "account_id": with_influence["account_id"].to_numpy(),
            "influence": with_influence["influence"].astype("float64").to_numpy(),
            "title_seniority": with_influence["title_seniority"].astype("float64").to_numpy(),
        }
    )
    rows["key"] = (rows["influence"] >= threshold).astype(int)
    scores = {
        "model": bundle.predict_influence(with_influence),
        "title": title_seniority_scores(with_influence),
        "centrality": centrality_scores(with_influence),
    }
    metrics: dict[str, Any] = {
        "model_name": bundle.name,
        "model_version": bundle.version,
        "key_threshold": threshold,
        "rows": len(frame),
        "accounts": int(frame["account_id"].nunique()),
        "deals": int(frame["deal_id"].nunique()),
    }
    for name, score in scores.items():
        rows[f"score_{name}"] = score
        influence = influence_metrics(rows["key"].to_numpy(), score, probabilistic=name == "model")
        ndcg, n_deals = ndcg_at_k(rows["deal_id"], score, rows["influence"].to_numpy(), k=3)
        recall, n_hidden = hidden_influencer_recall_at_k(
            rows["deal_id"], score, rows["key"].to_numpy(), rows["title_seniority"].to_numpy(), k=3
        )
        prefix = "influence" if name == "model" else f"baseline_{name}"
        for metric, value in influence.items():
            metrics[f"{prefix}_{metric}"] = value
        metrics[f"{'' if name == 'model' else prefix + '_'}ndcg_at_3"] = ndcg
        metrics[f"{'' if name == 'model' else prefix + '_'}hidden_influencer_recall_at_3"] = recall
        if name == "model":
            metrics["ndcg_deals"] = n_deals
            metrics["hidden_influencers"] = n_hidden
    metrics.update(_oracle_ranking(rows))
    metrics["reliability_curve"] = reliability_curve(rows["key"], rows["score_model"]).to_dict(
        orient="records"
    )

    with_profile = frame[frame["profile"].notna()]
    truth = with_profile["profile"].astype(str).to_numpy()
    proba = bundle.predict_profile_proba(with_profile)
    predicted = np.asarray(bundle.profile_classes, dtype=object)[proba.argmax(axis=1)]
    rules = classic_dmu_profiles(with_profile)
    model_profile = profile_metrics(truth, predicted)
    rules_profile = profile_metrics(truth, rules)
    metrics["profile_macro_f1"] = model_profile["macro_f1"]
    metrics["profile_accuracy"] = model_profile["accuracy"]
    metrics["profile_per_class_f1"] = model_profile["per_class_f1"]
    metrics["baseline_rules_profile_macro_f1"] = rules_profile["macro_f1"]
    metrics["baseline_rules_profile_accuracy"] = rules_profile["accuracy"]
    metrics["baseline_rules_profile_per_class_f1"] = rules_profile["per_class_f1"]
    metrics["profile_rows"] = len(with_profile)
    metrics["by_evidence"] = evidence_breakdown(rows, with_influence, with_profile, truth, predicted)
    return EvaluationResult(
        metrics=metrics,
        rows=rows,
        confusion=confusion(truth, predicted),
        baseline_confusion=confusion(truth, rules),
    )


def _oracle_ranking(rows: pd.DataFrame) -> dict[str, float]:
    """NDCG@3 and hidden-influencer recall@3 of ranking by the true label influence (the ranking ceiling)."""
    truth = rows["influence"].to_numpy()
    recall, _ = hidden_influencer_recall_at_k(
        rows["deal_id"], truth, rows["key"].to_numpy(), rows["title_seniority"].to_numpy(), k=3
    )
    # The ceiling of ANY ranking, even one that ignores influence to put hidden people first: a deal with h
    # hidden key influencers contributes at most min(3, h) of its h to the pooled recall.
    sen = np.nan_to_num(rows["title_seniority"].to_numpy(np.float64), nan=0.0)
    hidden = rows["key"].to_numpy().astype(bool) & (sen < HIDDEN_SENIORITY_BELOW)
    per_deal = pd.Series(hidden).groupby(np.asarray(rows["deal_id"]), sort=False).sum().to_numpy()
    total = int(per_deal.sum())
    return {
        "oracle_ndcg_at_3": ndcg_at_k(rows["deal_id"], truth, truth, k=3)[0],
        "oracle_hidden_influencer_recall_at_3": recall,
        "hidden_influencer_recall_ceiling_at_3": float(np.minimum(per_deal, 3).sum() / total)
        if total
        else math.nan,
    }


EVIDENCE_SEGMENTS = ("with_meetings", "mail_only")


def evidence_of(frame: pd.DataFrame) -> np.ndarray:
    """Each row's evidence segment, read from the data alone: does its deal have any meeting before as-of?

    Customers' exports range from full CRM + calendar + mail histories to header-only mailboxes; the model is
    much surer with meetings. Reporting the two apart keeps a mix of worlds from hiding either figure.
    """
    meetings = pd.to_numeric(frame["ctx_deal_meetings"], errors="coerce").fillna(0).to_numpy()
    return np.where(meetings > 0, EVIDENCE_SEGMENTS[0], EVIDENCE_SEGMENTS[1])


def evidence_breakdown(
    rows: pd.DataFrame,
    with_influence: pd.DataFrame,
    with_profile: pd.DataFrame,
    truth: np.ndarray,
    predicted: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """The model's headline metrics per evidence segment (see `evidence_of`); empty segments are left out."""
    out: dict[str, dict[str, Any]] = {}
    seg_rows = evidence_of(with_influence)
    seg_profile = evidence_of(with_profile)
    for segment in EVIDENCE_SEGMENTS:
        mask = seg_rows == segment
        if not mask.any():
            continue
        part = rows.loc[mask]
        score = part["score_model"].to_numpy()
        recall, n_hidden = hidden_influencer_recall_at_k(
            part["deal_id"], score, part["key"].to_numpy(), part["title_seniority"].to_numpy(), k=3
        )
        pmask = seg_profile == segment
        out[segment] = {
            "rows": int(mask.sum()),
            "deals": int(part["deal_id"].nunique()),
            "influence_roc_auc": influence_metrics(part["key"].to_numpy(), score)["roc_auc"],
            "ndcg_at_3": ndcg_at_k(part["deal_id"], score, part["influence"].to_numpy(), k=3)[0],
            "hidden_influencer_recall_at_3": recall,
            "hidden_influencers": n_hidden,
            **_oracle_ranking(part),
            "profile_macro_f1": profile_metrics(truth[pmask], predicted[pmask])["macro_f1"]
            if pmask.any()
            else math.nan,
        }
    return out


def evaluate(bundle: Any, ds: Any) -> EvaluationResult:
    """Evaluate `bundle` on every labelled closed deal of `ds`, side by side with the baselines."""
    frame, counts = labelled_frame(ds)
    if frame.empty:
        raise ValueError("the dataset has no labels on closed deals; nothing to evaluate")
    result = evaluate_frame(bundle, frame)
    result.metrics["label_counts"] = counts
    return result


# -- headline ---------------------------------------------------------------------------------------------------
HEADLINE: tuple[tuple[str, str, str | None, str | None], ...] = (
    # label, model key, title baseline key, centrality/rules baseline key
    ("influence ROC-AUC", "influence_roc_auc", "baseline_title_roc_auc", "baseline_centrality_roc_auc"),
    ("influence PR-AUC", "influence_pr_auc", "baseline_title_pr_auc", "baseline_centrality_pr_auc"),
    ("Brier score", "influence_brier", None, None),
    ("NDCG@3 within deal", "ndcg_at_3", "baseline_title_ndcg_at_3", "baseline_centrality_ndcg_at_3"),
    (
        "hidden-influencer recall@3",
        "hidden_influencer_recall_at_3",
        "baseline_title_hidden_influencer_recall_at_3",
        "baseline_centrality_hidden_influencer_recall_at_3",
    ),
    ("profile macro-F1", "profile_macro_f1", None, "baseline_rules_profile_macro_f1"),
)

GOALS: dict[str, float] = {
    "influence_roc_auc": 0.90,
    "ndcg_at_3": 0.85,
    "hidden_influencer_recall_at_3": 0.70,
    "profile_macro_f1": 0.75,
}


def headline_table(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the side-by-side table: metric, model, title baseline, centrality / rules baseline, label oracle
    (the ranking ceiling; None where it does not apply), goal."""
    out = []
    for label, model_key, title_key, other_key in HEADLINE:
        out.append(
            {
                "metric": label,
                "model": metrics.get(model_key),
                "title_seniority": metrics.get(title_key) if title_key else None,
                "centrality_or_rules": metrics.get(other_key) if other_key else None,
                "label_oracle": metrics.get(f"oracle_{model_key}"),
                "goal": GOALS.get(model_key),
            }
        )
    return out


def goal_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """Each quality goal of the issue: met or not (ROC-AUC also needs +0.15 over title seniority)."""
    checks = {key: bool(metrics.get(key, math.nan) >= goal) for key, goal in GOALS.items()}
    lift = metrics.get("influence_roc_auc", math.nan) - metrics.get("baseline_title_roc_auc", math.nan)
    checks["roc_auc_lift_over_title_0.15"] = bool(lift >= 0.15)
    return checks


def missed_goal_text(key: str, metrics: dict[str, Any]) -> str:
    """A missed goal with its figures, and whether even the label oracle misses it (then no better ranking
    by influence can meet it: the goal, not the model, is out of reach)."""
    goal = GOALS.get(key)
    if goal is None:  # the ROC-AUC lift over title seniority
        lift = metrics.get("influence_roc_auc", math.nan) - metrics.get("baseline_title_roc_auc", math.nan)
        return f"{key} (lift {_fmt(float(lift))})"
    text = f"{key} {_fmt(metrics.get(key))} < {goal:.2f}"
    oracle = metrics.get(f"oracle_{key}")
    if isinstance(oracle, float) and oracle < goal:
        text += f" (goal above the oracle's {_fmt(oracle)}: out of reach for any ranking by influence)"
    return text


# -- report ------------------------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def plot_figures(result: EvaluationResult, out_dir: Path) -> dict[str, Path]:
    """Reliability curve, ROC curves (model vs baselines) and profile confusion matrix as PNG files."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    rows = result.rows

    curve = reliability_curve(rows["key"], rows["score_model"])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfectly calibrated")
    filled = curve[curve["count"] > 0]
    ax.plot(filled["mean_predicted"], filled["observed_rate"], marker="o", label="model")
    ax.set(
        xlabel="predicted P(key influencer)",
        ylabel="observed share of key influencers",
        title="Reliability (10 bins)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    paths["reliability"] = out_dir / "reliability.png"
    fig.savefig(paths["reliability"], dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    if rows["key"].nunique() == 2:
        for name, label in (("model", "model"), ("title", "title seniority"), ("centrality", "PageRank")):
            fpr, tpr, _ = roc_curve(rows["key"], rows[f"score_{name}"])
            auc = result.metrics.get("influence_roc_auc" if name == "model" else f"baseline_{name}_roc_auc")
            ax.plot(fpr, tpr, label=f"{label} (AUC {_fmt(auc)})")
        ax.legend(loc="lower right")
    else:
        # Without both classes there is no curve; say so on the plot instead of an empty legend.
        ax.text(0.5, 0.5, "no ROC: the labels hold one class only", ha="center", va="center")
    ax.plot([0, 1], [0, 1], ls="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Key influencer ROC vs baselines")
    paths["roc"] = out_dir / "roc.png"
    fig.savefig(paths["roc"], dpi=100, bbox_inches="tight")
    plt.close(fig)

    matrix = result.confusion
    shares = matrix.div(matrix.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(shares.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(PROFILES)), PROFILES, rotation=60, ha="right")
    ax.set_yticks(range(len(PROFILES)), PROFILES)
    for i in range(len(PROFILES)):
        for j in range(len(PROFILES)):
            if matrix.iat[i, j]:
                ax.text(
                    j,
                    i,
                    str(matrix.iat[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shares.iat[i, j] > 0.5 else "black",
                )
    ax.set(
        xlabel="predicted profile", ylabel="true profile", title="Profile confusion (row-normalised colour)"
    )
    fig.colorbar(image, ax=ax, fraction=0.046)
    paths["confusion"] = out_dir / "confusion.png"
    fig.savefig(paths["confusion"], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths


def report_markdown(result: EvaluationResult, *, title: str, data: str, images: dict[str, str]) -> str:
    """The evaluation report as Markdown (images referenced by relative path)."""
    m = result.metrics
    lines = [
        f"# {title}",
        "",
        f"- model: `{m.get('model_name')}/{m.get('model_version')}`",
        f"- data: {data}",
        f"- rows: {m.get('rows')} labelled (deal, person) pairs, {m.get('deals')} deals, "
        f"{m.get('accounts')} accounts; key influencer = label influence >= {m.get('key_threshold')}",
        "",
        "## Model vs baselines",
        "",
        "| metric | model | title seniority | PageRank / title rules | label oracle | goal |",
        "|---|---|---|---|---|---|",
    ]
    for row in headline_table(m):
        goal = f">= {row['goal']:.2f}" if row["goal"] is not None else ""
        lines.append(
            f"| {row['metric']} | {_fmt(row['model'])} | {_fmt(row['title_seniority'])} | "
            f"{_fmt(row['centrality_or_rules'])} | {_fmt(row['label_oracle'])} | {goal} |"
        )
    checks = goal_checks(m)
    met = [k for k, ok in checks.items() if ok]
    missed = [missed_goal_text(k, m) for k, ok in checks.items() if not ok]
    lines += ["", f"Goals met: {', '.join(met) or 'none'}.", ""]
    lines += [f"Goals MISSED: {'; '.join(missed)}.", ""] if missed else []
    lines += [
        "Label oracle = ranking by the true label influence: the ceiling of any ranking by influence. A goal above",
        "it cannot be met by ranking people correctly: a deal with more than 3 key influencers fills its top 3",
        "with the most influential ones, often senior, so even the oracle misses hidden ones.",
        "The ceiling of any ranking at all for hidden-influencer recall@3 (hidden key people first, whatever "
        f"their influence) is {_fmt(m.get('hidden_influencer_recall_ceiling_at_3'))}.",
        "",
    ]
    lines += [
        f"Hidden influencers (key, title seniority < director incl. unknown): {m.get('hidden_influencers')}; "
        f"deals in NDCG@3: {m.get('ndcg_deals')}. Brier {_fmt(m.get('influence_brier'))}, "
        f"expected calibration error {_fmt(m.get('influence_ece'))}.",
        "",
    ]
    segments = m.get("by_evidence") or {}
    if segments:
        lines += [
            "## By evidence (deals with meetings vs mail-only deals)",
            "",
            "| segment | rows | deals | ROC-AUC | NDCG@3 | hidden recall@3 (oracle) | profile macro-F1 |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, seg in segments.items():
            lines.append(
                f"| {name} | {seg['rows']} | {seg['deals']} | {_fmt(seg['influence_roc_auc'])} | "
                f"{_fmt(seg['ndcg_at_3'])} | {_fmt(seg['hidden_influencer_recall_at_3'])} "
                f"({_fmt(seg.get('oracle_hidden_influencer_recall_at_3'))}) | "
                f"{_fmt(seg['profile_macro_f1'])} |"
            )
        lines.append("")
    lines += [
        "## Profile F1 per class (all rows)",
        "",
        "| profile | model F1 | title rules F1 |",
        "|---|---|---|",
    ]
    rules = m.get("baseline_rules_profile_per_class_f1", {})
    for profile, f1 in m.get("profile_per_class_f1", {}).items():
        lines.append(f"| {profile} | {_fmt(f1)} | {_fmt(rules.get(profile))} |")
    lines += ["", "## Figures", ""]
    for key, caption in (
        ("roc", "ROC vs baselines"),
        ("reliability", "Reliability curve"),
        ("confusion", "Profile confusion matrix"),
    ):
        if key in images:
            lines.append(f"![{caption}]({images[key]})")
            lines.append("")
    return "\n".join(lines)


def write_report(
    result: EvaluationResult, out_dir: str | Path, *, title: str = "Evaluation", data: str = ""
) -> Path:
    """Write `report.md`, `metrics.json` and the PNG figures into `out_dir`; returns the Markdown path."""
    import json

    out = Path(out_dir)
    figures = plot_figures(result, out / "figures")
    images = {k: str(p.relative_to(out)) for k, p in figures.items()}
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2, default=_json_default) + "\n")
    path = out / "report.md"
    path.write_text(report_markdown(result, title=title, data=data, images=images) + "\n", encoding="utf-8")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
