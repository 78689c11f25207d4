"""Training of the influence and DMU-profile models on labelled deal history.

Training set: the features of every labelled (deal, person) of a closed deal, joined with its label. A person is
a key influencer when the label's influence >= `labels.key_threshold` (model.toml, default 0.5). Labels with an
empty influence are left out of the influence model, labels with an empty profile out of the profile model; both
are counted in `TrainResult.counts`.

Every split is grouped by account, so no account is ever on two sides: the accounts are shuffled once (seeded)
and cut into test (held out, metrics only), validation (early stopping), calibration (sigmoid or isotonic map of
P(key)) and fit. The shipped bundle is the model fitted on the non-test accounts; its reported metrics are those of the
held-out test accounts, so the numbers describe exactly the model that ships.
"""

from __future__ import annotations

import copy
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from influence.bundle import FeatureSelector, ModelBundle, account_hashes, fingerprint_frames
from influence.contract import PROFILES
from influence.privacy import SYNTHETIC_SALT, salt_id

__all__ = [
    "SPLITS",
    "TrainResult",
    "assign_account_splits",
    "default_config",
    "load_config",
    "train",
    "train_frame",
]

SPLITS: tuple[str, ...] = ("fit", "validation", "calibration", "test")


def default_config() -> dict[str, Any]:
    """The shipped hyperparameters (`influence/config/model.toml`)."""
    text = resources.files("influence").joinpath("config/model.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}" if where else key
        if key not in out:
            raise ValueError(f"unknown configuration key {path!r}; known: {sorted(base)}")
        if isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"configuration key {path!r} must be a table")
            out[key] = _merge(out[key], value, path)
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Shipped config, overridden key by key by the TOML file at `path` (an unknown key is an error)."""
    config = default_config()
    if path is None:
        return config
    file = Path(path)
    try:
        override = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{file}: cannot read configuration: {exc}") from exc
    try:
        return _merge(config, override)
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from exc


def assign_account_splits(
    account_ids: pd.Series | np.ndarray, split_config: dict[str, Any], seed: int
) -> pd.Series:
    """Map each distinct account id to one of SPLITS (seeded shuffle of the sorted ids).

    `test_fraction` of all accounts is held out; `validation_fraction` and `calibration_fraction` are fractions of
    the remaining accounts. Every split gets at least one account when there are at least four.
    """
    accounts = np.array(sorted(pd.unique(np.asarray(account_ids, dtype=object)).tolist()), dtype=object)
    n = len(accounts)
    if n < 4:
        raise ValueError(f"training needs labelled deals of at least 4 accounts (one per split), got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * float(split_config["test_fraction"])))
    rest = n - n_test
    n_val = max(1, round(rest * float(split_config["validation_fraction"])))
    n_cal = max(1, round(rest * float(split_config["calibration_fraction"])))
    if rest - n_val - n_cal < 1:
        raise ValueError(f"{n} accounts are too few for the configured split fractions")
    labels = np.empty(n, dtype=object)
    labels[order[:n_test]] = "test"
    labels[order[n_test : n_test + n_val]] = "validation"
    labels[order[n_test + n_val : n_test + n_val + n_cal]] = "calibration"
    labels[order[n_test + n_val + n_cal :]] = "fit"
    return pd.Series(labels, index=pd.Index(accounts, name="account_id"), name="split")


@dataclass
class TrainResult:
    """The fitted bundle (not yet saved), its held-out evaluation, and bookkeeping of what was used."""

    bundle: ModelBundle
    evaluation: Any  # influence.evaluate.EvaluationResult on the test accounts
    splits: pd.Series  # account_id -> split
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    example: pd.DataFrame | None = None  # a few feature rows: MLflow signature and input example


def _hgb(section: dict[str, Any], seed: int, **extra: Any) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=float(section["learning_rate"]),
        max_iter=int(section["max_iter"]),
        max_leaf_nodes=int(section["max_leaf_nodes"]),
        min_samples_leaf=int(section["min_samples_leaf"]),
        l2_regularization=float(section["l2_regularization"]),
        max_bins=int(section["max_bins"]),
        max_features=float(section.get("max_features", 1.0)),
        early_stopping=True,
        n_iter_no_change=int(section["n_iter_no_change"]),
        random_state=seed,
        **extra,
    )


def _check_two_classes(y: np.ndarray, split: str) -> None:
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"the {split} accounts have only one kind of influence label (all key or all non-key); "
            "more labelled accounts are needed"
        )


def fit_influence(
    frame: pd.DataFrame, split: pd.Series, columns: list[str], config: dict[str, Any], seed: int
) -> Any:
    """Monotone HGB on the fit accounts (early stopping on validation), calibrated on the calibration accounts
    (config `influence.calibration`: "sigmoid", the default, or "isotonic")."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import Pipeline

    from influence.features import MONOTONE_INCREASING

    section = config["influence"]
    method = str(section.get("calibration", "sigmoid"))
    if method not in ("sigmoid", "isotonic"):
        raise ValueError(f"config influence.calibration: {method!r} is not one of 'sigmoid', 'isotonic'")
    threshold = float(config["labels"]["key_threshold"])
    selector = FeatureSelector(columns).fit(frame)
    monotone = set(MONOTONE_INCREASING) if section.get("monotonic", True) else set()
    constraints = [1 if c in monotone else 0 for c in columns]
    parts = {}
    for name in ("fit", "validation", "calibration"):
        rows = frame[split.to_numpy() == name]
        y = (rows["influence"].to_numpy(dtype=np.float64) >= threshold).astype(int)
        _check_two_classes(y, name)
        parts[name] = (selector.transform(rows), y)
    hgb = _hgb(section, seed, monotonic_cst=constraints)
    hgb.fit(parts["fit"][0], parts["fit"][1], X_val=parts["validation"][0], y_val=parts["validation"][1])
    calibrated = CalibratedClassifierCV(FrozenEstimator(hgb), method=method)
    calibrated.fit(*parts["calibration"])
    return Pipeline([("select", selector), ("model", calibrated)])


