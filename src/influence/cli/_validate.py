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
            for hint in _export_hints(folder):
                typer.echo(f"hint: {hint}", err=True)
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


def echo_dataset_error(exc: Exception, folder: Path) -> None:
    """Print a load failure of a command other than `validate` on stderr; when it is about rows of the data
    contract (not a missing folder), add how to see every problem and save the rejected rows."""
    typer.echo(f"error: {exc}", err=True)
    exports = _export_hints(folder) if folder.is_dir() else []
    for hint in exports:
        typer.echo(f"hint: {hint}", err=True)
    if getattr(exc, "report", None) is not None and not exports:
        typer.echo(
            f"hint: `influence validate {folder} --rejects rejects.csv` lists every problem and saves each "
            "rejected row with its reasons",
            err=True,
        )


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
    """Next steps for the findings a user most often misreads: a raw CRM, mail or calendar export validated
    before importing it, a misspelled column header (the contract column is reported missing or empty while a
    close spelling sits unused in the file), a whole file rejected (which makes every row of other tables
    referencing it an error too) and a table file under a name that is never read."""
    import difflib

    from influence.contract import TABLES

    exports = _export_hints(folder)
    if exports:  # header-by-header advice on an export that needs an importer would only mislead
        return exports
    frame = report.problems_frame  # type: ignore[attr-defined]
    files: dict[str, str] = report.files  # type: ignore[attr-defined]
    whole = frame[frame["row"].isna() | (frame["row"] < 0)]
    hints: list[str] = []
    headers: dict[str, list[str]] = {}
    blocking: dict[str, list[str]] = {}  # file -> why it was rejected whole
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
        referenced = any(fk.ref_table == table for t in TABLES.values() for fk in t.foreign_keys)
        if row.severity == "error" and referenced:
            blocking.setdefault(files[table], []).append(str(row.message))
    for name, why in blocking.items():
        hints.append(
            f"fix {name} first ({'; '.join(why)}): rows of other tables that reference it are rejected because of it"
        )
    return list(dict.fromkeys(hints + _misnamed_tables(folder, files)))


# File names (lower case) that mark a raw export an importer reads, not a dataset folder.
_EXPORTS: tuple[tuple[str, frozenset[str], str], ...] = (
    ("a Salesforce export", frozenset({"account.csv", "contact.csv", "opportunity.csv"}), "salesforce"),
    ("a HubSpot export", frozenset({"companies.csv", "contacts.csv"}), "hubspot"),
)
_SUFFIXES = {".mbox": "mbox", ".eml": "eml", ".ics": "ics"}


def _export_hints(folder: Path) -> list[str]:
    """How to import `folder` when it is a raw CRM, mail or calendar export rather than a dataset folder."""
    try:
        names = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    except OSError:
        return []
    hints = []
    for what, marks, command in _EXPORTS:
        if marks & names.keys():
            hints.append(
                f"{folder} looks like {what} ({', '.join(sorted(names[m].name for m in marks & names.keys()))}): "
                f"turn it into a dataset first with `influence import {command} {folder} --out DATASET`, "
                "then validate DATASET (docs/importers.md)"
            )
    kinds = sorted({_SUFFIXES[p.suffix] for p in names.values() if p.suffix in _SUFFIXES})
    for kind in kinds:
        hints.append(
            f"{folder} holds .{kind} files: import them with `influence import {kind} ... --out DATASET` "
            "(docs/importers.md)"
        )
    return hints


def _misnamed_tables(folder: Path, files: dict[str, str]) -> list[str]:
    """Files that look like a contract table but are never read: only `<table>.csv` and `<table>.parquet`, in
    lower case, are (a `signals.txt` or `People.CSV` would otherwise vanish without a word)."""
    from influence.contract import TABLES

    hints = []
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return []
    for path in entries:
        table = path.name.split(".", 1)[0].lower().replace("-", "_").replace(" ", "_")
        if table not in TABLES or path.name in files.values():
            continue
        if table in files:
            hints.append(f"{path.name} is not read: the {table} table comes from {files[table]}")
            continue
        suffix = "".join(path.suffixes).lower()
        if suffix in (".csv", ".parquet"):
            how = f"rename it to {table}{suffix}"
        elif suffix in (".xlsx", ".xls", ".ods", ".numbers"):
            how = f"export it from the spreadsheet as CSV (UTF-8) to {table}.csv"
        else:
            how = f"if it is CSV, rename it to {table}.csv; else save it as CSV (UTF-8) or Parquet"
        hints.append(f"{path.name} is not read: only {table}.csv or {table}.parquet (lower case) is; {how}")
    return hints
