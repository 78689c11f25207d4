"""CLI commands for the model stage: `influence train` and `influence evaluate` (thin: parse, call, print)."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import typer


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _measurable(goal: str, metrics: dict[str, Any]) -> bool:
    """Whether the data gave the figure a goal is checked on (the ROC-AUC lift needs both ROC-AUCs)."""
    keys = (
        ("influence_roc_auc", "baseline_title_roc_auc") if goal == "roc_auc_lift_over_title_0.15" else (goal,)
    )
    return all(isinstance(metrics.get(k), int | float) and not math.isnan(metrics[k]) for k in keys)


def _print_table(metrics: dict[str, Any]) -> None:
    from influence.evaluate import goal_checks, headline_table, missed_goal_text

    typer.echo(f"{'metric':<28} {'model':>8} {'title':>8} {'PR/rules':>9} {'oracle':>7} {'goal':>7}")
    for row in headline_table(metrics):
        goal = f">={row['goal']:.2f}" if row["goal"] is not None else ""
        typer.echo(
            f"{row['metric']:<28} {_fmt(row['model']):>8} {_fmt(row['title_seniority']):>8} "
            f"{_fmt(row['centrality_or_rules']):>9} {_fmt(row['label_oracle']):>7} {goal:>7}"
        )
    for name, seg in (metrics.get("by_evidence") or {}).items():
        typer.echo(
            f"  {name:<14} {seg['rows']:>7} rows: ROC-AUC {_fmt(seg['influence_roc_auc'])}, "
            f"NDCG@3 {_fmt(seg['ndcg_at_3'])}, hidden recall@3 {_fmt(seg['hidden_influencer_recall_at_3'])} "
            f"(oracle {_fmt(seg.get('oracle_hidden_influencer_recall_at_3'))}, "
            f"any ranking {_fmt(seg.get('hidden_influencer_recall_ceiling_at_3'))}), "
            f"macro-F1 {_fmt(seg['profile_macro_f1'])}"
        )
    missed = [k for k, ok in goal_checks(metrics).items() if not ok]
    # A metric the data cannot give (ROC-AUC with one class only, a tiny export) is not a miss of the model.
    unmeasurable = [k for k in missed if not _measurable(k, metrics)]
    missed = [k for k in missed if k not in unmeasurable]
    if missed or not unmeasurable:
        typer.echo(
            "goals: all met"
            if not missed
            else f"goals missed: {'; '.join(missed_goal_text(k, metrics) for k in missed)}"
        )
    if unmeasurable:
        typer.echo(
            f"goals not measurable on this data: {', '.join(unmeasurable)} (ROC-AUC needs key and non-key "
            "people among the labels; NDCG and recall need deals with 2+ labelled people)"
        )
    typer.echo(
        "(title = title-seniority ranking; PR/rules = PageRank-only ranking, or classic DMU title rules;"
        " oracle = ranking by the true label influence, the ceiling of any ranking by influence)"
    )
    typer.echo(
        f"(hidden recall@3 ceilings: {_fmt(metrics.get('oracle_hidden_influencer_recall_at_3'))} ranking by "
        f"true influence (oracle), {_fmt(metrics.get('hidden_influencer_recall_ceiling_at_3'))} for any ranking at "
        "all, reached only by putting every hidden key person above every senior one)"
    )


def _load_dataset(folder: Path) -> Any:
    from influence.data import DatasetError, load

    try:
        return load(folder)
    except DatasetError as exc:
        from influence.cli._validate import echo_dataset_error

        echo_dataset_error(exc, folder)
        if not folder.exists():  # derived data is not committed: a fresh clone has no data/interim/
            typer.echo(
                f"hint: create it with `influence generate --out {folder} --accounts N --seed S` "
                "(`make train` and `make evaluate` generate their own folders first)",
                err=True,
            )
        raise typer.Exit(1) from None


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _load_hint(bundle_path: Path) -> str | None:
    """How to use a bundle just saved outside the folders models may be loaded from (`settings.model_roots`):
    without it, the first `--model` pointing at it is refused and the user learns why only then."""
    import os

    from influence.bundle import BundleError, check_model_location
    from influence.settings import model_roots

    try:
        check_model_location(bundle_path)
    except BundleError:
        folder = bundle_path.parent.parent.resolve()  # OUT, holding NAME/VERSION
        # The variable replaces the default roots: keep them, or the shipped model would be refused next.
        roots = os.pathsep.join(str(root) for root in [*model_roots(), folder])
        return (
            f"{folder} is not a folder models are loaded from; to use this bundle, set "
            f"INFLUENCE_MODEL_ROOTS={roots} and pass --model {bundle_path}"
        )
    return None


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""

    @app.command("train")
    def train_command(
        folder: Path = typer.Argument(
            ..., help="Labelled dataset folder (the contract's tables incl. labels)."
        ),
        config: Path | None = typer.Option(
            None, "--config", help="TOML overriding keys of the shipped model.toml (hyperparameters, splits)."
        ),
        name: str = typer.Option("influence", "--name", help="Bundle name: written to OUT/NAME/<version>/."),
        out: Path | None = typer.Option(
            None, "--out", help="Models folder (default: the project's models/ folder)."
        ),
        promote: bool = typer.Option(
            False, "--promote", help="Point the MLflow registry alias 'champion' at the new model version."
        ),
        seed: int | None = typer.Option(None, "--seed", help="Seed of the account splits and estimators."),
        report: Path | None = typer.Option(
            None,
            "--report",
            help="Also write the held-out evaluation report (Markdown + PNG) to this folder.",
        ),
        no_tracking: bool = typer.Option(False, "--no-tracking", help="Do not log the run to MLflow."),
        synthetic: bool = typer.Option(
            False,
            "--synthetic",
            help="The data is generated (no personal data): hash the training accounts with the public salt "
            "so that anyone can check an evaluation set for overlap. Never use it on customer data.",
        ),
    ) -> None:
        """Train the influence and profile models, print held-out metrics beside the baselines, save the bundle.

        Splits are grouped by account; the metrics are those of the held-out test accounts. Every run is logged
        to MLflow (see `make mlflow-ui`) and the influence model registered as `influence`.
        """
        import warnings

        from influence.bundle import BundleError, save_bundle
        from influence.evaluate import write_report
        from influence.settings import models_dir
        from influence.train import load_config, train

        try:
            cfg = load_config(config)
        except ValueError as exc:
            _fail(str(exc))
        ds = _load_dataset(folder)
        try:
            result = train(ds, cfg, name=name, seed=seed, synthetic=synthetic)
        except ValueError as exc:
            _fail(f"{folder}: {exc}")
        try:
            path = save_bundle(result.bundle, out or models_dir())
        except BundleError as exc:
            _fail(str(exc))
        m = result.evaluation.metrics
        c = result.counts
        trained = c["accounts_fit"] + c["accounts_validation"] + c["accounts_calibration"]
        typer.echo(
            f"trained on {c['rows'] - c['rows_test']} rows of {trained} accounts (fit {c['accounts_fit']}, "
            f"early stopping {c['accounts_validation']}, calibration {c['accounts_calibration']}); "
            f"held-out test: {c['rows_test']} rows of {c['accounts_test']} accounts, {m['deals']} deals"
        )
        typer.echo(
            f"labels: {c.get('labels', c['rows'])} read, {c.get('labels_open_deals_skipped', 0)} on open deals "
            f"not used, {c.get('rows_missing_influence', 0)} without influence (profile model only), "
            f"{c.get('rows_missing_profile', 0)} without profile (influence model only)"
        )
        _print_table(m)
        # MLflow gets the report and figures even without --report (written to a temporary folder then).
        report_dir = report or Path(tempfile.mkdtemp(prefix="influence-report-"))
        md = write_report(
            result.evaluation, report_dir, title=f"Held-out evaluation of {name}", data=str(folder)
        )
        plots = {p.stem: p for p in [md, *sorted((report_dir / "figures").glob("*.png"))]}
        if report is not None:
            typer.echo(f"report: {md}")
        typer.echo(f"bundle: {path}")
        hint = _load_hint(path)
        if hint:
            typer.echo(f"hint: {hint}")
        if not no_tracking:
            from influence.tracking import TrackingWarning, log_training_run

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", TrackingWarning)
                run = log_training_run(
                    result.bundle,
                    params={"config": cfg, "data": str(folder), "seed": result.bundle.metadata["seed"]},
                    metrics={k: v for k, v in m.items() if not isinstance(v, list | dict)},
                    plots=plots,
                    example=result.example,
                    promote=promote,
                )
            for w in caught:
                if issubclass(w.category, TrackingWarning):
                    typer.echo(f"warning: {w.message}", err=True)
            if run:
                version = run.get("model_version")
                typer.echo(
                    f"mlflow: run {run['run_id']} at {run['tracking_uri']}"
                    + (f"; registered influence version {version}" if version else "")
                    + (" (alias champion)" if promote and version else "")
                )
        if report is None:
            shutil.rmtree(report_dir, ignore_errors=True)

    @app.command("evaluate")
    def evaluate_command(
        folder: Path = typer.Argument(
            ..., help="Labelled dataset folder to evaluate on (every account of it)."
        ),
        model: str | None = typer.Option(
            None,
            "--model",
            help="models/NAME, models/NAME/VERSION or models:/NAME@ALIAS (default: the shipped models/influence-default).",
        ),
        json_out: Path | None = typer.Option(None, "--json", help="Write the metrics as JSON to this file."),
        report: Path | None = typer.Option(
            None, "--report", help="Write report.md + PNG figures to this folder (e.g. reports/)."
        ),
        allow_overlap: bool = typer.Option(
            False,
            "--allow-overlap",
            help="Evaluate even when accounts of FOLDER were used to train the model.",
        ),
        no_tracking: bool = typer.Option(False, "--no-tracking", help="Do not log the run to MLflow."),
    ) -> None:
        """Evaluate a model bundle on labelled deals, side by side with the baselines.

        Refuses (exit 1) when FOLDER holds accounts the model was trained on, since the metrics would be
        optimistic; --allow-overlap evaluates anyway with a loud warning.
        """
        from influence.bundle import BundleError, fingerprint_frames, load_bundle, overlapping_accounts
        from influence.evaluate import evaluate, write_report
        from influence.settings import default_model_path

        ref = model or str(default_model_path())
        try:
            bundle = load_bundle(ref)
        except BundleError as exc:
            _fail(str(exc))
        from influence.train import feature_spec_hash

        trained_spec = bundle.metadata.get("feature_spec_sha256")
        if trained_spec and trained_spec != feature_spec_hash():
            typer.echo(
                f"WARNING: {bundle.describe()} was trained on an older definition of the features "
                "(feature catalogue changed since); retrain it with `influence train` / `make train`.",
                err=True,
            )
        ds = _load_dataset(folder)
        import warnings

        with warnings.catch_warnings(record=True) as caught:  # e.g. another pseudonym salt: say so plainly
            warnings.simplefilter("always", UserWarning)
            overlap = overlapping_accounts(bundle, ds.accounts)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        if overlap:
            message = (
                f"{len(overlap)} of {len(ds.accounts)} accounts in {folder} were used to train "
                f"{bundle.describe()} (e.g. {', '.join(overlap[:3])}); metrics on them are optimistic"
            )
            if not allow_overlap:
                _fail(message + ". Evaluate on other accounts, or pass --allow-overlap.")
            typer.echo(f"WARNING: {message}.", err=True)
        try:
            result = evaluate(bundle, ds)
        except ValueError as exc:
            _fail(f"{folder}: {exc}")
        m = result.metrics
        m["data_path"] = str(folder)
        m["overlapping_accounts"] = len(overlap)
        typer.echo(
            f"model {bundle.describe()} on {folder}: {m['rows']} rows, {m['deals']} deals, {m['accounts']} accounts"
        )
        _print_table(m)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(m, indent=2, default=str) + "\n")
            typer.echo(f"json: {json_out}")
        report_dir = report or Path(tempfile.mkdtemp(prefix="influence-report-"))
        md = write_report(
            result, report_dir, title=f"Evaluation of {bundle.name}/{bundle.version}", data=str(folder)
        )
        plots = {p.stem: p for p in [md, *sorted((report_dir / "figures").glob("*.png"))]}
        if report is not None:
            typer.echo(f"report: {md}")
        if not no_tracking:
            import warnings

            from influence.tracking import TrackingWarning, log_evaluation_run

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", TrackingWarning)
                run = log_evaluation_run(
                    bundle,
                    metrics={k: v for k, v in m.items() if not isinstance(v, list | dict)},
                    data_fingerprint=fingerprint_frames({n: ds[n] for n in ds}),
                    data_path=str(folder),
                    plots=plots,
                )
            for w in caught:
                if issubclass(w.category, TrackingWarning):
                    typer.echo(f"warning: {w.message}", err=True)
            if run:
                typer.echo(f"mlflow: run {run['run_id']} at {run['tracking_uri']}")
        if report is None:
            shutil.rmtree(report_dir, ignore_errors=True)
