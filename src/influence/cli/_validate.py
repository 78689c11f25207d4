"""CLI commands for the validate stage (thin: parse, call the library, print)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""
