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
