"""Model behaviour on generated deal history: determinism, grouped splits, monotone directions, invariance,
quality floors on accounts from a seed never used in training, and MLflow tracking / registry round trip.

Models are small (few hundred accounts, few iterations) so the whole file stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from influence.bundle import load_bundle, save_bundle
from influence.evaluate import evaluate, labelled_frame
from influence.features import MONOTONE_INCREASING, build_features
from influence.generate import generate
from influence.train import SPLITS, assign_account_splits, default_config, train, train_frame

TRAIN_SEED, FRESH_SEED = 31, 9031


def small_config() -> dict:
    config = default_config()
    config["influence"].update({"max_iter": 120, "learning_rate": 0.12, "n_iter_no_change": 10})
    config["profile"].update({"max_iter": 60, "learning_rate": 0.2, "n_iter_no_change": 8})
    return config


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # OpenMP threads only add contention on small inputs (scikit-learn #30662); the Makefile sets this too.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def train_ds():
    return generate(160, seed=TRAIN_SEED)


@pytest.fixture(scope="module")
def labelled(train_ds):
    return labelled_frame(train_ds)[0]


@pytest.fixture(scope="module")
def result(train_ds, labelled):
    return train_frame(labelled, small_config(), name="test", seed=5, accounts=train_ds.accounts)


def test_same_seed_gives_the_same_model(labelled, train_ds) -> None:
    subset = labelled[labelled["account_id"].isin(sorted(labelled["account_id"].unique())[:70])]
    a = train_frame(subset, small_config(), seed=11)
    b = train_frame(subset.sample(frac=1.0, random_state=3), small_config(), seed=11)
    # Row order changes only the summation order of the sigmoid calibration's fit: equal to rounding.
    np.testing.assert_allclose(
        a.bundle.predict_influence(subset), b.bundle.predict_influence(subset), rtol=1e-12, atol=0
    )
    np.testing.assert_array_equal(
        a.bundle.predict_profile_proba(subset), b.bundle.predict_profile_proba(subset)
    )
    assert a.bundle.metadata["training_data_fingerprint"] == b.bundle.metadata["training_data_fingerprint"]


def test_splits_are_grouped_by_account(result, labelled) -> None:
    splits = result.splits
    assert set(splits.index) == set(labelled["account_id"])
    assert set(splits) == set(SPLITS)
    assert splits.index.is_unique  # each account in exactly one split
    # The reported metrics only use test accounts, none of which the model was fitted or calibrated on.
    test_accounts = set(splits[splits == "test"].index)
    assert set(result.evaluation.rows["account_id"]) <= test_accounts
    assert result.evaluation.metrics["accounts"] == len(test_accounts)


def test_account_split_assignment_is_seeded_and_covers_everything() -> None:
    ids = pd.Series([f"A{i % 37}" for i in range(500)])
    cfg = default_config()["split"]
    first = assign_account_splits(ids, cfg, seed=1)
    assert first.equals(assign_account_splits(ids.sample(frac=1.0, random_state=2), cfg, seed=1))
    assert not first.equals(assign_account_splits(ids, cfg, seed=2))
    assert len(first) == 37 and first.value_counts()["test"] == round(37 * cfg["test_fraction"])
    with pytest.raises(ValueError, match="at least 4 accounts"):
        assign_account_splits(pd.Series(["A", "B", "A"]), cfg, seed=1)


@pytest.mark.parametrize("feature", MONOTONE_INCREASING)
def test_more_of_a_monotone_feature_never_lowers_influence(result, labelled, feature: str) -> None:
    rows = labelled.sample(400, random_state=0)
    base = result.bundle.predict_influence(rows)
    for step in (0.1, 1.0, 5.0):
        bumped = rows.copy()
        bumped[feature] = bumped[feature].fillna(0.0) + step
        from_filled = rows.copy()
        from_filled[feature] = from_filled[feature].fillna(0.0)
        assert (
            result.bundle.predict_influence(bumped) >= result.bundle.predict_influence(from_filled) - 1e-12
        ).all()
    assert base.shape == (400,)


def _renamed(ds, prefix: str):
    """The same dataset with every id renamed and every table's rows shuffled."""
    from influence.contract import Dataset

    maps = {
        "account_id": {
            a: f"{prefix}acct-{i}"
            for i, a in enumerate(ds.accounts["account_id"].sample(frac=1, random_state=1))
        },
        "person_id": {
            p: f"{prefix}pers-{i}"
            for i, p in enumerate(ds.people["person_id"].sample(frac=1, random_state=2))
        },
        "deal_id": {
            d: f"{prefix}deal-{i}" for i, d in enumerate(ds.deals["deal_id"].sample(frac=1, random_state=3))
        },
    }
    maps["organizer_id"] = maps["sender_id"] = maps["person_id"]
    tables = {}
    for name in ds:
        frame = ds[name].copy()
        for column, mapping in maps.items():
            if column in frame.columns:
                frame[column] = frame[column].map(mapping).astype("string")
        tables[name] = frame.sample(frac=1.0, random_state=4).reset_index(drop=True)
    return Dataset.from_frames(tables), maps


