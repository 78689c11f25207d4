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
