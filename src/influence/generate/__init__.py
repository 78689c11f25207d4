"""Synthetic deal history with known hidden influence and DMU profiles (the story: docs/synthetic-data.md).

Public API:
- `GeneratorConfig`: every realism setting with its default.
- `generate(n_accounts, seed, config=None) -> Dataset`: a contract dataset (labels on closed deals only).
- `generate_with_truth(...) -> (Dataset, truth)`: also the latent truth, one row per (deal_id, person_id) in a DMU.
- `iter_chunks(...)`: the same data as pyarrow tables, a chunk of accounts at a time (bounded memory).
- `write_generated(out, n_accounts, seed, ...)`: stream a large dataset to Parquet or CSV.
- `mail_shape(ds, deal_id=None) -> dict`: label-free shape statistics of a deal's mail (`SHAPE_STATISTICS`), to
  compare the generator with real mailboxes without any label.

The output for a seed is identical whatever the chunk size: account i always draws from
`np.random.SeedSequence([seed, i])`.
"""

from __future__ import annotations

from influence.generate._config import GeneratorConfig, settings_markdown, settings_table
from influence.generate._shape import SHAPE_STATISTICS, mail_shape
from influence.generate._tables import (
    TRUTH_COLUMNS,
    generate,
    generate_with_truth,
    iter_chunks,
    write_generated,
)

__all__ = [
    "GeneratorConfig",
    "SHAPE_STATISTICS",
    "TRUTH_COLUMNS",
    "generate",
    "generate_with_truth",
    "iter_chunks",
    "mail_shape",
    "settings_markdown",
    "settings_table",
    "write_generated",
]
