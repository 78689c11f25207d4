"""Shared fixtures. Each block is self-contained; add yours below with its own imports inside the fixture."""

from __future__ import annotations

import pytest

# --- generated deal history (engineer B): 60 accounts, seed 11, generated once per session ---------------------
SMALL_ACCOUNTS = 60
SMALL_SEED = 11


@pytest.fixture(scope="session")
def _small_generated():  # noqa: ANN202
    from influence.generate import generate_with_truth

    return generate_with_truth(SMALL_ACCOUNTS, SMALL_SEED)


@pytest.fixture(scope="session")
def small_dataset(_small_generated):  # noqa: ANN001, ANN201
    """A generated contract `Dataset` (60 accounts, seed 11). Shared: do not modify its frames in place."""
    return _small_generated[0]


@pytest.fixture(scope="session")
def small_truth(_small_generated):  # noqa: ANN001, ANN201
    """The latent truth of `small_dataset`: one row per (deal_id, person_id) in a DMU (see generate.TRUTH_COLUMNS)."""
    return _small_generated[1]


# --- model roots (engineer J): bundles saved under pytest's tmp folders may be loaded ---------------------------
@pytest.fixture(scope="session", autouse=True)
def _tmp_model_roots(tmp_path_factory):  # noqa: ANN001, ANN202
    """load_bundle only opens bundles under settings.model_roots(); tests save theirs under pytest's base temp
    folder, so it is added (plus the project's defaults) for the session, subprocesses included."""
    import os

    from influence.settings import model_roots

    old = os.environ.get("INFLUENCE_MODEL_ROOTS")
    roots = [*model_roots(), tmp_path_factory.getbasetemp().resolve()]
    os.environ["INFLUENCE_MODEL_ROOTS"] = os.pathsep.join(map(str, roots))
    yield
    if old is None:
        os.environ.pop("INFLUENCE_MODEL_ROOTS", None)
    else:
        os.environ["INFLUENCE_MODEL_ROOTS"] = old


# --- a small trained bundle, shared: training it once per session instead of once per module ------------------
@pytest.fixture(scope="session")
def unit_bundle():  # noqa: ANN201
    """A small bundle trained on generated data (24 accounts, seed 5; few iterations). Read-only: do not mutate."""
    from influence.evaluate import labelled_frame
    from influence.generate import generate
    from influence.train import default_config, train_frame

    frame, counts = labelled_frame(generate(24, 5))
    config = default_config()
    config["influence"].update(max_iter=40, n_iter_no_change=5, min_samples_leaf=10)
    config["profile"].update(max_iter=30, n_iter_no_change=5, min_samples_leaf=10)
    return train_frame(frame, config, name="unit", seed=1, counts=counts).bundle
