"""CLI commands for the validate stage (thin: parse, call the library, print)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""

    @app.command("validate")
    def validate_command(
        folder: Path = typer.Argument(
            ..., help="Dataset folder holding <table>.csv or <table>.parquet files."
        ),
        rejects: Path | None = typer.Option(
            None,
            "--rejects",
            help="Write every rejected row to this CSV (table, file, row, reasons, record as JSON).",
        ),
        max_problems: int = typer.Option(
            50, "--max-problems", min=0, help="Print at most this many problems."
        ),
    ) -> None:
        """Check a dataset folder against the data contract; exit 1 when any row or file is in error.

        Rows are numbered from 1 after the header (a quoted newline does not shift later rows).
        """
        from influence.data import DatasetError, validate

        try:
            report = validate(folder)
        except DatasetError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

        frame = report.problems_frame
        shown = report.format_problems(max_problems)
        for line, severity in zip(shown, frame["severity"].head(max_problems), strict=True):
            typer.echo(line if severity == "error" else f"warning: {line}")
        hidden = len(frame) - len(shown)
        if hidden > 0:
            where = "all in --rejects" if rejects else "use --rejects PATH to save every rejected row"
            typer.echo(f"... and {hidden} more ({where})")

        if rejects is not None:
            rejects.parent.mkdir(parents=True, exist_ok=True)
            report.rejected.to_csv(rejects, index=False, encoding="utf-8")

        summary = report.summary()
        if len(frame):
            typer.echo("")
        typer.echo(summary.to_string(index=False))
        totals = summary[["read", "accepted", "rejected"]].sum()
        n_errors = report.n_errors
        status = "OK" if report.ok else f"{n_errors} error(s)"
        typer.echo(
            f"\n{status}: {int(totals['read'])} rows read, {int(totals['accepted'])} accepted, "
            f"{int(totals['rejected'])} rejected"
            + (f"; rejected rows written to {rejects}" if rejects is not None else "")
        )
        if not report.ok:
            raise typer.Exit(1)
