"""Title parsing throughput: `parse_titles` on a column where titles repeat (as in real CRM data), against the
peer "parse every row" (no de-duplication, no cache) measured in the same run."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from influence.bench import median_time, peak_rss_mib

_PREFIX = (
    "",
    "Senior ",
    "Sr. ",
    "Junior ",
    "Lead ",
    "Head of ",
    "Director ",
    "VP ",
    "Leiter ",
    "Hoofd ",
    "Responsable ",
    "Directeur ",
    "Stellvertretender ",
    "Assistant ",
)
_CORE = (
    "Procurement",
    "Finance",
    "IT",
    "Engineering",
    "Sales",
    "Marketing",
    "HR",
    "Legal",
    "Data",
    "Security",
    "Product",
    "Operations",
    "Einkauf",
    "Inkoop",
    "Achats",
    "Informatique",
    "Vertrieb",
    "Controlling",
    "Software Engineer",
    "Buyer",
    "Data Scientist",
    "Account Manager",
    "Systemadministrator",
    "Sachbearbeiter Einkauf",
    "Medewerker inkoop",
    "Chef de projet",
)
_SUFFIX = (
    "",
    " EMEA",
    " DACH",
    " Benelux",
    " Middle East",
    " (Interim)",
    ", Global",
    " - Nordics",
    " / Group",
    " a.i.",
    " Europe",
    " International",
    " Region West",
    " UK",
)


def distinct_titles(n: int) -> list[str]:
    """`n` distinct, realistic-looking titles (prefix x core x suffix)."""
    out = [p + c + s for p, c, s in itertools.product(_PREFIX, _CORE, _SUFFIX)]
    if n > len(out):
        raise ValueError(f"at most {len(out)} distinct titles")
    return out[:n]


def run(quick: bool) -> dict[str, Any]:
    from influence import titles as mod

    n_rows, n_distinct, n_peer = (100_000, 1_000, 2_000) if quick else (1_000_000, 5_000, 20_000)
    rng = np.random.default_rng(0)
    pool = np.asarray(distinct_titles(n_distinct), dtype=object)
    # Zipf-like repetition: a few titles are very common, most are rare
    weights = 1.0 / np.arange(1, n_distinct + 1)
    values = pool[rng.choice(n_distinct, size=n_rows, p=weights / weights.sum())]
    series = pd.Series(values, dtype="string", name="title")
    series[rng.random(n_rows) < 0.05] = pd.NA

    def cold() -> None:
        mod._parse_clean.cache_clear()
        mod._parse_normalised.cache_clear()
        mod.parse_titles(series)

    cold_s, cold_samples = median_time(cold, repeat=3)
    warm_s, warm_samples = median_time(lambda: mod.parse_titles(series), repeat=3)

    sample = series.iloc[:n_peer].tolist()
    uncached = mod._parse_normalised.__wrapped__

    def peer() -> None:
        for t in sample:
            if isinstance(t, str) and t.strip():
                uncached(mod.normalise_title(t), mod._accent_votes(t))

    peer_s, peer_samples = median_time(peer, repeat=3)
    rows_per_s_cold = n_rows / cold_s
    rows_per_s_peer = n_peer / peer_s
    return {
        "rows": n_rows,
        "distinct_titles": int(series.nunique()),
        "parse_titles_cold_s": cold_s,
        "parse_titles_warm_s": warm_s,
        "rows_per_s_cold": rows_per_s_cold,
        "peer_parse_every_row_rows": n_peer,
        "peer_parse_every_row_s": peer_s,
        "peer_rows_per_s": rows_per_s_peer,
        "speedup_vs_parse_every_row": rows_per_s_cold / rows_per_s_peer,
        "projected_10m_rows_s": 10_000_000 / rows_per_s_cold,
        "samples": {"cold": cold_samples, "warm": warm_samples, "peer": peer_samples},
        "peak_rss_mib": peak_rss_mib(),
    }
