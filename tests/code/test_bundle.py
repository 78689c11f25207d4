"""Model bundle: save/load round trip, checksum and version refusal, the numpy calibration map, FeatureSelector.

The models here are trained on an inline feature frame (random features, labels from a known rule), so these
tests exercise the bundle without depending on the generator or the feature pipeline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from influence.bundle import (
    ARTIFACT_FILES,
    METADATA_FILE,
    BundleError,
    FeatureSelector,
    load_bundle,
    overlapping_accounts,
    save_bundle,
)
from influence.contract import PROFILES
from influence.features import FEATURE_COLUMNS
from influence.train import default_config, train_frame

SMALL = {
    "influence": {"max_iter": 40, "n_iter_no_change": 5, "min_samples_leaf": 10},
    "profile": {"max_iter": 30, "n_iter_no_change": 5, "min_samples_leaf": 10},
}


def inline_frame(n_accounts: int = 40, seed: int = 0) -> pd.DataFrame:
    """Labelled feature rows: 2 deals per account, 8 people per deal; influence and profile follow a rule."""
    rng = np.random.default_rng(seed)
    n = n_accounts * 2 * 8
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURE_COLUMNS))), columns=list(FEATURE_COLUMNS))
    account = np.repeat(np.arange(n_accounts), 16)
    frame.insert(0, "account_id", [f"acc-{a}" for a in account])
    frame.insert(0, "person_id", [f"p-{i}" for i in range(n)])
    frame.insert(0, "deal_id", [f"d-{a}-{(i // 8) % 2}" for i, a in enumerate(account)])
    frame["title_seniority"] = rng.integers(0, 7, size=n).astype(float)
    signal = frame["mtg_organised"] + 0.5 * frame["em_cc_by_senior"] + 0.3 * rng.normal(size=n)
    frame["influence"] = 1 / (1 + np.exp(-2 * signal))
    frame["profile"] = np.asarray(PROFILES, dtype=object)[
        (frame["mtg_attended"].rank(pct=True) * 9.999).astype(int)
    ]
    return frame


def small_config() -> dict:
    config = default_config()
    for section, values in SMALL.items():
        config[section].update(values)
    return config


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # One OpenMP thread: more only adds contention on inputs this small (scikit-learn #30662).
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def trained(one_thread):
    frame = inline_frame()
    return frame, train_frame(frame, small_config(), name="unit", seed=3)


@pytest.fixture
def saved(trained, tmp_path: Path) -> Path:
    return save_bundle(trained[1].bundle, tmp_path / "models")


def test_round_trip_gives_identical_predictions(trained, saved: Path) -> None:
    frame, result = trained
    loaded = load_bundle(saved)
    assert loaded.version == result.bundle.version
    assert loaded.feature_columns == tuple(FEATURE_COLUMNS)
    assert loaded.profile_classes == PROFILES
    np.testing.assert_array_equal(loaded.predict_influence(frame), result.bundle.predict_influence(frame))
    proba = loaded.predict_profile_proba(frame)
    assert proba.shape == (len(frame), len(PROFILES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    meta = json.loads((saved / METADATA_FILE).read_text())
    for key in (
        "python",
        "scikit_learn",
        "numpy",
        "pandas",
        "key_threshold",
        "metrics",
        "training_data_fingerprint",
    ):
        assert key in meta, key
    assert set(meta["artifacts"]) == set(ARTIFACT_FILES.values())


def test_models_name_folder_resolves_to_latest_version(trained, saved: Path) -> None:
    older = saved.parent / "20000101T000000Z"
    shutil.copytree(saved, older)
    meta = json.loads((older / METADATA_FILE).read_text())
    meta["created"], meta["version"] = "2000-01-01T00:00:00+00:00", older.name
    (older / METADATA_FILE).write_text(json.dumps(meta))
    assert load_bundle(saved.parent).path == saved
    assert load_bundle(older).version == older.name


@pytest.mark.parametrize("artifact", sorted(ARTIFACT_FILES.values()))
def test_tampered_artifact_is_refused_naming_the_file(saved: Path, artifact: str) -> None:
    path = saved / artifact
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"checksum mismatch for .*{artifact}"):
        load_bundle(saved)


def test_missing_artifact_is_refused_naming_the_file(saved: Path) -> None:
    (saved / ARTIFACT_FILES["profile"]).unlink()
    with pytest.raises(BundleError, match="profile.joblib is missing"):
        load_bundle(saved)


def test_incompatible_scikit_learn_is_refused(saved: Path) -> None:
    meta_path = saved / METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta["scikit_learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"scikit-learn 0\.24\.2 .* this environment has"):
        load_bundle(saved)


def test_no_bundle_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle(tmp_path / "empty")


def test_saving_twice_refuses_to_overwrite(trained, saved: Path) -> None:
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(trained[1].bundle, saved.parent.parent)


def test_numpy_calibration_equals_the_pipeline(trained) -> None:
    frame, result = trained
    bundle = result.bundle
    X = frame.loc[:, list(FEATURE_COLUMNS)].to_numpy()
    expected = bundle.predict_influence(frame)
    np.testing.assert_allclose(
        bundle.calibrate(bundle.influence_hgb.predict_proba(X)[:, 1]), expected, atol=1e-9
    )
    np.testing.assert_allclose(
        bundle.calibrate_scores(bundle.influence_hgb.decision_function(X)), expected, atol=1e-9
    )
    # The ndarray fast path through the pipeline (columns already in FEATURE order) agrees too.
    np.testing.assert_array_equal(bundle.predict_influence(X), expected)


def test_feature_frame_lacking_a_column_is_a_clear_error(trained) -> None:
    frame, result = trained
    with pytest.raises(ValueError, match="net_pagerank"):
        result.bundle.predict_influence(frame.drop(columns=["net_pagerank"]))


def test_a_model_of_generated_data_is_checked_for_overlap_under_any_project_salt(monkeypatch) -> None:
    from influence.privacy import SYNTHETIC_SALT, salt_id

    frame = inline_frame(n_accounts=12, seed=5)
    monkeypatch.setenv("INFLUENCE_PSEUDONYM_SALT", "training-machine-salt")
    secret = train_frame(frame, small_config(), name="unit", seed=3)
    public = train_frame(frame, small_config(), name="unit", seed=3, synthetic=True)
    assert public.bundle.metadata["pseudonym_salt_id"] == salt_id(SYNTHETIC_SALT)
    assert public.bundle.metadata["training_data_declared_generated"] is True
    trained_ids = set(public.splits[public.splits != "test"].index)
    ids = pd.DataFrame({"account_id": sorted(set(frame["account_id"]))})
    # Another machine (a fresh clone, CI) has another project salt: only the generated-data model is checkable.
    monkeypatch.setenv("INFLUENCE_PSEUDONYM_SALT", "fresh-clone-salt")
    assert set(overlapping_accounts(public.bundle, ids)) == trained_ids
    with pytest.warns(UserWarning, match="another pseudonym salt"):
        assert overlapping_accounts(secret.bundle, ids) == []


def test_overlap_detection_uses_hashed_training_accounts(trained) -> None:
    frame, result = trained
    trained_accounts = set(result.splits[result.splits != "test"].index)
    test_accounts = set(result.splits[result.splits == "test"].index)
    assert "acc-0" in trained_accounts | test_accounts
    ids = sorted(trained_accounts | test_accounts) + ["never-seen"]
    found = overlapping_accounts(result.bundle, pd.DataFrame({"account_id": ids}))
    assert set(found) == trained_accounts
    # Same id, another company (e.g. a dataset generated with another seed): not an overlap.
    renamed = pd.DataFrame({"account_id": ids, "name": "Other BV", "domain": "other.nl"})
    assert overlapping_accounts(result.bundle, renamed) == []
    assert not any(
        a in json.dumps(result.bundle.metadata["training_accounts_sha256"]) for a in trained_accounts
    )


@parametrize_with_checks([FeatureSelector()])
def test_feature_selector_is_a_proper_estimator(estimator, check) -> None:
    check(estimator)


def test_feature_selector_selects_named_columns_in_order() -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "b": [1, 2], "a": pd.array([0.5, None], dtype="Float64")})
    selector = FeatureSelector(["a", "b"]).fit(frame)
    out = selector.transform(frame)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.array([[0.5, 1.0], [np.nan, 2.0]]))
    assert list(selector.get_feature_names_out()) == ["a", "b"]
    with pytest.raises(ValueError, match="expected 2 feature columns"):
        selector.transform(np.zeros((2, 3)))


def test_isotonic_bundles_still_calibrate_in_numpy_and_sigmoid_keeps_the_order(trained) -> None:
    # Bundles trained before 2026-11-27 are isotonic-calibrated: the numpy map must still equal the pipeline. The
    # default (sigmoid) must keep the raw model's order: isotonic steps would tie people a rep needs ranked.
    frame, default = trained
    config = small_config()
    config["influence"]["calibration"] = "isotonic"
    iso = train_frame(frame, config, name="unit-iso", seed=3).bundle
    X = frame.loc[:, list(FEATURE_COLUMNS)].to_numpy()
    raw = iso.influence_hgb.decision_function(X)
    np.testing.assert_allclose(iso.calibrate_scores(raw), iso.predict_influence(frame), atol=1e-9)
    sigmoid = default.bundle.predict_influence(frame)
    assert len(np.unique(sigmoid)) == len(np.unique(default.bundle.influence_hgb.decision_function(X)))
    assert len(np.unique(iso.predict_influence(frame))) < len(np.unique(raw))


def test_unknown_calibration_method_is_a_clear_error(trained) -> None:
    config = small_config()
    config["influence"]["calibration"] = "beta"
    with pytest.raises(ValueError, match="influence.calibration"):
        train_frame(trained[0], config, name="unit-bad", seed=3)
