"""CLI commands for the features stage (thin: parse, call the library, print)."""

from __future__ import annotations

from pathlib import Path

import typer

_SUFFIXES = (".parquet", ".csv")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""

    @app.command("features")
    def features_command(
        folder: Path = typer.Argument(
            ..., help="Dataset folder holding <table>.csv or <table>.parquet files."
        ),
        out: Path = typer.Option(..., "--out", help="Output file; .parquet or .csv decides the format."),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help="Point in time, ISO 8601 with Z or an offset (e.g. 2024-06-30T00:00:00Z): only events strictly "
            "before it and deals created before it are used. Default: everything.",
        ),
    ) -> None:
        """Build point-in-time features, one row per (deal, buyer/partner person); see docs/features.md."""
        if out.suffix.lower() not in _SUFFIXES:
            typer.echo(f"error: --out {out}: use a file name ending in .parquet or .csv", err=True)
            raise typer.Exit(1)

        from influence.data import DatasetError, load
        from influence.features import FeatureTimings, build_features, parse_as_of

        try:
            as_of_ts = parse_as_of(as_of)
        except ValueError as exc:
            typer.echo(f"error: --as-of: {exc}", err=True)
            raise typer.Exit(1) from None
        if not folder.is_dir():
            typer.echo(f"error: {folder}: not a dataset folder", err=True)
            raise typer.Exit(1)
        try:
            dataset = load(folder)
            timings = FeatureTimings()
            frame = build_features(dataset, as_of=as_of_ts, timings=timings)
        except (DatasetError, ValueError) as exc:
            from influence.cli._validate import echo_dataset_error

            echo_dataset_error(exc, folder)
            raise typer.Exit(1) from None

        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8")
        tmp.replace(out)
        when = f" as of {as_of_ts.isoformat()}" if as_of_ts is not None else ""
        typer.echo(
            f"{len(frame)} rows x {frame.shape[1]} columns ({frame.shape[1] - 3} features) written to {out}{when} "
            f"in {timings.prepare + timings.tabular + timings.graph:.2f} s"
        )
