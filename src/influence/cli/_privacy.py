"""CLI commands for privacy: erase a person from a dataset folder."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `forget`."""

    @app.command("forget")
    def forget(
        directory: Path = typer.Argument(..., help="Dataset folder to erase the person from (rewritten in place)."),
        email: str = typer.Option(..., "--email", help="E-mail address of the person to forget."),
    ) -> None:
        """Erase a person (by e-mail) and every row about them from a dataset folder, and report what was removed."""
        from influence.data import DatasetError
        from influence.privacy import PersonNotFound, forget_in_folder

        if not directory.is_dir():
            typer.echo(f"error: {directory} is not a dataset folder", err=True)
            raise typer.Exit(1)
        try:
            report = forget_in_folder(directory, email)
        except PersonNotFound as exc:
            typer.echo(f"error: {exc} ({directory})", err=True)
            raise typer.Exit(1) from exc
        except DatasetError as exc:
            typer.echo(f"error: {directory} does not validate; fix it before erasing:\n{exc}", err=True)
            raise typer.Exit(1) from exc
        for line in report.lines():
            typer.echo(line)
