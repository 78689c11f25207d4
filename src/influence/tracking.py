"""MLflow tracking of every `train` and `evaluate` run, and the registry look-up behind `models:/` URIs.

The tracking URI is `settings.mlflow_tracking_uri()` (an embedded SQLite store under the project's `mlruns/`,
gitignored) unless MLFLOW_TRACKING_URI is set. It is set inside these functions, never at import time. Tracking
is best effort: when the store is unreachable the local bundle is still written and the caller gets a warning.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from influence.settings import mlflow_tracking_uri, project_root

__all__ = [
    "EXPERIMENT",
    "REGISTERED_MODEL",
    "TrackingWarning",
    "bundle_for_model_version",
    "configure",
    "log_evaluation_run",
    "log_training_run",
]

EXPERIMENT = "influence"
REGISTERED_MODEL = "influence"
CHAMPION_ALIAS = "champion"
BUNDLE_PATH_TAG = "influence.bundle_path"


class TrackingWarning(UserWarning):
    """MLflow could not record a run; the local results are unaffected."""


def configure() -> str:
    """Point MLflow at the project's tracking store and make sure the `influence` experiment exists.

    With the default SQLite store the experiment's artifacts live beside the database (`mlruns/artifacts`),
    not in whatever directory the user runs the command from.
    """
    import mlflow

    uri = mlflow_tracking_uri()
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith(("http://", "https://")):
        _probe_tracking_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return uri


def _probe_tracking_server(uri: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, not minutes, when the tracking server is down.

    MLflow's defaults (7 retries with exponential backoff, 120 s timeout) make an unreachable server cost about
    4 minutes per run (measured); training is done by then and only needs to warn. Explicit MLFLOW_HTTP_REQUEST_*
    settings win over the shorter defaults set here.
    """
    import os
    import socket
    from urllib.parse import urlsplit

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConnectionError(f"MLflow tracking server {uri} is unreachable: {exc}") from exc


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


def _numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    flat: dict[str, Any] = {}
    _flatten("", metrics, flat)
    return {
        k.replace("@", "_at_"): float(v)
        for k, v in flat.items()
        if isinstance(v, int | float | np.floating | np.integer)
        and not isinstance(v, bool)
        and np.isfinite(v)
    }


