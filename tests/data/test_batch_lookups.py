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


def test_compiled_hash_equals_the_numpy_hash_and_marks_null_and_empty_as_missing() -> None:
    if chunks._kernels() is None:
        pytest.skip("numba unavailable: only the numpy path runs")
    rng = np.random.default_rng(11)
    words = ["".join(rng.choice(list("abcxyz0189.@<>-é€"), size=int(k))) for k in rng.integers(0, 70, 3000)]
    words += [None, "", "a", "ab", "x" * 257]
    array = pa.array(words, pa.large_string())
    for values in (
        array,
        array.slice(7, 1500),
        pa.array(words, pa.string()),
        pa.chunked_array([array[:9], array[9:]]),
    ):
        fast, fast_missing = chunks.hash_text(values)
        slow, slow_missing = chunks.hash_text(values, compiled=False)
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_array_equal(fast_missing, slow_missing)
    hashes, missing = chunks.hash_text(array)
    expected_missing = np.array([w is None or w == "" for w in words])
    np.testing.assert_array_equal(missing, expected_missing)
    # equal strings hash equal; distinct ones (here) never collide
    present = [w for w in words if w]
    by_text = dict(zip(present, hashes[~missing].tolist(), strict=True))
    assert len(set(by_text.values())) == len(by_text)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("weak_hash", [False, True])
def test_positions_are_what_index_in_answers(weak_hash: bool, compiled: bool, monkeypatch) -> None:
    """Each read batch's ids are placed among the people by hash (a hash table, or without numba a sorted
    search); a collision (forced here: every id of one length shares a hash) falls back to the exact lookup,
    never to a wrong person."""
    if not compiled:
        monkeypatch.setattr(chunks, "_kernels", lambda: None)
    if weak_hash:

        def by_length(values):  # noqa: ANN001, ANN202
            lengths = pc.utf8_length(chunks._text(values)).fill_null(0).to_numpy(zero_copy_only=False)
            return lengths.astype(np.uint64), lengths == 0

        monkeypatch.setattr(chunks, "hash_text", by_length)
    rng = np.random.default_rng(9)
    keys = pa.array([f"P-{i}" for i in rng.permutation(2000)] + ["P-7"])  # a repeated key: its first position
    index = KeyIndex(keys)
    asked = pa.array([f"P-{i}" for i in rng.integers(0, 2600, 900)] + [None, "", "P-7"], pa.large_string())
    expected = pc.index_in(asked, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(index.positions(asked), expected)
    assert (expected >= 0).sum() > 500 and (expected == -1).sum() > 100
    unusable = KeyIndex(pa.array(["a", "", "b"]))
    np.testing.assert_array_equal(unusable.positions(pa.array(["b", "", None, "z"])), [2, 1, -1, -1])
