"""Sustained load on `/v1/people/score`: does the API keep >= 500 requests/s for 60 s with zero errors?

The server is `influence serve` with 2 uvicorn workers (one BLAS/OpenMP thread each) on 127.0.0.1, started by the
API benchmark's helper (`bench_api._serve_influence`, engineer H2); the load generator is wrk (C, Debian's `wrk`)
with the same Lua POST script, one thread and 16 connections. Load is bounded: loopback only, a fixed duration
(60 s; 10 s in quick mode) and a 30 s per-request timeout. Any connect/read/write/timeout error or non-2xx
answer fails the run (wrk counts them; the run reports them).

Peer, measured in the same run on the same server: a 5 s burst. `sustained_vs_burst` = sustained req/s over
burst req/s; near 1 means no degradation over a minute (no leak, no queue build-up, no GC pauses).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

GOAL_RPS = 500.0
CONNECTIONS = 16
BURST_S = 5


def run(quick: bool) -> dict[str, Any]:
    """Start the API, measure a 5 s burst then the sustained run, return p50/p99, req/s and errors."""
    from influence.bench.bench_api import (
        _LUA,
        WORKERS,
        _bodies,
        _check_ok,
        _serve_influence,
        _wrk,
        _wrk_version,
    )

    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (Debian) and run again")
    duration = 10 if quick else 60
    from influence.api._settings import default_model_ref
    from influence.bundle import load_bundle

    model_ref = os.environ.get("INFLUENCE_MODEL") or default_model_ref()
    bundle = load_bundle(model_ref)
    people_body = _bodies(bundle)[1]
    result: dict[str, Any] = {
        "model": f"{bundle.name}/{bundle.version}",
        "load_average_before": os.getloadavg()[0],
        "load_generator": f"wrk ({_wrk_version(wrk)}), 1 thread, {CONNECTIONS} connections, 127.0.0.1",
        "workers": WORKERS,
        "duration_s": duration,
        "goal": f">= {GOAL_RPS:.0f} req/s for {duration} s with zero errors",
    }
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_LUA)
        body = Path(tmp) / "people.json"
        body.write_text(json.dumps(people_body))
        with _serve_influence(model_ref) as base:
            url = f"{base}/v1/people/score"
            _check_ok(url, body)
            for name, seconds in (("burst", BURST_S), ("sustained", duration)):
                try:
                    result[name] = {**_wrk(wrk, url, script, body, CONNECTIONS, seconds), "errors": 0}
                except RuntimeError as exc:  # wrk saw failed requests: that is the finding, not a crash
                    result[name] = {"errors": str(exc)}
    result["load_average_after"] = os.getloadavg()[0]
    sustained, burst = result["sustained"], result["burst"]
    rps = sustained.get("rps")
    result["sustained_vs_burst"] = rps / burst["rps"] if rps and burst.get("rps") else None
    result["goal_met"] = bool(rps is not None and rps >= GOAL_RPS and sustained.get("errors") == 0)
    return result
