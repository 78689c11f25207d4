"""CLI command for the report stage: `influence report DIR --out FILE.html` (thin: parse, call, print)."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def output_problem(exc: OSError, out: Path, option: str = "--out") -> str:
    """An OSError as one line; a failure on the output's folder or its temporary file names the option."""
    name = Path(exc.filename) if exc.filename else None
    if name is not None and (name == out or name.parent == out.parent or name == out.parent):
        return f"cannot write {option} {out}: {unwritable(out) or exc.strerror or exc}"
    return f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)


def check_as_of(as_of: str | None) -> None:
    """Exit 1 on an unreadable --as-of before anything is loaded, naming the option."""
    from influence.features import parse_as_of

    try:
        parse_as_of(as_of)
    except ValueError as exc:
        typer.echo(f"error: --as-of: {exc}", err=True)
        raise typer.Exit(1) from None


def unwritable(out: Path) -> str | None:
    """Why `out` cannot be written (a folder in its path is a file, a folder is read-only, it is a folder),
    or None when it looks writable. Checked before any work so an overnight job does not fail at the end."""
    if out.is_dir():
        return f"{out} is a folder; give a file name"
    for folder in out.parents:
        if folder.exists():
            if not folder.is_dir():
                return f"{folder} is a file, not a folder"
            if not os.access(folder, os.W_OK | os.X_OK):
                return f"folder {folder} is not writable"
            return None
    return None


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""

    @app.command("report")
    def report(
        folder: Path = typer.Argument(
            ..., help="Dataset folder holding <table>.csv or <table>.parquet files."
        ),
        out: Path = typer.Option(..., "--out", help="The HTML file to write (one self-contained file)."),
        accounts: Path = typer.Option(
            None,
            "--accounts",
            help="CSV file with an account_id column: report only these accounts (ids not in the dataset are "
            "listed in the report and on stderr).",
            show_default=False,
        ),
        model: str = typer.Option(
            None,
            "--model",
            help="Model bundle folder, or models:/NAME@ALIAS / models:/NAME/VERSION. "
            "Default: models/influence-default.",
            show_default=False,
        ),
        as_of: str = typer.Option(
            None,
            "--as-of",
            help="Report as known at this time (ISO 8601 with Z or an offset); default: all events.",
            show_default=False,
        ),
    ) -> None:
        """Write one self-contained HTML report: per account, the top people, coverage gaps and next-best
        contacts, and the DMU map of every deal.

        No network request: CSS, JavaScript and data are inlined, so it can be shared and opened offline (docs/map.md).
        """
        from influence.batch import AccountListError, read_account_list
        from influence.bundle import BundleError
        from influence.data import DatasetError
        from influence.report import write_report

        if not folder.is_dir():
            typer.echo(f"error: {folder}: not a dataset folder", err=True)
            raise typer.Exit(1)
        if out.suffix.lower() not in (".html", ".htm"):
            typer.echo(f"error: --out {out}: the report is an HTML file; name it *.html", err=True)
            raise typer.Exit(1)
        check_as_of(as_of)
        try:
            wanted = read_account_list(accounts) if accounts is not None else None
            summary = write_report(folder, out, accounts=wanted, model=model, as_of=as_of)
        except (AccountListError, DatasetError, BundleError, ValueError) as exc:
            from influence.cli._validate import echo_dataset_error

            echo_dataset_error(exc, folder)
            raise typer.Exit(1) from None
        except OSError as exc:  # e.g. --out in a folder that cannot be created or written
            typer.echo(f"error: {output_problem(exc, out)}", err=True)
            raise typer.Exit(1) from None
        if summary.unknown_accounts:
            shown = ", ".join(summary.unknown_accounts[:10])
            more = (
                f" and {len(summary.unknown_accounts) - 10} more"
                if len(summary.unknown_accounts) > 10
                else ""
            )
            typer.echo(
                f"warning: {len(summary.unknown_accounts)} account id(s) of {accounts} are not in {folder}: "
                f"{shown}{more}",
                err=True,
            )
        typer.echo(
            f"wrote {summary.path} ({summary.bytes / 1024:.0f} KiB): {_n(summary.accounts, 'account')}, "
            f"{_n(summary.deals, 'deal')}, {_n(summary.people, 'person', 'people')} scored in {summary.seconds:.1f} s"
        )


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"
