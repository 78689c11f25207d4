"""CLI commands for the import stage (thin: parse, call the library, print).

`influence import mbox|eml|ics|salesforce|hubspot ...`: each prints the import summary (read, imported, rejected,
rejects by reason) and, with `--rejects PATH`, writes every reject to a CSV (file, record, field, reason).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from influence.importers import ImportReport

import_app = typer.Typer(
    name="import",
    help="Import real-world exports (mail, calendar, Salesforce, HubSpot) into a dataset folder.",
    no_args_is_help=True,
)

_OUT = typer.Option(..., "--out", help="Dataset folder to write.")
_REJECTS = typer.Option(
    None, "--rejects", help="Write every rejected record to this CSV (file, record, field, reason)."
)
_FORMAT = typer.Option("parquet", "--format", help="Table file format: parquet or csv.")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace the tables of a dataset already in --out.")
_ACCOUNT = typer.Option(
    [], "--account-domain", help="Domain of a buying account (repeatable); each becomes one account."
)
_SELLER = typer.Option(
    [], "--seller-domain", help="Your own company's domain (repeatable): people there are sellers."
)
_PROGRESS = typer.Option(
    None, "--progress/--no-progress", help="Show a progress bar (default: when on a terminal)."
)


class _OutState:
    """What --out held before an import, so that an import of nothing can leave it as it was."""

    def __init__(self, out: Path) -> None:
        from influence.importers._common import existing_table_files

        self.out = out
        self.existed = out.exists()
        self.had_dataset = bool(existing_table_files(out)) if out.is_dir() else False


def _finish(report: ImportReport, rejects: Path | None, before: _OutState) -> None:
    for line in report.summary_lines():
        typer.echo(line)
    if rejects is not None:
        path = report.write_rejects(rejects)
        typer.echo(f"  rejects written to {path} ({report.rejected} rows)")
    if report.imported == 0:
        _nothing_imported(report, before)


def _nothing_imported(report: ImportReport, before: _OutState) -> None:
    """Exit 1 when no record was imported: an empty dataset is never what was meant (wrong file, wrong export,
    every record rejected). Tables this import created are removed, so the fixed input can be imported again
    without --overwrite; a dataset that was there before is left as the importer wrote it."""
    from influence.importers._common import existing_table_files

    out = before.out
    if not before.had_dataset and out.is_dir():
        for path in existing_table_files(out):
            path.unlink()
        if not before.existed and not any(out.iterdir()):
            out.rmdir()
    why = (
        "the input holds no record"
        if report.records_read == 0
        else f"all {report.rejected} record(s) were rejected (reasons above"
        + (")" if report.rejected <= 10 else "; every one with --rejects PATH)")
    )
    if not before.had_dataset:
        kept = f"the empty tables were not kept in {out}"
    elif report.source == "ics":  # ics merges: the dataset already there is written back as it was
        kept = f"the dataset in {out} is unchanged"
    else:  # only reachable with --overwrite, which removed the old tables first
        kept = f"--overwrite replaced the dataset in {out} by an empty one"
    _fail(ValueError(f"nothing imported from the {report.source} input: {why}; {kept}"))


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


def _check_format(fmt: str) -> str:
    if fmt not in ("parquet", "csv"):
        _fail(ValueError(f"--format must be parquet or csv, not {fmt!r}"))
    return fmt


def _check_found(paths: list[Path], suffix: str) -> None:
    """Exit 1 when the given folders hold no file ending in `suffix`: an empty dataset is never what was meant.

    Missing paths and plain files are left to the importer, which names them in its own error."""
    folders = [p for p in paths if p.is_dir()]
    if len(folders) != len(paths):
        return
    found = [x for p in folders for x in p.rglob("*") if x.is_file()]
    if not any(x.suffix.lower() == suffix for x in found):
        where = ", ".join(str(p) for p in folders)
        others = sorted(
            {x.suffix.lower() for x in found if x.suffix.lower() in _OTHER_FORMATS.get(suffix, {})}
        )
        advice = "".join(f"; {_OTHER_FORMATS[suffix][s]}" for s in others)
        _fail(
            ValueError(
                f"{where}: no {suffix} file found (folders are searched recursively){advice}; nothing imported"
            )
        )


# Files users often have instead of the ones an importer reads, with what to do about them.
_OTHER_FORMATS: dict[str, dict[str, str]] = {
    ".eml": {
        ".msg": ".msg files are Outlook's own format: save the messages as .eml (or export an mbox) first",
        ".mbox": "for .mbox files use `influence import mbox`",
    },
    ".ics": {".vcs": ".vcs (vCalendar 1.0) files are not read: export the calendar as .ics (iCalendar)"},
}


_DEAL_BY = typer.Option("thread", "--deal-by", help="One deal per: thread, account, or header:NAME.")
_THREAD_WINDOW = typer.Option(
    14.0,
    "--thread-window-days",
    help="Subject fallback: a reply joins a same-subject message this recent.",
)


def _import_mail(
    importer_name: str, paths: list[Path], out: Path, rejects: Path | None, **options: Any
) -> None:
    """The shared body of `import mbox` and `import eml`: same options, a different reader."""
    import influence.importers as importers

    progress = options.pop("progress")
    before = _OutState(out)
    try:
        report = getattr(importers, importer_name)(
            paths,
            out,
            fmt=_check_format(options.pop("fmt")),
            progress=sys.stderr.isatty() if progress is None else progress,
            **options,
        )
    except importers.ImporterError as exc:
        _fail(exc)
    _finish(report, rejects, before)


@import_app.command("mbox")
def mbox_command(
    paths: list[Path] = typer.Argument(..., help="One or more mbox files."),
    out: Path = _OUT,
    account_domain: list[str] = _ACCOUNT,
    seller_domain: list[str] = _SELLER,
    deal_by: str = _DEAL_BY,
    thread_window_days: float = _THREAD_WINDOW,
    fmt: str = _FORMAT,
    overwrite: bool = _OVERWRITE,
    rejects: Path | None = _REJECTS,
    progress: bool | None = _PROGRESS,
) -> None:
    """Import mbox files: e-mail headers only (never bodies) -> accounts, people, deals, emails, recipients."""
    _import_mail(
        "import_mbox",
        paths,
        out,
        rejects,
        account_domains=account_domain,
        seller_domains=seller_domain,
        deal_by=deal_by,
        thread_window_days=thread_window_days,
        fmt=fmt,
        overwrite=overwrite,
        progress=progress,
    )


@import_app.command("eml")
def eml_command(
    paths: list[Path] = typer.Argument(..., help=".eml files or folders (searched recursively for *.eml)."),
    out: Path = _OUT,
    account_domain: list[str] = _ACCOUNT,
    seller_domain: list[str] = _SELLER,
    deal_by: str = _DEAL_BY,
    thread_window_days: float = _THREAD_WINDOW,
    fmt: str = _FORMAT,
    overwrite: bool = _OVERWRITE,
    rejects: Path | None = _REJECTS,
    progress: bool | None = _PROGRESS,
) -> None:
    """Import .eml files: e-mail headers only (never bodies); same options as `import mbox`."""
    _check_found(paths, ".eml")
    _import_mail(
        "import_eml",
        paths,
        out,
        rejects,
        account_domains=account_domain,
        seller_domains=seller_domain,
        deal_by=deal_by,
        thread_window_days=thread_window_days,
        fmt=fmt,
        overwrite=overwrite,
        progress=progress,
    )


@import_app.command("ics")
def ics_command(
    paths: list[Path] = typer.Argument(..., help=".ics files or folders (searched recursively for *.ics)."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to merge into (created when empty)."),
    window_start: str | None = typer.Option(
        None, "--window-start", help="Expand recurring events from this date (default: the earliest event)."
    ),
    window_end: str | None = typer.Option(
        None, "--window-end", help="Expand recurring events up to this date (default: 90 days from now)."
    ),
    deal_by: str = typer.Option(
        "account",
        "--deal-by",
        help="account (the account's deal alive then, else a new one) or property:NAME.",
    ),
    account_domain: list[str] = _ACCOUNT,
    seller_domain: list[str] = _SELLER,
    default_tz: str = typer.Option("UTC", "--default-tz", help="IANA zone for floating (zone-less) times."),
    fmt: str | None = typer.Option(
        None, "--format", help="parquet or csv (default: the dataset's, else parquet)."
    ),
    rejects: Path | None = _REJECTS,
) -> None:
    """Import calendar events (.ics) as meetings and attendees, merged into a dataset folder."""
    from influence.importers import ImporterError, import_ics

    _check_found(paths, ".ics")
    before = _OutState(out)
    try:
        report = import_ics(
            paths,
            out,
            window_start=window_start,
            window_end=window_end,
            deal_by=deal_by,
            account_domains=account_domain,
            seller_domains=seller_domain,
            default_tz=default_tz,
            fmt=_check_format(fmt) if fmt else None,  # type: ignore[arg-type]
        )
    except ImporterError as exc:
        _fail(exc)
    _finish(report, rejects, before)


@import_app.command("salesforce")
def salesforce_command(
    folder: Path = typer.Argument(..., help="Folder with Account.csv, Contact.csv, Opportunity.csv, ..."),
    out: Path = _OUT,
    role_map: Path | None = typer.Option(
        None, "--role-map", help="TOML/JSON file mapping contact roles to profiles (extends the default map)."
    ),
    fmt: str = _FORMAT,
    overwrite: bool = _OVERWRITE,
    rejects: Path | None = _REJECTS,
) -> None:
    """Import a Salesforce CSV export: accounts, contacts, opportunities, roles, events, e-mail metadata.

    API field names; users become sellers, contact roles become labels; e-mail bodies are never read
    (docs/importers.md)."""
    from influence.importers import ImporterError, import_salesforce

    before = _OutState(out)
    try:
        report = import_salesforce(
            folder, out, role_map=role_map, fmt=_check_format(fmt), overwrite=overwrite
        )  # type: ignore[arg-type]
    except ImporterError as exc:
        _fail(exc)
    _finish(report, rejects, before)


@import_app.command("hubspot")
def hubspot_command(
    folder: Path = typer.Argument(
        ..., help="Folder with companies.csv, contacts.csv, deals.csv and associations."
    ),
    out: Path = _OUT,
    fmt: str = _FORMAT,
    overwrite: bool = _OVERWRITE,
    rejects: Path | None = _REJECTS,
) -> None:
    """Import a HubSpot CSV export: companies, contacts (buying roles -> labels), deals and associations."""
    from influence.importers import ImporterError, import_hubspot

    before = _OutState(out)
    try:
        report = import_hubspot(folder, out, fmt=_check_format(fmt), overwrite=overwrite)  # type: ignore[arg-type]
    except ImporterError as exc:
        _fail(exc)
    _finish(report, rejects, before)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""
    app.add_typer(import_app, name="import")
