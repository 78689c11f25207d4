"""The model bundle: the fitted influence and profile pipelines plus the metadata that makes them trustworthy.

On disk a bundle is one folder, `models/<name>/<version>/`:

- `influence.joblib`: Pipeline([("select", FeatureSelector), ("model", CalibratedClassifierCV(FrozenEstimator(hgb),
  method="sigmoid" or "isotonic"))]) giving the calibrated P(key influencer);
- `profile.joblib`: Pipeline([("select", FeatureSelector), ("model", HistGradientBoostingClassifier)]) over the ten
  DMU profiles;
- `metadata.json`: name, version, creation time, library versions, feature list, profile classes, key threshold,
  held-out metrics, training-data fingerprint, sha256 of each training account and of each artifact.

`load_bundle` verifies every checksum and the scikit-learn version before unpickling anything: joblib pickles are
bound to the scikit-learn release that wrote them, and a file we cannot vouch for must never be unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from influence.contract import PROFILES

__all__ = [
    "ARTIFACT_FILES",
    "METADATA_FILE",
    "BundleError",
    "FeatureSelector",
    "ModelBundle",
    "account_hashes",
    "check_model_location",
    "fingerprint_frames",
    "load_bundle",
    "overlapping_accounts",
    "save_bundle",
    "sha256_file",
]

METADATA_FILE = "metadata.json"
ARTIFACT_FILES: dict[str, str] = {"influence": "influence.joblib", "profile": "profile.joblib"}
FORMAT_VERSION = 1
_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")


class BundleError(Exception):
    """A model bundle that cannot be found, verified or used here; the message names the file and the fix."""


class FeatureSelector(TransformerMixin, BaseEstimator):
    """Select the model's feature columns, in order, as a float64 ndarray.

    With `columns=None` every input column is used (plain scikit-learn behaviour). With a list of names a
    DataFrame may carry extra columns (ids, text) which are ignored; a missing column is an error naming it. An
    ndarray is accepted when it has exactly `len(columns)` columns, taken to be in `columns` order (the numpy fast
    path). Empty values (None, pd.NA) become NaN, which the boosted trees handle natively.
    """

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> FeatureSelector:  # noqa: N803 - scikit-learn naming
        if self.columns is None:
            validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        else:
            self._select(X)
            self.n_features_in_ = len(self.columns)
        return self

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "n_features_in_")
        if self.columns is None:
            return validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self._select(X)

    def _select(self, X: Any) -> np.ndarray:  # noqa: N803
        columns = list(self.columns or [])
        if isinstance(X, pd.DataFrame):
            missing = [c for c in columns if c not in X.columns]
            if missing:
                raise ValueError(f"feature frame lacks column(s) {missing}; build it with influence.features")
            return X.loc[:, columns].to_numpy(dtype=np.float64, na_value=np.nan)
        array = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan")
        if array.shape[1] != len(columns):
            raise ValueError(
                f"expected {len(columns)} feature columns in FEATURE order, got {array.shape[1]}"
            )
        return array

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        if self.columns is not None:
            return np.asarray(list(self.columns), dtype=object)
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def __sklearn_tags__(self):  # noqa: ANN204 - the Tags type is private to scikit-learn
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


@dataclass
class ModelBundle:
    """Both fitted pipelines and their metadata. Build with `influence.train.train`, persist with `save_bundle`."""

    name: str
    version: str
    created: str
    feature_columns: tuple[str, ...]
    profile_classes: tuple[str, ...]
    influence_pipeline: Any
    profile_pipeline: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    # -- the pipelines ---------------------------------------------------------------------------------------
    def predict_influence(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated P(key influencer) per row of a feature frame (extra columns are ignored)."""
        model = self.influence_pipeline.named_steps["model"]
        positive = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
        return self.influence_pipeline.predict_proba(frame)[:, positive]

    def predict_profile_proba(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Probability of each DMU profile, shape (n, 10), columns in `profile_classes` (= contract.PROFILES) order.

        A profile that never occurred in the training labels gets probability 0.
        """
        proba = self.profile_pipeline.predict_proba(frame)
        out = np.zeros((proba.shape[0], len(self.profile_classes)), dtype=np.float64)
        index = {c: i for i, c in enumerate(self.profile_classes)}
        for j, cls in enumerate(self.profile_hgb.classes_):
            out[:, index[str(cls)]] = proba[:, j]
        return out

    # -- the pieces, for the numpy fast path and the explanations ---------------------------------------------
    @property
    def influence_hgb(self) -> Any:
        """The fitted HistGradientBoostingClassifier behind the calibrated influence model."""
        inner = self.influence_pipeline.named_steps["model"].calibrated_classifiers_[0].estimator
        return getattr(inner, "estimator", inner)  # unwrap FrozenEstimator

    @property
    def profile_hgb(self) -> Any:
        """The fitted multiclass HistGradientBoostingClassifier of the profile model."""
        return self.profile_pipeline.named_steps["model"]

    @cached_property
    def _calibrator(self) -> tuple[str, np.ndarray, np.ndarray]:
        """("isotonic", x thresholds, y thresholds) or ("sigmoid", [a], [b]): the fitted map of the raw log-odds."""
        calibrator = self.influence_pipeline.named_steps["model"].calibrated_classifiers_[0].calibrators[0]
        if hasattr(calibrator, "X_thresholds_"):
            return (
                "isotonic",
                np.asarray(calibrator.X_thresholds_, np.float64),
                np.asarray(calibrator.y_thresholds_, np.float64),
            )
        if hasattr(calibrator, "a_") and hasattr(calibrator, "b_"):
            return "sigmoid", np.array([calibrator.a_], np.float64), np.array([calibrator.b_], np.float64)
        raise ValueError(f"unsupported influence calibrator {type(calibrator).__name__}")

    def calibrate_scores(self, raw_score: np.ndarray) -> np.ndarray:
        """The calibration map applied to the HGB's raw log-odds (`influence_hgb.decision_function(X)`): pure
        numpy. Isotonic (bundles before 2026-11-27) interpolates its thresholds; sigmoid (Platt) is
        1 / (1 + exp(a * raw + b)), as scikit-learn's `_SigmoidCalibration`."""
        kind, first, second = self._calibrator
        raw = np.asarray(raw_score, dtype=np.float64)
        if kind == "sigmoid":
            return 1.0 / (1.0 + np.exp(first[0] * raw + second[0]))
        out = np.interp(raw, first, second)
        out[(out > 1.0) & (out <= 1.0 + 1e-5)] = 1.0  # as CalibratedClassifierCV does
        return out

    def calibrate(self, raw_p: np.ndarray) -> np.ndarray:
        """Calibrated P(key) from the uncalibrated `influence_hgb.predict_proba(X)[:, 1]`: pure numpy.

        scikit-learn calibrates the log-odds (decision_function), so the probability is mapped back to log-odds
        first; equal to `predict_influence` to 1e-9 (tested). `calibrate_scores` skips that step.
        """
        p = np.asarray(raw_p, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return self.calibrate_scores(np.log(p) - np.log1p(-p))

    # -- metadata ----------------------------------------------------------------------------------------------
    @property
    def key_threshold(self) -> float:
        return float(self.metadata.get("key_threshold", 0.5))

    @property
    def training_account_hashes(self) -> frozenset[str]:
        return frozenset(self.metadata.get("training_accounts_sha256", ()))

    def describe(self) -> str:
        return f"{self.name}/{self.version}" + (f" ({self.path})" if self.path else "")


# -- hashing -----------------------------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _account_keys(accounts: pd.DataFrame) -> pd.Series:
    """One identity string per account: id, name and domain (lower case), so that two generated datasets
    that reuse ids like A-000001 for different companies do not count as the same accounts."""
    parts = [accounts["account_id"].astype("string").fillna("")]
    for column in ("name", "domain"):
        values = accounts[column] if column in accounts.columns else pd.Series("", index=accounts.index)
        parts.append(values.astype("string").fillna("").str.strip().str.lower())
    return parts[0].str.cat(parts[1:], sep="\x1f")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def account_hashes(accounts: pd.DataFrame, *, salt: str | None = None) -> list[str]:
    """Keyed hash (HMAC-SHA256 with the pseudonym salt, `influence.privacy.keyed_hash`) of each account's
    identity (id, name, domain), sorted: lets `evaluate` detect training accounts without the bundle storing
    account ids or names, and without a plain sha256 that a list of company names would reverse."""
    from influence.privacy import keyed_hash
    from influence.settings import pseudonym_salt

    key = salt or pseudonym_salt()  # resolved once: the default reads the salt file on every call
    return sorted({keyed_hash(k, key, length=64) for k in _account_keys(accounts)})


def overlapping_accounts(bundle: ModelBundle, accounts: pd.DataFrame) -> list[str]:
    """Ids of the accounts (rows of an accounts table) that the bundle was trained on.

    Bundles written before salting (no `pseudonym_salt_id`) hold plain sha256 identities and are compared so;
    a bundle trained on generated data with the public `privacy.SYNTHETIC_SALT` is checked anywhere; a bundle
    hashed with another salt cannot be checked (a warning says so and nothing is reported).
    """
    import warnings

    from influence.privacy import SYNTHETIC_SALT, keyed_hash, salt_id

    trained = bundle.training_account_hashes
    keys = _account_keys(accounts)
    saved_salt = bundle.metadata.get("pseudonym_salt_id")
    if saved_salt is None:
        hashes = [_sha(k) for k in keys]
    elif saved_salt == salt_id(SYNTHETIC_SALT):
        hashes = [keyed_hash(k, SYNTHETIC_SALT, length=64) for k in keys]
    elif saved_salt != salt_id():
        warnings.warn(
            f"{bundle.describe()} hashed its training accounts with another pseudonym salt (id {saved_salt}, "
            f"here {salt_id()}); set INFLUENCE_PSEUDONYM_SALT to the training salt to check overlap",
            UserWarning,
            stacklevel=2,
        )
        return []
    else:
        from influence.settings import pseudonym_salt

        salt = pseudonym_salt()
        hashes = [keyed_hash(k, salt, length=64) for k in keys]
    hit = np.array([h in trained for h in hashes], dtype=bool)
    return sorted(set(accounts.loc[hit, "account_id"].astype(str)))


def fingerprint_frames(frames: dict[str, pd.DataFrame]) -> str:
    """sha256 over canonical frames: columns sorted by name, rows sorted by all columns, values hashed by pandas.

    Row order and column order do not change the fingerprint; any value does.
    """
    digest = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name]
        columns = sorted(map(str, frame.columns))
        canonical = frame.loc[:, columns]
        if len(canonical):
            canonical = canonical.sort_values(columns, kind="mergesort", na_position="last").reset_index(
                drop=True
            )
        digest.update(name.encode() + b"\x00" + "\x1f".join(columns).encode() + b"\x00")
        digest.update(pd.util.hash_pandas_object(canonical, index=False).to_numpy().tobytes())
    return digest.hexdigest()


# -- save / load -------------------------------------------------------------------------------------------------
def _library_versions() -> dict[str, str]:
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def save_bundle(bundle: ModelBundle, models_root: str | Path, *, overwrite: bool = False) -> Path:
    """Write `bundle` to `models_root/<name>/<version>/` atomically and return that folder.

    Artifacts are written to a temporary sibling folder and renamed, so a crash never leaves a half bundle.
    """
    import joblib

    target = Path(models_root) / bundle.name / bundle.version
    if target.exists() and not overwrite:
        raise BundleError(f"{target} already exists; choose another --name or remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle.version}.", dir=target.parent))
    try:
        checksums: dict[str, str] = {}
        for key, filename in ARTIFACT_FILES.items():
            pipeline = bundle.influence_pipeline if key == "influence" else bundle.profile_pipeline
            joblib.dump(pipeline, staging / filename, compress=3)
            checksums[filename] = sha256_file(staging / filename)
        metadata = {
            **bundle.metadata,
            "format_version": FORMAT_VERSION,
            "name": bundle.name,
            "version": bundle.version,
            "created": bundle.created,
            **_library_versions(),
            "feature_columns": list(bundle.feature_columns),
            "profile_classes": list(bundle.profile_classes),
            "artifacts": checksums,
        }
        (staging / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2, sort_keys=False, default=str) + "\n"
        )
        # mkdtemp creates 0700; a bundle folder should get the usual permissions (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    bundle.metadata = metadata
    bundle.path = target
    return target


