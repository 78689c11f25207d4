"""CLI commands for the serve stage (thin: parse, call the library, print).

`influence serve` runs the scoring API (engineer H2); `influence score` does batch scoring (engineer H1).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""
    _register_serve(app)
    _register_score(app)


def _register_score(app: typer.Typer) -> None:
    """`influence score` (batch scoring, engineer H1)."""

    @app.command("score")
    def score(
        folder: Path = typer.Argument(
            ..., help="Dataset folder holding <table>.csv or <table>.parquet files."
        ),
        out: Path = typer.Option(
            ...,
            "--out",
            help="Output file, one row per (deal, person); .csv (reasons joined by ' | ') or .parquet.",
        ),
        accounts: Path = typer.Option(
            None,
            "--accounts",
            help="CSV file with an account_id column: score only these accounts (unknown ids are reported).",
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
            help="Score as known at this time (ISO 8601 with Z or an offset); default: all events.",
            show_default=False,
        ),
        chunk_accounts: int = typer.Option(
            500, "--chunk-accounts", min=1, help="Accounts per chunk (bounds memory)."
        ),
        deals_out: Path = typer.Option(
            None,
            "--deals-out",
            help="Also write one row per deal with coverage gaps and next-best contacts (.csv or .parquet).",
            show_default=False,
        ),
        reasons: bool = typer.Option(True, "--reasons/--no-reasons", help="Explain every score (slower)."),
        progress: bool | None = typer.Option(
            None,
            "--progress/--no-progress",
            help="Show a progress bar on stderr (default: when stderr is a terminal, so logs stay clean).",
            show_default=False,
        ),
        workers: int = typer.Option(
            1,
            "--workers",
            min=1,
            help="Processes scoring chunks in parallel (each holds the model, the people/deals tables and one "
            "chunk); the output is the same for any value.",
        ),
        engine: str = typer.Option(
            "local",
            "--engine",
            help="local (this process) or spark (Apache Spark: pip install 'influence\\[spark]'; docs/scaling.md). "
            "Same features, model and results.",
        ),
        spark_master: str = typer.Option(
            None,
            "--spark-master",
            help="Spark master URL for --engine spark (e.g. spark://host:7077, yarn). Default: local[*].",
            show_default=False,
        ),
    ) -> None:
        """Batch-score a dataset folder: influence, DMU profile and reasons for every person of every deal.

        The people, accounts and deals tables are validated whole; the event tables are read, validated and
        scored a chunk of accounts at a time (all deals of an account together), so memory stays bounded. Any
        invalid row stops the job with its file, row and field. The output appears only when every chunk
        succeeded (written to a temporary file and renamed); a rerun after a killed job removes its leftovers.
        See docs/scoring.md.
        """
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        from influence.batch import AccountListError, score_accounts
        from influence.bundle import BundleError
        from influence.data import DatasetError

        if not folder.is_dir():
            typer.echo(f"error: {folder}: not a dataset folder", err=True)
            raise typer.Exit(1)
        if engine not in ("local", "spark"):
            typer.echo(f"error: --engine {engine!r}: use local or spark", err=True)
            raise typer.Exit(1)
        _check_outputs_or_exit({"--out": out, "--deals-out": deals_out})
        from influence.cli._report import check_as_of

        check_as_of(as_of)
        if engine == "spark":  # engineer J: influence.spark runs the same Scorer per account chunk on Spark
            _score_on_spark(folder, out, accounts, model, as_of, reasons, deals_out, spark_master)
            return
        if spark_master is not None:
            typer.echo("error: --spark-master needs --engine spark", err=True)
            raise typer.Exit(1)
        try:
            summary = score_accounts(
                folder,
                out,
                accounts=accounts,
                model=model,
                as_of=as_of,
                chunk_accounts=chunk_accounts,
                explain=reasons,
                deals_out=deals_out,
                progress=sys.stderr.isatty() if progress is None else progress,
                echo=lambda message: typer.echo(f"warning: {message}", err=True),
                workers=workers,
            )
        except (AccountListError, BundleError, DatasetError, ValueError) as exc:
            from influence.cli._validate import echo_dataset_error

            echo_dataset_error(exc, folder)
            raise typer.Exit(1) from None
        except OSError as exc:  # e.g. --out in a folder that cannot be created or written
            from influence.cli._report import output_problem

            name = Path(exc.filename) if exc.filename else None
            on_deals = deals_out is not None and name is not None and name.parent == deals_out.parent
            option, path = ("--deals-out", deals_out) if on_deals else ("--out", out)
            typer.echo(f"error: {output_problem(exc, path, option)}", err=True)
            raise typer.Exit(1) from None
        typer.echo(summary.format())
        for hint in _account_hints(folder, summary.unknown_accounts):
            typer.echo(f"hint: {hint}", err=True)


def _account_hints(folder: Path, unknown: list[str], limit: int = 10) -> list[str]:
    """'did you mean' for the first unknown account ids of the list that are one typo away from a known id."""
    if not unknown:
        return []
    import difflib

    import pandas as pd

    try:
        path = folder / "accounts.parquet"
        table = (
            pd.read_parquet(path, columns=["account_id"])
            if path.exists()
            else pd.read_csv(folder / "accounts.csv", usecols=["account_id"], dtype="string")
        )
    except (OSError, ValueError):  # a hint is never worth a crash after the job succeeded
        return []
    known = table["account_id"].dropna().astype(str).tolist()
    by_key: dict[str, list[str]] = {}
    for account in known:
        by_key.setdefault(_account_key(account), []).append(account)
    hints = []
    for account in unknown[:limit]:
        # The commonest slip is the zero padding or the case (a-00002 for A-000002): an exact match once both
        # are normalised wins; else the closest spellings, several since padded ids have many one-typo
        # neighbours.
        close = sorted(by_key.get(_account_key(account), [])) or sorted(
            difflib.get_close_matches(account, known, n=3, cutoff=0.85)
        )
        if close:
            hints.append(f"account {account!r} of the list: did you mean {' or '.join(map(repr, close))}?")
    return hints


def _account_key(account: str) -> str:
    """An account id without case, spaces or leading zeros in its numbers (for 'did you mean')."""
    import re

    return re.sub(r"\d+", lambda m: str(int(m.group())), "".join(account.split()).upper())


def _check_outputs_or_exit(outputs: dict[str, Path | None]) -> None:
    """Exit 1 before loading anything when an output cannot be written (a batch job should not fail at the
    end of the night) or two options name the same file."""
    from influence.cli._report import unwritable

    given = {option: path for option, path in outputs.items() if path is not None}
    for option, path in given.items():
        if path.suffix.lower() not in (".csv", ".parquet"):
            typer.echo(f"error: {option} {path}: use a file name ending in .csv or .parquet", err=True)
            raise typer.Exit(1)
        problem = unwritable(path)
        if problem:
            typer.echo(f"error: cannot write {option} {path}: {problem}", err=True)
            raise typer.Exit(1)
    if len(given) > 1 and len({p.resolve() for p in given.values()}) < len(given):
        typer.echo(f"error: {' and '.join(given)} name the same file; give two different files", err=True)
        raise typer.Exit(1)


def _score_on_spark(
    folder: Path,
    out: Path,
    accounts: Path | None,
    model: str | None,
    as_of: str | None,
    reasons: bool,
    deals_out: Path | None,
    master: str | None,
) -> None:
    """`influence score --engine spark` (engineer J): thin wrapper over `influence.spark.score_with_spark`."""
    from influence.batch import AccountListError
    from influence.bundle import BundleError
    from influence.data import DatasetError
    from influence.spark import SparkUnavailable, score_with_spark

    if deals_out is not None:
        typer.echo(
            "error: --deals-out is not available with --engine spark yet; use --engine local", err=True
        )
        raise typer.Exit(1)
    try:
        summary = score_with_spark(
            folder,
            out,
            model=model,
            master=master,
            accounts=accounts,
            as_of=as_of,
            explain=reasons,
            echo=lambda message: typer.echo(f"warning: {message}", err=True),
        )
    except (AccountListError, BundleError, DatasetError, SparkUnavailable, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(summary.format() + f"\nengine: spark ({master or 'local[*]'})")


def _register_serve(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
        model: str = typer.Option(
            None,
            "--model",
            help="Model bundle folder, or models:/NAME@ALIAS / models:/NAME/VERSION from the MLflow registry. "
            "Default: INFLUENCE_MODEL, else models/influence-default.",
            show_default=False,
        ),
        workers: int = typer.Option(1, min=1, help="Worker processes (each loads the model once)."),
        log_level: str = typer.Option(
            "info", help="uvicorn log level: critical, error, warning, info, debug."
        ),
        access_log: bool = typer.Option(True, help="Log one line per request."),
        data: str = typer.Option(
            None,
            "--data",
            help="Dataset folder whose deals the map pages show at /deals/DEAL_ID (docs/map.md). "
            "Default: INFLUENCE_DATA, else none (the /map page still works).",
            show_default=False,
        ),
    ) -> None:
        """Serve the scoring API (FastAPI + uvicorn); OpenAPI docs at /docs.

        The model is loaded and verified (checksums, scikit-learn version) before the server starts; a missing or corrupt model stops it with a message.

        Settings come from INFLUENCE_* environment variables: INFLUENCE_API_KEYS turns on X-API-Key auth; INFLUENCE_MAX_BODY_BYTES, INFLUENCE_MAX_PEOPLE, INFLUENCE_MAX_ROWS (docs/api.md).
        """
        # Before numpy/scikit-learn load: one OpenMP/BLAS thread per worker (small inputs get slower with more).
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        log_level = log_level.lower()
        if log_level not in _LOG_LEVELS:
            typer.echo(f"error: --log-level {log_level!r}: use one of {', '.join(_LOG_LEVELS)}", err=True)
            raise typer.Exit(1)
        from pydantic import ValidationError

        from influence.api import ApiSettings

        try:
            settings = ApiSettings(**({"model": model} if model else {}), **({"data": data} if data else {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"INFLUENCE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
            )
            typer.echo(f"error: invalid server settings: {problems}", err=True)
            raise typer.Exit(1) from None
        bundle = _load_model_or_exit(settings.model)
        example_deal = _check_data_or_exit(settings.data) if settings.data else None

        import uvicorn

        from influence.api import create_app

        log_config = _log_config(log_level)
        auth = "on (X-API-Key)" if settings.auth_enabled else "off"
        typer.echo(
            f"serving model {bundle.name}/{bundle.version} on http://{host}:{port} "
            f"(docs: /docs, auth: {auth}, workers: {workers})",
            err=True,
        )
        if example_deal is not None:
            typer.echo(
                f"deal map of a sample deal: http://{host}:{port}/deals/{example_deal}  (all deals: /deals)",
                err=True,
            )
        common: dict = {"host": host, "port": port, "log_level": log_level, "access_log": access_log}
        if workers == 1:
            uvicorn.run(create_app(settings, bundle=bundle), log_config=log_config, **common)
            return
        # Every worker process loads the very bundle verified above (an alias could move in between).
        if bundle.path is not None:
            os.environ["INFLUENCE_MODEL"] = str(bundle.path)
        if settings.data:  # worker processes read their settings from the environment
            os.environ["INFLUENCE_DATA"] = str(settings.data)
        uvicorn.run(
            "influence.api:create_app", factory=True, workers=workers, log_config=log_config, **common
        )


_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _load_model_or_exit(ref: str):  # noqa: ANN202 - the ModelBundle import is deferred on purpose
    from influence.bundle import BundleError, load_bundle

    try:
        return load_bundle(ref)
    except BundleError as exc:
        typer.echo(f"error: cannot serve: {exc}", err=True)
    except Exception as exc:  # a registry or unpickling failure: still the user's model, not our bug
        typer.echo(
            f"error: cannot serve: model {ref!r} failed to load: {type(exc).__name__}: {exc}", err=True
        )
    hint = "train one with `influence train`, or pass --model PATH / models:/NAME@ALIAS"
    typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(1)


def _check_data_or_exit(path: str) -> str | None:
    """Fail before the server starts when the --data folder does not load (the app loads it again at startup).

    Returns a deal to point the user at: the newest open one, else the newest (None when there are no deals)."""
    from influence.data import DatasetError, load

    try:
        deals = load(path).deals
    except (DatasetError, OSError) as exc:
        typer.echo(f"error: cannot serve --data {path}: {exc}", err=True)
        raise typer.Exit(1) from None
    if deals.empty:
        return None
    newest = deals.assign(_open=deals["outcome"].astype(str).eq("open")).sort_values(
        ["_open", "created_at", "deal_id"], ascending=[False, False, True]
    )
    return str(newest["deal_id"].iloc[0])


def _log_config(level: str) -> dict:
    """uvicorn's logging, plus the API's own logger (request failures with their request id)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["influence"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
