"""CLI command for the real-data check: `influence eval-real` (thin: parse, call `influence.eval_real`, print)."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""

    @app.command("eval-real")
    def eval_real_command(
        enron_dir: Path = typer.Option(
            None,
            "--enron-dir",
            help="Folder with perry_wolfe.mbox and perry_wolfe_people.csv. Default: INFLUENCE_ENRON_DIR, else "
            "../shared/data/enron-dev beside the project (skipped with exit 0 when absent).",
            show_default=False,
        ),
        model: str = typer.Option(
            None,
            "--model",
            help="Model bundle folder, or models:/NAME@ALIAS. Default: the shipped models/influence-default.",
            show_default=False,
        ),
        json_out: Path = typer.Option(
            None,
            "--json",
            help="Also write the report (aggregate figures only, nothing per person) as JSON to this file.",
            show_default=False,
        ),
        work_dir: Path = typer.Option(
            None,
            "--work-dir",
            help="Keep the imported dataset and the scores here (default: a temporary folder, removed). "
            "Use a gitignored place such as data/interim/enron: never commit them.",
            show_default=False,
        ),
    ) -> None:
        """Score real Enron e-mail metadata with zero labels and print the Senior-vs-Junior ROC-AUC of the model
        beside simple baselines (distinct senders, messages received, PageRank, network prior, title seniority).

        Imports the mbox with the product's importer (--account-domain enron.com --deal-by account), scores it
        with the batch-scoring path of `influence score`, joins the people file by e-mail. See
        docs/benchmarks.md, "Real-data check (Enron)".
        """
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        from influence.bundle import BundleError
        from influence.data import DatasetError
        from influence.eval_real import (
            EvalRealError,
            find_enron_files,
            format_report,
            run_eval_real,
            write_json,
        )
        from influence.importers import ImporterError
        from influence.settings import shared_enron_dir

        folder = enron_dir if enron_dir is not None else shared_enron_dir()
        missing = find_enron_files(folder)
        if isinstance(missing, str):
            if enron_dir is not None:  # the user named a folder: a typo must not pass as a skip
                typer.echo(f"error: --enron-dir: {missing}", err=True)
                raise typer.Exit(1)
            typer.echo(
                f"skipped: Enron development set: {missing} (set INFLUENCE_ENRON_DIR or pass --enron-dir)"
            )
            raise typer.Exit(0)
        try:
            report = run_eval_real(
                folder, model=model, work_dir=work_dir, say=lambda m: typer.echo(m, err=True)
            )
        except (EvalRealError, BundleError, DatasetError, ImporterError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(format_report(report))
        if json_out is not None:
            typer.echo(f"written to {write_json(report, json_out)}")
