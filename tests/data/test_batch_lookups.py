"""The hashed key lookup batch chunks use to find their people (`chunks.KeyIndex`) answers exactly what Arrow's
`is_in` answers, hash collisions included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from influence import chunks
from influence.chunks import KeyIndex, key_index


def _is_in_positions(keys: pa.Array, values: pa.Array) -> np.ndarray:
    return np.flatnonzero(pc.is_in(keys, value_set=values).fill_null(False).to_numpy(zero_copy_only=False))


@pytest.mark.parametrize("weak_hash", [False, True])
def test_members_are_the_positions_is_in_marks(weak_hash: bool, monkeypatch) -> None:
    if weak_hash:
        # Every key of the same length shares a hash: only the text comparison tells them apart.
        def by_length(values):  # noqa: ANN001, ANN202
            lengths = pc.utf8_length(chunks._text(values)).fill_null(0).to_numpy(zero_copy_only=False)
            missing = lengths == 0
            return lengths.astype(np.uint64), missing

        monkeypatch.setattr(chunks, "hash_text", by_length)
    rng = np.random.default_rng(5)
    keys = pa.array([f"P-{i}" for i in rng.permutation(3000)])
    index = KeyIndex(keys)
    assert index.usable
    for _ in range(4):
        asked = [f"P-{i}" for i in rng.integers(0, 4000, 400)] + [None, "", "P-unknown"]
        values = pa.array(asked, pa.large_string())
        np.testing.assert_array_equal(index.members(values), _is_in_positions(keys, values))
    assert len(index.members(pa.array(["nobody"]))) == 0


def test_keys_with_null_or_empty_ids_are_not_usable_and_the_cache_holds_the_array() -> None:
    assert not KeyIndex(pa.array(["a", None])).usable
    assert not KeyIndex(pa.array(["a", ""])).usable
    keys = pa.array(["a", "b"])
    assert key_index(keys) is key_index(keys)
    assert key_index(pa.array(["a", "b"])) is not key_index(keys)  # another array object: its own index
