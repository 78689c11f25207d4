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
        for hint in _hints(folder, report):
            typer.echo(f"hint: {hint}")
        if not report.ok:
            raise typer.Exit(1)


def _header(path: Path) -> list[str]:
    """The column names of a CSV or Parquet file (empty when unreadable: a hint is never worth a crash)."""
    import csv

    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        with path.open(newline="", encoding="utf-8-sig") as f:
            return next(csv.reader(f), [])
    except (OSError, ValueError, csv.Error):  # pyarrow's ArrowInvalid is a ValueError
        return []


def _hints(folder: Path, report: object) -> list[str]:
    """Next steps for the findings a user most often misreads: a misspelled column header (the contract column
    is reported missing or empty while a close spelling sits unused in the file) and a whole file rejected,
    which makes every row of other tables referencing it an error too."""
    import difflib

    from influence.contract import TABLES

    frame = report.problems_frame  # type: ignore[attr-defined]
    files: dict[str, str] = report.files  # type: ignore[attr-defined]
    whole = frame[frame["row"].isna() | (frame["row"] < 0)]
    hints: list[str] = []
    headers: dict[str, list[str]] = {}
    for row in whole.itertuples(index=False):
        table, column = str(row.table), str(row.column)
        if table not in TABLES or table not in files:
            continue
        if table not in headers:
            headers[table] = _header(folder / files[table])
        known = {c.name for c in TABLES[table].columns}
        unused = [c for c in headers[table] if c not in known]
        close = difflib.get_close_matches(column, unused, n=1, cutoff=0.6)
        if close:
            hints.append(
                f"{files[table]} has column {close[0]!r}, which is not in the data contract: "
                f"did you mean {column!r}? (rename the header; docs/data-contract.md)"
            )
        if row.severity == "error":
            hints.append(
                f"fix {files[table]} first ({row.message}): rows of other tables that reference it are "
                "rejected because of it"
            )
    return list(dict.fromkeys(hints))