def test_renaming_ids_and_shuffling_rows_changes_no_prediction(result) -> None:
    ds = generate(25, seed=FRESH_SEED + 1)
    renamed, maps = _renamed(ds, "x-")
    pairs = ds.labels[["deal_id", "person_id"]].reset_index(drop=True)
    original = build_features(ds, pairs=pairs)
    moved = build_features(
        renamed,
        pairs=pd.DataFrame(
            {
                "deal_id": pairs["deal_id"].map(maps["deal_id"]),
                "person_id": pairs["person_id"].map(maps["person_id"]),
            }
        ),
    )
    original["key"] = (
        original["deal_id"].map(maps["deal_id"]) + "|" + original["person_id"].map(maps["person_id"])
    )
    moved["key"] = moved["deal_id"] + "|" + moved["person_id"]
    moved = moved.set_index("key").loc[original["key"]]
    bundle = result.bundle
    np.testing.assert_allclose(
        bundle.predict_influence(moved), bundle.predict_influence(original), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        bundle.predict_profile_proba(moved), bundle.predict_profile_proba(original), rtol=0, atol=1e-12
    )


def test_configured_hyperparameters_reach_the_fitted_estimators(result, tmp_path: Path) -> None:
    """model.toml (and a --config override) is what the saved estimators carry, incl. column subsampling."""
    from influence.train import _inner_hgb, load_config

    config = small_config()
    profile, influence = result.bundle.profile_hgb, _inner_hgb(result.bundle.influence_pipeline)
    for section, hgb in (("profile", profile), ("influence", influence)):
        for key in (
            "learning_rate",
            "max_leaf_nodes",
            "min_samples_leaf",
            "max_features",
            "n_iter_no_change",
        ):
            assert getattr(hgb, key) == config[section][key], (section, key)
    assert result.bundle.influence_pipeline.named_steps["model"].method == config["influence"]["calibration"]
    override = tmp_path / "override.toml"
    override.write_text("[profile]\nmax_features = 0.3\n")
    loaded = load_config(override)
    assert loaded["profile"]["max_features"] == 0.3
    assert loaded["influence"] == default_config()["influence"]


def test_quality_floors_on_a_fresh_seed(result) -> None:
    """Floors a bit below the issue's goals (small model, small data); the full figures are in reports/."""
    fresh = generate(90, seed=FRESH_SEED)
    metrics = evaluate(result.bundle, fresh).metrics
    assert metrics["influence_roc_auc"] >= 0.85
    assert metrics["influence_roc_auc"] - metrics["baseline_title_roc_auc"] >= 0.12
    assert metrics["ndcg_at_3"] >= 0.80
    assert metrics["hidden_influencer_recall_at_3"] >= 0.50
    assert metrics["profile_macro_f1"] >= 0.50
    assert metrics["profile_macro_f1"] > metrics["baseline_rules_profile_macro_f1"]


