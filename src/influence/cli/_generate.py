"""CLI commands for the generate stage (thin: parse, call the library, print)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""

    @app.command("generate")
    def generate_command(
        out: Path = typer.Option(..., "--out", help="Folder to write the dataset to (created if missing)."),
        accounts: int = typer.Option(200, "--accounts", min=1, help="Number of buyer accounts."),
        seed: int = typer.Option(7, "--seed", min=0, help="Random seed; the same seed gives the same data."),
        fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
        chunk_size: int = typer.Option(
            500, "--chunk-size", min=1, help="Accounts generated and written per chunk (bounds memory)."
        ),
        workers: int = typer.Option(
            1,
            "--workers",
            min=1,
            help="Processes generating chunks in parallel; the output is the same for any value.",
        ),
        overwrite: bool = typer.Option(
            False,
            "--overwrite",
            help="Replace the dataset already in --out (its table files are removed first).",
        ),
    ) -> None:
        """Generate a synthetic deal history (accounts, people, deals, meetings, e-mails, signals, labels).

        The latent truth is never written; see docs/synthetic-data.md for the story and every setting.
        """
        if fmt not in ("parquet", "csv"):
            typer.echo(f"error: --format must be parquet or csv, not {fmt!r}", err=True)
            raise typer.Exit(1)
        if out.exists() and not out.is_dir():
            typer.echo(f"error: --out {out} exists and is not a folder", err=True)
            raise typer.Exit(1)
        from influence.importers._common import ImporterError, clear_dataset_files

        # As the importers do: a folder may hold a user's real (imported) data, never replaced by accident.
        try:
            clear_dataset_files(out, overwrite)
        except ImporterError as exc:
            typer.echo(f"error: --out {exc}", err=True)
            raise typer.Exit(1) from None

        from tqdm import tqdm

        from influence.generate import write_generated

        with tqdm(total=accounts, unit="account", desc="generate", disable=None) as bar:
            try:
                counts = write_generated(
                    out,
                    accounts,
                    seed,
                    fmt=fmt,  # type: ignore[arg-type]
                    chunk_size=chunk_size,
                    progress=bar.update,
                    workers=workers,
                )
            except OSError as exc:
                typer.echo(f"error: cannot write to {out}: {exc}", err=True)
                raise typer.Exit(1) from exc
        summary = ", ".join(f"{name} {n:,}" for name, n in counts.items())
        typer.echo(f"wrote {out} ({fmt}, seed {seed}): {summary}")
