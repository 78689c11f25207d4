"""Train + evaluate speed at 200k labelled (deal, person) rows (goal: under 2 minutes on 2 cores).

Generating 200k labelled rows takes the generator ~8,500 accounts (minutes), so the benchmark generates a base of
accounts, builds its features once (timed and reported separately, per row), and tiles the labelled feature
frame to the target size with fresh deal / person ids per copy (account ids kept, so all copies of an account
share one split and early stopping sees no leaked rows). Peer: scikit-learn's
HistGradientBoostingClassifier with default settings fitted once on the same influence rows.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from influence.bench import median_time, peak_rss_mib

THREADS = min(2, os.cpu_count() or 1)


def _tile(frame: pd.DataFrame, target_rows: int) -> pd.DataFrame:
    copies = int(np.ceil(target_rows / len(frame)))
    parts = []
    for i in range(copies):
        part = frame.copy()
        # account_id is kept: every copy of an account lands in the same split. Renaming it too would put copies
        # of the same rows in fit and validation, so early stopping would never stop (measured: 600 / 500
        # iterations instead of about 160 / 90, and a 4x slower run).
        for column in ("deal_id", "person_id"):
            part[column] = f"c{i}-" + part[column].astype(str)
        parts.append(part)
    return pd.concat(parts, ignore_index=True).head(target_rows)


def run(quick: bool) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from influence.evaluate import labelled_frame
    from influence.features import FEATURE_COLUMNS
    from influence.generate import generate
    from influence.train import default_config, train_frame

    base_accounts, target_rows, repeat = (60, 20_000, 3) if quick else (400, 200_000, 1)
    ds = generate(base_accounts, seed=2468)
    t0 = time.perf_counter()
    base, _ = labelled_frame(ds)
    features_s = time.perf_counter() - t0
    frame = _tile(base, target_rows)
    config = default_config()

    timings: list[dict[str, float]] = []

    cpu: list[float] = []

    def train_and_evaluate() -> None:
        # CPU seconds too: on a shared machine wall time measures the neighbours as much as this code.
        c0 = time.process_time()
        result = train_frame(frame, config, name="bench", seed=1)
        cpu.append(time.process_time() - c0)
        timings.append(result.timings)

    X = frame.loc[:, list(FEATURE_COLUMNS)].to_numpy(np.float64)
    y = (frame["influence"].to_numpy() >= 0.5).astype(int)
    # The goal is stated for 2 cores: training may use both, whatever OMP_NUM_THREADS `make bench` exports.
    with threadpool_limits(THREADS):
        total_s, samples = median_time(train_and_evaluate, repeat=repeat)
        peer_s, peer_samples = median_time(
            lambda: HistGradientBoostingClassifier(random_state=0).fit(X, y), repeat=repeat
        )
    last = timings[-1]
    return {
        "rows": len(frame),
        "base_accounts": base_accounts,
        "base_rows": len(base),
        "training_threads": THREADS,
        "features_s_base": round(features_s, 3),
        "features_rows_per_s": round(len(base) / features_s, 1),
        "features_s_extrapolated_to_rows": round(features_s * len(frame) / len(base), 1),
        "train_evaluate_s_median": round(total_s, 2),
        "train_evaluate_samples_s": [round(s, 2) for s in samples],
        "train_evaluate_cpu_s_median": round(float(np.median(cpu)), 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "fit_influence_s": round(last["fit_influence_s"], 2),
        "fit_profile_s": round(last["fit_profile_s"], 2),
        "evaluate_s": round(last["evaluate_s"], 2),
        "goal_s": 120.0,
        "goal_met": bool(total_s < 120.0),
        "peer_default_hgb_fit_s_median": round(peer_s, 2),
        "peer_samples_s": [round(s, 2) for s in peer_samples],
        "ratio_train_evaluate_to_peer": round(total_s / peer_s, 2),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