@pytest.mark.slow
def test_mlflow_run_registry_and_models_uri(result, tmp_path: Path, monkeypatch) -> None:
    from influence.tracking import log_training_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    folder = save_bundle(result.bundle, tmp_path / "models")
    run = log_training_run(
        result.bundle,
        params={"seed": 5},
        metrics={"influence_roc_auc": result.evaluation.metrics["influence_roc_auc"]},
        example=result.example,
        promote=True,
    )
    assert run is not None and run["model_version"] is not None
    champion = load_bundle("models:/influence@champion")
    assert champion.path == folder
    # With the local folder gone, the bundle comes from the run's logged artifacts and still verifies.
    renamed = folder.with_name("moved")
    folder.rename(renamed)
    downloaded = load_bundle(f"models:/influence/{run['model_version']}")
    assert downloaded.path != folder
    rows = result.example
    np.testing.assert_array_equal(downloaded.predict_influence(rows), result.bundle.predict_influence(rows))

    import mlflow

    served = mlflow.pyfunc.load_model(f"models:/influence/{run['model_version']}")
    proba = np.asarray(served.predict(rows))
    np.testing.assert_allclose(proba[:, 1], result.bundle.predict_influence(rows), atol=1e-12)


def test_unreachable_tracking_store_warns_and_keeps_the_bundle(result, tmp_path: Path, monkeypatch) -> None:
    from influence.tracking import TrackingWarning, log_training_run

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker / 'sub' / 'mlflow.db'}")
    folder = save_bundle(result.bundle, tmp_path / "models")
    with pytest.warns(TrackingWarning, match="local bundle is unaffected"):
        assert log_training_run(result.bundle, params={}, metrics={}) is None
    assert json.loads((folder / "metadata.json").read_text())["version"] == result.bundle.version


def test_train_on_dataset_records_counts_and_refuses_unlabelled(train_ds) -> None:
    from influence.contract import Dataset

    empty = Dataset.from_frames({n: train_ds[n] for n in train_ds if n != "labels"})
    with pytest.raises(ValueError, match="no labels on closed deals"):
        train(empty, small_config())


@pytest.mark.slow
def test_cli_train_then_evaluate_refuses_training_accounts(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from influence.cli import app
    from influence.contract import write_dataset

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    data = write_dataset(generate(40, seed=TRAIN_SEED + 1), tmp_path / "data")
    config = tmp_path / "small.toml"
    config.write_text("[influence]\nmax_iter = 30\n[profile]\nmax_iter = 20\n")
    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", str(data), "--config", str(config), "--out", str(tmp_path / "models"), "--no-tracking"]
    )
    assert trained.exit_code == 0, trained.output
    assert "influence ROC-AUC" in trained.output and "bundle:" in trained.output
    model = next((tmp_path / "models" / "influence").iterdir())

    refused = runner.invoke(app, ["evaluate", str(data), "--model", str(model), "--no-tracking"])
    assert refused.exit_code == 1
    assert "were used to train" in refused.output

    out = tmp_path / "metrics.json"
    allowed = runner.invoke(
        app,
        [
            "evaluate",
            str(data),
            "--model",
            str(model),
            "--json",
            str(out),
            "--allow-overlap",
            "--no-tracking",
        ],
    )
    assert allowed.exit_code == 0, allowed.output
    metrics = json.loads(out.read_text())
    for key in (
        "influence_roc_auc",
        "baseline_title_roc_auc",
        "ndcg_at_3",
        "hidden_influencer_recall_at_3",
        "profile_macro_f1",
        "model_version",
    ):
        assert key in metrics, key
    assert metrics["model_version"] == model.name

    bad = tmp_path / "bad.toml"
    bad.write_text("[influence]\nmax_iterations = 3\n")
    rejected = runner.invoke(app, ["train", str(data), "--config", str(bad), "--no-tracking"])
    assert (
        rejected.exit_code == 1 and "unknown configuration key 'influence.max_iterations'" in rejected.output
    )