def _latest_version(folder: Path) -> Path:
    versions = [p for p in folder.iterdir() if p.is_dir() and (p / METADATA_FILE).exists()]
    if not versions:
        raise BundleError(f"no model bundle in {folder}: expected {folder}/<version>/{METADATA_FILE}")

    def created(p: Path) -> tuple[str, str]:
        try:
            return (str(json.loads((p / METADATA_FILE).read_text()).get("created", "")), p.name)
        except (OSError, ValueError):
            return ("", p.name)

    return max(versions, key=created)


def resolve_bundle_path(ref: str | Path) -> Path:
    """The bundle folder for `models/<name>/<version>` or `models/<name>` (its latest version)."""
    path = Path(ref)
    if (path / METADATA_FILE).is_file():
        return path
    if path.is_dir():
        return _latest_version(path)
    raise BundleError(
        f"no model bundle at {path}: expected models/<name>[/<version>] holding {METADATA_FILE}"
    )


def check_model_location(folder: Path) -> None:
    """Refuse a bundle folder outside `settings.model_roots()` (INFLUENCE_MODEL_ROOTS; default models/ and the
    MLflow store mlruns/): a bundle is a pickle, and unpickling runs code. Symlinks are resolved first."""
    from influence.settings import model_roots

    real = Path(folder).resolve()
    roots = model_roots()
    if not any(real.is_relative_to(root) for root in roots):
        raise BundleError(
            f"refusing to load model {folder}: it is outside the allowed model folders "
            f"({', '.join(map(str, roots))}); copy it into models/ or add its folder to INFLUENCE_MODEL_ROOTS "
            f"(os.pathsep-separated) if you trust it"
        )


