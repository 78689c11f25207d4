"""Paths and defaults in one place. Nothing here touches the disk at import time."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The repository root when running from a checkout, else the current directory.

    INFLUENCE_HOME overrides it, so an installed package can be pointed at a project folder.
    """
    env = os.environ.get("INFLUENCE_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "src" / "influence").is_dir():
            return parent
    return Path.cwd()


def sample_data_dir() -> Path:
    return project_root() / "data" / "sample"


def sample_accounts_list() -> Path:
    return project_root() / "data" / "sample-accounts.csv"


def models_dir() -> Path:
    return project_root() / "models"


def reports_dir() -> Path:
    return project_root() / "reports"


def default_model_path() -> Path:
    """The shipped default model, `models/influence-default` (`load_bundle` picks its latest version)."""
    return models_dir() / "influence-default"


def mlflow_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else an embedded SQLite store anchored in the project folder.

    MLflow would otherwise create `mlflow.db` in whatever directory the user happens to be in.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{project_root() / 'mlruns' / 'mlflow.db'}"


def shared_enron_dir() -> Path:
    """Where the read-only Enron development set lives, beside the repository (never inside it)."""
    env = os.environ.get("INFLUENCE_ENRON_DIR")
    if env:
        return Path(env)
    return project_root().parent / "shared" / "data" / "enron-dev"


def model_roots() -> list[Path]:
    """Folders model bundles may be loaded from: INFLUENCE_MODEL_ROOTS (os.pathsep-separated), else the project's
    `models/` and its MLflow store `mlruns/` (where registry downloads land).

    A bundle is a pickle, and unpickling runs code: only files from places the operator chose are ever opened.
    """
    env = os.environ.get("INFLUENCE_MODEL_ROOTS")
    if env:
        return [Path(p).expanduser().resolve() for p in env.split(os.pathsep) if p.strip()]
    return [models_dir().resolve(), (project_root() / "mlruns").resolve()]


def pseudonym_salt() -> str:
    """The secret salt of pseudonymised identifiers: INFLUENCE_PSEUDONYM_SALT, else a random per-project salt
    kept in `mlruns/pseudonym-salt` (gitignored; created with mode 0600 on first use, never at import time).

    Set the variable (from a secret store) wherever hashes must match across machines.
    """
    env = os.environ.get("INFLUENCE_PSEUDONYM_SALT")
    if env:
        return env
    import secrets

    file = project_root() / "mlruns" / "pseudonym-salt"
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".pseudonym-salt.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, file)  # atomic and fails if another process won the race: then theirs is used
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    salt = file.read_text(encoding="utf-8").strip()
    if not salt:
        raise RuntimeError(f"{file} is empty; delete it or set INFLUENCE_PSEUDONYM_SALT")
    return salt
