"""Deal maps and the HTML report: what drawing the DMU costs on top of scoring it.

Data: the project's generator (seed 11), QUICK_ACCOUNTS or FULL_ACCOUNTS accounts, in memory. Model: the shipped
default bundle. Figures (medians of wall-clock seconds; the 2-core machine is shared, so read the ratios):

- batch: `deal_maps(ds, result)` for every deal vs its peer `Scorer.score_dataset(ds)` on the same data in the
  same run (ratio map / score), and `render_report` (seconds, bytes per deal);
- one deal, in-process, as the API answers it: `map_of_body` (validate + score + graph + layout) vs its peer
  `ScoringService.score_deal` on the same body (`/v1/deals/map` vs `/v1/deals/score` without HTTP);
- the layout alone (`spring_layout`) for 15, 50 and 150 people with three ties per person.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from influence.bench import median_time, peak_rss_mib

SEED = 11
QUICK_ACCOUNTS = 20
FULL_ACCOUNTS = 300


def _layout_case(n: int) -> list[tuple[int, int, float]]:
    rng = np.random.default_rng(n)
    a = rng.integers(0, n, 3 * n)
    b = rng.integers(0, n, 3 * n)
    w = rng.integers(1, 30, 3 * n)
    return [(int(i), int(j), float(k)) for i, j, k in zip(a, b, w, strict=True) if i != j]


def run(quick: bool) -> dict[str, Any]:
    from influence.api._convert import deal_request_from_dataset
    from influence.api._pages import map_of_body
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import load_service
    from influence.api._settings import ApiSettings
    from influence.dmu_map import deal_maps, spring_layout
    from influence.generate import generate
    from influence.predict import Scorer
    from influence.report import build_report

    n_accounts = (
        QUICK_ACCOUNTS if quick else int(os.environ.get("INFLUENCE_BENCH_MAP_ACCOUNTS", FULL_ACCOUNTS))
    )
    repeat = 3
    ds = generate(n_accounts, SEED)
    scorer = Scorer.from_ref(None)
    result: dict[str, Any] = {
        "accounts": n_accounts,
        "model": scorer.model_version,
        "load_average": os.getloadavg(),
    }

    scored: list[Any] = []
    score_s, _ = median_time(lambda: scored.append(scorer.score_dataset(ds)), repeat=repeat)
    res = scored[-1]
    maps: list[Any] = []
    map_s, map_samples = median_time(lambda: maps.append(deal_maps(ds, res)), repeat=repeat)
    n_deals = len(maps[-1])
    texts: list[str] = []
    report_s, _ = median_time(lambda: texts.append(build_report(ds, res)[0]), repeat=repeat)
    result["batch"] = {
        "deals": n_deals,
        "people": int(sum(m["summary"]["people"] for m in maps[-1])),
        "score_dataset_s": score_s,
        "deal_maps_s": map_s,
        "deal_maps_samples_s": map_samples,
        "deal_maps_ms_per_deal": 1000 * map_s / max(n_deals, 1),
        "ratio_maps_vs_scoring": map_s / score_s,
        "build_report_s": report_s,
        "report_bytes": len(texts[-1].encode("utf-8")),
        "report_kib_per_deal": len(texts[-1].encode("utf-8")) / 1024 / max(n_deals, 1),
    }

    # One deal, as the API answers /v1/deals/map and /v1/deals/score (no HTTP).
    service = load_service(ApiSettings(), scorer.bundle)
    sizes = ds.emails.groupby("deal_id").size().sort_values(kind="stable")
    deal_id = str(sizes.index[len(sizes) // 2])  # a typical deal
    body = DealScoreRequest.model_validate(deal_request_from_dataset(ds, deal_id))
    map_of_body(body, service)  # warm-up
    one_map_s, _ = median_time(lambda: map_of_body(body, service), repeat=5)
    one_score_s, _ = median_time(lambda: service.score_deal(body), repeat=5)
    result["one_deal"] = {
        "deal_id": deal_id,
        "people": len(body.people),
        "map_of_body_ms": 1000 * one_map_s,
        "score_deal_ms": 1000 * one_score_s,
        "ratio_map_vs_score": one_map_s / one_score_s,
    }

    result["layout_ms"] = {}
    for n in (15, 50, 150):
        edges = _layout_case(n)
        seconds, _ = median_time(lambda n=n, edges=edges: spring_layout(n, edges), repeat=repeat)
        result["layout_ms"][str(n)] = 1000 * seconds
    result["peak_rss_mib"] = peak_rss_mib()
    result["goals"] = {
        "maps cost < scoring (ratio < 1)": result["batch"]["ratio_maps_vs_scoring"] < 1.0,
        "one deal map < 2x score_deal": result["one_deal"]["ratio_map_vs_score"] < 2.0,
        "layout of 50 people < 100 ms": result["layout_ms"]["50"] < 100.0,
    }
    return result