def _cap_rows_by_account(rows: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most about `max_rows` rows, keeping whole accounts (a seeded sample of them); 0 = no cap."""
    if max_rows <= 0 or len(rows) <= max_rows:
        return rows
    sizes = rows.groupby("account_id", sort=True).size()
    order = np.random.default_rng(seed).permutation(len(sizes))
    keep = sizes.index[order][np.cumsum(sizes.to_numpy()[order]) <= max_rows]
    return rows[rows["account_id"].isin(keep)]


def fit_profile(
    frame: pd.DataFrame, split: pd.Series, columns: list[str], config: dict[str, Any], seed: int
) -> Any:
    """Multiclass HGB over the profiles, fitted on fit + calibration accounts, early stopping on validation."""
    from sklearn.pipeline import Pipeline

    section = config["profile"]
    selector = FeatureSelector(columns).fit(frame)
    train_rows = frame[np.isin(split.to_numpy(), ["fit", "calibration"])]
    val_rows = frame[split.to_numpy() == "validation"]
    unknown = sorted(set(train_rows["profile"].astype(str)) - set(PROFILES))
    if unknown:
        raise ValueError(f"labels hold profiles outside the vocabulary: {unknown}")
    # Validation rows of a profile never seen in training would break early stopping's scorer.
    val_rows = val_rows[val_rows["profile"].astype(str).isin(set(train_rows["profile"].astype(str)))]
    train_rows = _cap_rows_by_account(train_rows, int(section.get("max_train_rows", 0)), seed)
    val_rows = _cap_rows_by_account(val_rows, int(section.get("max_train_rows", 0)) // 4, seed)
    weight = section.get("class_weight") or None
    hgb = _hgb(section, seed, class_weight=weight)
    hgb.fit(
        selector.transform(train_rows),
        train_rows["profile"].astype(str).to_numpy(),
        X_val=selector.transform(val_rows),
        y_val=val_rows["profile"].astype(str).to_numpy(),
    )
    return Pipeline([("select", selector), ("model", hgb)])


def train_frame(
    frame: pd.DataFrame,
    config: dict[str, Any] | None = None,
    *,
    name: str = "influence",
    seed: int | None = None,
    counts: dict[str, int] | None = None,
    accounts: pd.DataFrame | None = None,
    synthetic: bool = False,
) -> TrainResult:
    """Train both models on a labelled feature frame (`influence.evaluate.labelled_frame`) and evaluate them on
    the held-out test accounts. `seed` overrides `split.seed` and the estimators' random_state. `accounts` (the
    dataset's accounts table) lets the bundle record hashed account identities for overlap checks; `synthetic`
    (generated data only) hashes them with the public `privacy.SYNTHETIC_SALT`, so anyone can check overlap."""
    from influence.evaluate import evaluate_frame, headline_table
    from influence.features import FEATURE_COLUMNS

    config = copy.deepcopy(config or default_config())
    seed = int(config["split"]["seed"] if seed is None else seed)
    config["split"]["seed"] = seed
    columns = list(FEATURE_COLUMNS)
    timings: dict[str, float] = {}
    counts = dict(counts or {})

    splits = assign_account_splits(frame["account_id"], config["split"], seed)
    row_split = frame["account_id"].map(splits)

    t0 = time.perf_counter()
    has_influence = frame["influence"].notna().to_numpy()
    influence_pipeline = fit_influence(frame[has_influence], row_split[has_influence], columns, config, seed)
    timings["fit_influence_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    has_profile = frame["profile"].notna().to_numpy()
    profile_pipeline = fit_profile(frame[has_profile], row_split[has_profile], columns, config, seed)
    timings["fit_profile_s"] = time.perf_counter() - t0

    account_salt = SYNTHETIC_SALT if synthetic else None
    trained_ids = set(splits[splits != "test"].index)
    if accounts is None:
        accounts = pd.DataFrame({"account_id": sorted(trained_ids)})
    trained_accounts = accounts[accounts["account_id"].astype(str).isin(trained_ids)]
    created = datetime.now(UTC)
    counts.update(
        {
            "rows": len(frame),
            "rows_influence": int(has_influence.sum()),
            "rows_profile": int(has_profile.sum()),
            **{f"accounts_{s}": int((splits == s).sum()) for s in SPLITS},
            **{f"rows_{s}": int((row_split == s).sum()) for s in SPLITS},
        }
    )
    bundle = ModelBundle(
        name=name,
        version=created.strftime("%Y%m%dT%H%M%SZ"),
        created=created.isoformat(timespec="seconds"),
        feature_columns=tuple(columns),
        profile_classes=tuple(PROFILES),
        influence_pipeline=influence_pipeline,
        profile_pipeline=profile_pipeline,
        metadata={
            "key_threshold": float(config["labels"]["key_threshold"]),
            "key_definition": f"label influence >= {float(config['labels']['key_threshold'])}",
            "config": config,
            "seed": seed,
            "counts": counts,
            "training_data_fingerprint": fingerprint_frames({"training": frame}),
            "feature_spec_sha256": feature_spec_hash(),
            "training_accounts_sha256": account_hashes(trained_accounts, salt=account_salt),
            "training_data_declared_generated": synthetic,
            "training_accounts_identity": (
                "HMAC-SHA256 keyed with the public salt for generated data (privacy.SYNTHETIC_SALT) "
                if synthetic
                else "HMAC-SHA256 keyed with the pseudonym salt (INFLUENCE_PSEUDONYM_SALT) "
            )
            + "of account_id, name and domain (lower case), 0x1f-separated",
            "pseudonym_salt_id": salt_id(account_salt),
            "monotone_increasing": [
                c for c, m in zip(columns, _constraints(influence_pipeline), strict=True) if m
            ],
            "iterations": {
                "influence": int(_inner_hgb(influence_pipeline).n_iter_),
                "profile": int(profile_pipeline.named_steps["model"].n_iter_),
            },
        },
    )
    t0 = time.perf_counter()
    test_rows = frame[(row_split == "test").to_numpy()]
    evaluation = evaluate_frame(bundle, test_rows)
    timings["evaluate_s"] = time.perf_counter() - t0
    evaluation.metrics["split"] = "held-out test accounts of the training data"
    bundle.metadata["metrics"] = {
        row["metric"]: {k: v for k, v in row.items() if k != "metric"}
        for row in headline_table(evaluation.metrics)
    }
    bundle.metadata["metrics_full"] = {
        k: v
        for k, v in evaluation.metrics.items()
        if not isinstance(v, list | dict) or k.endswith("per_class_f1")
    }
    return TrainResult(
        bundle=bundle,
        evaluation=evaluation,
        splits=splits,
        counts=counts,
        timings=timings,
        example=frame.loc[:, columns].head(5).reset_index(drop=True),
    )


def feature_spec_hash() -> str:
    """sha256 of the feature catalogue (names, order, definitions): a bundle whose value differs from the
    installed one was trained on features that have since been redefined (retrain it)."""
    import hashlib
    import json

    from influence.features import FEATURE_COLUMNS, FEATURE_DOCS

    spec = [[name, FEATURE_DOCS.get(name, "")] for name in FEATURE_COLUMNS]
    return hashlib.sha256(json.dumps(spec, ensure_ascii=False).encode("utf-8")).hexdigest()


def _inner_hgb(pipeline: Any) -> Any:
    inner = pipeline.named_steps["model"].calibrated_classifiers_[0].estimator
    return getattr(inner, "estimator", inner)


def _constraints(pipeline: Any) -> list[int]:
    cst = _inner_hgb(pipeline).monotonic_cst
    return [0] * len(pipeline.named_steps["select"].columns) if cst is None else list(cst)


def train(
    ds: Any,
    config: dict[str, Any] | None = None,
    *,
    name: str = "influence",
    seed: int | None = None,
    synthetic: bool = False,
) -> TrainResult:
    """Build features for every labelled (deal, person) of the closed deals of `ds`, then `train_frame`."""
    from influence.evaluate import labelled_frame

    t0 = time.perf_counter()
    frame, counts = labelled_frame(ds)
    features_s = time.perf_counter() - t0
    if frame.empty:
        raise ValueError("the dataset has no labels on closed deals; nothing to train on")
    result = train_frame(
        frame, config, name=name, seed=seed, counts=counts, accounts=ds.accounts, synthetic=synthetic
    )
    result.timings = {"features_s": features_s, **result.timings}
    return result