def _check_compatible(meta: dict[str, Any], source: Path) -> None:
    import sklearn

    saved = str(meta.get("scikit_learn", ""))
    here = sklearn.__version__
    if saved.split(".")[:2] != here.split(".")[:2]:
        raise BundleError(
            f"{source} was written with scikit-learn {saved or 'unknown'} but this environment has {here}; "
            f"joblib pickles only load in the same scikit-learn major.minor. Install scikit-learn=="
            f"{'.'.join(saved.split('.')[:2])}.* or retrain with `influence train`."
        )
    if int(meta.get("format_version", 0)) != FORMAT_VERSION:
        raise BundleError(f"{source}: unsupported bundle format_version {meta.get('format_version')!r}")


def load_bundle(ref: str | Path) -> ModelBundle:
    """Load and verify a bundle.

    `ref` is `models/<name>/<version>`, `models/<name>` (latest version by creation time), or an MLflow registry
    URI `models:/NAME@ALIAS` / `models:/NAME/VERSION` (the local bundle recorded in the run, else the bundle
    artifacts downloaded from the run). Raises BundleError naming the file on a missing file, a checksum
    mismatch or an incompatible scikit-learn version.
    """
    if isinstance(ref, str) and ref.startswith("models:/"):
        return _load_from_registry(ref)
    import joblib

    folder = resolve_bundle_path(ref)
    check_model_location(folder)
    meta_path = folder / METADATA_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{meta_path} is not readable JSON: {exc}") from exc
    artifacts = meta.get("artifacts")
    if not isinstance(artifacts, dict) or set(artifacts) != set(ARTIFACT_FILES.values()):
        raise BundleError(f"{meta_path} does not list the artifacts {sorted(ARTIFACT_FILES.values())}")
    for filename, expected in artifacts.items():
        file = folder / filename
        if not file.is_file():
            raise BundleError(f"model artifact {file} is missing")
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(
                f"checksum mismatch for {file}: metadata says sha256 {expected}, file has {actual}; "
                "the file was modified or corrupted and will not be loaded"
            )
    _check_compatible(meta, meta_path)
    pipelines = {}
    for key, filename in ARTIFACT_FILES.items():
        try:
            pipelines[key] = joblib.load(folder / filename)
        except (
            Exception
        ) as exc:  # a file that passed its checksum but does not unpickle: name it, no traceback
            raise BundleError(
                f"model artifact {folder / filename} failed to load ({type(exc).__name__}: {exc}); it is corrupt "
                "or was written by other library versions: retrain with `influence train`"
            ) from exc
    influence, profile = pipelines["influence"], pipelines["profile"]
    return ModelBundle(
        name=str(meta["name"]),
        version=str(meta["version"]),
        created=str(meta["created"]),
        feature_columns=tuple(meta["feature_columns"]),
        profile_classes=tuple(meta.get("profile_classes", PROFILES)),
        influence_pipeline=influence,
        profile_pipeline=profile,
        metadata=meta,
        path=folder,
    )


def _load_from_registry(uri: str) -> ModelBundle:
    match = _REGISTRY_URI.match(uri)
    if not match:
        raise BundleError(f"{uri!r} is not a registry URI; use models:/NAME@ALIAS or models:/NAME/VERSION")
    from influence.tracking import bundle_for_model_version

    return bundle_for_model_version(match["name"], alias=match["alias"], version=match["version"])