def _trusted_types(pipeline: Any) -> list[str]:
    """Types skops would refuse in our own pipeline (HGB tree predictors, our FeatureSelector, ...)."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)))


def _log_sklearn_model(bundle: Any, example: pd.DataFrame) -> Any:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    features = example.loc[:, list(bundle.feature_columns)].astype("float64").head(5)
    signature = infer_signature(features, bundle.influence_pipeline.predict_proba(features))
    requirements = [
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"mlflow=={mlflow.__version__}",
        "influence",
    ]
    return mlflow.sklearn.log_model(
        bundle.influence_pipeline,
        name="influence-model",
        signature=signature,
        input_example=features,
        pyfunc_predict_fn="predict_proba",
        registered_model_name=REGISTERED_MODEL,
        pip_requirements=requirements,
        skops_trusted_types=_trusted_types(bundle.influence_pipeline),
    )


def log_training_run(
    bundle: Any,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    plots: Mapping[str, Path] | None = None,
    example: pd.DataFrame | None = None,
    promote: bool = False,
) -> dict[str, Any] | None:
    """Log one training run (params, metrics, plots, feature list, fingerprint, bundle files, MLflow model).

    The influence pipeline is logged as an MLflow scikit-learn model (predict_proba, with signature and input
    example) and registered as `influence`; `promote` points the `champion` alias at the new version. Returns
    {"run_id", "model_version", "tracking_uri"} or None (with a TrackingWarning) when MLflow is unreachable.
    """
    try:
        import mlflow

        uri = configure()
        flat_params: dict[str, Any] = {}
        _flatten("", params, flat_params)
        with mlflow.start_run(run_name=f"train {bundle.name}/{bundle.version}") as run:
            mlflow.log_params({k: str(v)[:500] for k, v in flat_params.items()})
            mlflow.log_metrics(_numeric_metrics(metrics))
            mlflow.set_tags(
                {
                    "influence.stage": "train",
                    "influence.bundle_name": bundle.name,
                    "influence.bundle_version": bundle.version,
                    BUNDLE_PATH_TAG: str(Path(bundle.path).resolve()) if bundle.path else "",
                    "influence.data_fingerprint": bundle.metadata.get("training_data_fingerprint", ""),
                }
            )
            mlflow.log_dict({"feature_columns": list(bundle.feature_columns)}, "feature_columns.json")
            mlflow.log_dict(json.loads(json.dumps(dict(metrics), default=str)), "metrics.json")
            for path in (plots or {}).values():
                mlflow.log_artifact(str(path), "plots")
            if bundle.path:
                mlflow.log_artifacts(str(bundle.path), "bundle")
            model_version = None
            if example is not None:
                info = _log_sklearn_model(bundle, example)
                model_version = getattr(info, "registered_model_version", None)
            if promote and model_version is not None:
                mlflow.MlflowClient().set_registered_model_alias(
                    REGISTERED_MODEL, CHAMPION_ALIAS, str(model_version)
                )
            return {"run_id": run.info.run_id, "model_version": model_version, "tracking_uri": uri}
    except Exception as exc:  # tracking is best effort; the bundle on disk is what matters
        warnings.warn(
            f"MLflow tracking failed ({type(exc).__name__}: {exc}); the local bundle is unaffected",
            TrackingWarning,
            stacklevel=2,
        )
        return None


def log_evaluation_run(
    bundle: Any,
    *,
    metrics: Mapping[str, Any],
    data_fingerprint: str,
    data_path: str | None = None,
    plots: Mapping[str, Path] | None = None,
) -> dict[str, Any] | None:
    """Log one evaluation run (metrics, plots, evaluated-data fingerprint, model reference)."""
    try:
        import mlflow

        uri = configure()
        with mlflow.start_run(run_name=f"evaluate {bundle.name}/{bundle.version}") as run:
            mlflow.log_params(
                {
                    "model": f"{bundle.name}/{bundle.version}",
                    "model_path": str(bundle.path or ""),
                    "data_path": str(data_path or ""),
                    "data_fingerprint": data_fingerprint,
                }
            )
            mlflow.log_metrics(_numeric_metrics(metrics))
            mlflow.set_tags({"influence.stage": "evaluate", "influence.bundle_version": bundle.version})
            mlflow.log_dict(json.loads(json.dumps(dict(metrics), default=str)), "metrics.json")
            for path in (plots or {}).values():
                mlflow.log_artifact(str(path), "plots")
            return {"run_id": run.info.run_id, "tracking_uri": uri}
    except Exception as exc:
        warnings.warn(
            f"MLflow tracking failed ({type(exc).__name__}: {exc}); results are unaffected",
            TrackingWarning,
            stacklevel=2,
        )
        return None


def bundle_for_model_version(name: str, *, alias: str | None = None, version: str | None = None) -> Any:
    """Resolve a registered model version to its bundle: the local folder recorded in the run when it still
    verifies, else the bundle files logged with the run (downloaded to a temporary folder)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from influence.bundle import BundleError, load_bundle

    configure()
    client = mlflow.MlflowClient()
    try:
        mv = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(name, str(version))
        )
    except MlflowException as exc:
        ref = f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"
        raise BundleError(
            f"{ref} is not in the registry at {mlflow.get_tracking_uri()}: {exc.message}"
        ) from exc
    run = client.get_run(mv.run_id)
    local = run.data.tags.get(BUNDLE_PATH_TAG)
    if local and Path(local).is_dir():
        try:
            return load_bundle(local)
        except BundleError as exc:
            warnings.warn(
                f"local bundle {local} failed verification ({exc}); using the run's copy",
                TrackingWarning,
                stacklevel=2,
            )
    # Under mlruns/ (an allowed model root, settings.model_roots()), never a world-shared temp folder.
    downloads = project_root() / "mlruns" / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="influence-bundle-", dir=downloads))
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=mv.run_id, artifact_path="bundle", dst_path=str(target)
    )
    return load_bundle(downloaded)


def default_artifacts_dir() -> Path:
    """Where the embedded store keeps run artifacts (for docs and the UI command)."""
    return project_root() / "mlruns" / "artifacts"
