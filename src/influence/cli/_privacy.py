"""CLI commands for privacy: erase a person from a dataset folder (thin: parse, call `influence.privacy`, print)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `forget`."""

    @app.command("forget")
    def forget(
        directory: Path = typer.Argument(
            ..., help="Dataset folder to erase the person from (rewritten in place)."
        ),
        email: str = typer.Option(..., "--email", help="E-mail address of the person to forget (any case)."),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Report what would be removed; change nothing."
        ),
        report_json: Path | None = typer.Option(
            None,
            "--report",
            help="Also write the erasure report as JSON to this file (keep it as the record).",
        ),
    ) -> None:
        """Erase a person (by e-mail) and every row about them from a dataset folder, and report what was removed.

        Removed: the person, their meeting invitations, the messages they sent (and those messages' recipients),
        their recipient rows, signals and labels; references others keep (meeting organiser, replies to their
        messages) are cleared. The folder is validated before and after. Exit 1 when nobody has that address.
        Derived files (features, scores, trained models) are not touched: see docs/privacy.md.
        """
        from influence.data import DatasetError
        from influence.privacy import PersonNotFound, forget_in_folder

        if not directory.is_dir():
            typer.echo(f"error: {directory} is not a dataset folder", err=True)
            raise typer.Exit(1)
        try:
            report = forget_in_folder(directory, email, dry_run=dry_run)
        except (PersonNotFound, ValueError) as exc:
            if isinstance(exc, DatasetError):
                typer.echo(f"error: {directory} does not validate; fix it before erasing:\n{exc}", err=True)
            else:
                message = exc.args[0] if isinstance(exc, PersonNotFound) else str(exc)
                typer.echo(f"error: {message} ({directory}); nothing was changed", err=True)
            raise typer.Exit(1) from None
        lines = report.lines()
        if dry_run:  # the report speaks of what was done; a dry run did none of it
            lines = [_conditional(line) for line in lines]
            lines[0] = "DRY RUN, nothing written: " + lines[0]
        for line in lines:
            typer.echo(line)
        if report_json is not None:
            report_json.parent.mkdir(parents=True, exist_ok=True)
            report_json.write_text(json.dumps({**report.to_dict(), "dry_run": dry_run}, indent=2) + "\n")


def _conditional(line: str) -> str:
    """A line of the erasure report in the conditional: "forgot X" -> "would forget X", "removed 3 row(s)" ->
    "would remove 3 row(s)", "cleared" -> "would clear"."""
    import re

    line = re.sub(r"^forgot ", "would forget ", line)
    line = re.sub(r": removed (\d+)", r": would remove \1", line)
    line = re.sub(r": cleared (\d+)", r": would clear \1", line)
    return re.sub(r"^(  total: \d+ row\(s\)) removed$", r"\1 would be removed", line)
