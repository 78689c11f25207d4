"""The `influence` command line: one thin command per stage.

Each sub-module registers its commands on the shared Typer app and imports its heavy dependencies inside the
command functions, so `influence --help` stays fast and nothing happens at import time.
"""

from __future__ import annotations

import typer

from influence import __version__

app = typer.Typer(
    name="influence",
    help="Who really decides a B2B deal: hidden influence and DMU profiles from deal-history metadata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"influence {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Who really decides a B2B deal."""


from influence.cli import (  # noqa: E402
    _dmu,
    _evalreal,
    _features,
    _generate,
    _import,
    _model,
    _privacy,
    _report,
    _serve,
    _validate,
)

for _stage in (_generate, _validate, _import, _features, _model, _serve, _dmu, _privacy, _report, _evalreal):
    _stage.register(app)


def main() -> None:
    app()
