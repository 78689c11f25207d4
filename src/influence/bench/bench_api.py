"""Scoring API under load: `influence serve` against `mlflow models serve` of the same model, in the same run.

Both servers run on 127.0.0.1 with the same number of uvicorn workers and are driven by wrk (Debian's `wrk`, a
C load generator; POST bodies through a Lua script) with one thread, for a fixed time, at 1 and 16 connections:

- `/v1/people/score`, one precomputed feature row (influence + the ten profile probabilities), against MLflow's
  `/invocations` with the same row (`dataframe_split`; the influence model's predict_proba only);
- `/v1/deals/score` with a generated deal of about 30 people (validation, features, both models, reasons,
  coverage); its peer is `Scorer.score_dataset` on the same deal in-process, so the ratio is the HTTP + JSON +
  validation overhead.

Figures: p50/p99 latency (ms) and requests/s, plus ratios ours/mlflow. Every response is checked to be 2xx
(wrk counts the others). Load is bounded: loopback only, seconds per run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from influence.bench import median_time

# p50 <= 2 ms, p99 <= 10 ms at 1 connection and >= 1,000 req/s (people); p50 <= 30 ms (deal); >= 2x mlflow.
GOALS = {
    "people_p50_ms": 2.0,
    "people_p99_ms": 10.0,
    "people_rps": 1000.0,
    "deal_p50_ms": 30.0,
    "vs_mlflow": 2.0,
}
DEAL_PEOPLE = 30
WORKERS = 2

_LUA = r"""
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "requests": %d, "duration_us": %d, '
    .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeout_errors": %d, "non_2xx": %d}\n',
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, summary.requests,
    summary.duration, e.connect, e.read, e.write, e.timeout, e.status))
end
"""


def run(quick: bool) -> dict[str, Any]:
    """Start both servers, load them with wrk, return the figures (see the module docstring)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (Debian) and run again")
    duration = 3 if quick else 10
    from influence.api._settings import default_model_ref
    from influence.bundle import load_bundle

    model_ref = os.environ.get("INFLUENCE_MODEL") or default_model_ref()
    bundle = load_bundle(model_ref)
    deal_body, people_body, mlflow_body, in_process = _bodies(bundle)

    in_process.update(_asgi_in_process(bundle, "people", people_body, 500 if quick else 3000))
    in_process.update(_asgi_in_process(bundle, "deals", deal_body, 60 if quick else 300))
    result: dict[str, Any] = {
        "model": f"{bundle.name}/{bundle.version}",
        # The machine may be shared: the 1-minute load average before and after says how quiet it was.
        "load_average_before": os.getloadavg()[0],
        "load_generator": f"wrk ({_wrk_version(wrk)}), 1 thread, {duration} s per run after a 1 s warm-up "
        "at 1 connection; each run starts on an idle server",
        "workers": WORKERS,
        "in_process": in_process,
    }
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        script = folder / "post.lua"
        script.write_text(_LUA)
        bodies = {}
        for name, body in (("deal", deal_body), ("people", people_body), ("mlflow", mlflow_body)):
            bodies[name] = folder / f"{name}.json"
            bodies[name].write_text(json.dumps(body))

        model_uri, why_not = _registered_uri(bundle)
        ours: dict[str, Any] = {}
        peer: dict[str, Any] = {}
        with ExitStack() as stack:
            base = stack.enter_context(_serve_influence(model_ref))
            _check_ok(f"{base}/v1/people/score", bodies["people"])
            _check_ok(f"{base}/v1/deals/score", bodies["deal"])
            mlflow_base = None
            if model_uri is not None:
                mlflow_base = stack.enter_context(_serve_mlflow(model_uri))
                _check_ok(f"{mlflow_base}/invocations", bodies["mlflow"])
            # Both servers are up (idle ones cost nothing) and the runs alternate, so a change in the load of a
            # shared machine hits both sides alike.
            for connections in (1, 16):
                ours[f"people_c{connections}"] = _wrk(
                    wrk, f"{base}/v1/people/score", script, bodies["people"], connections, duration
                )
                if mlflow_base is not None:
                    peer[f"people_c{connections}"] = _wrk(
                        wrk, f"{mlflow_base}/invocations", script, bodies["mlflow"], connections, duration
                    )
                ours[f"deal_c{connections}"] = _wrk(
                    wrk, f"{base}/v1/deals/score", script, bodies["deal"], connections, duration
                )
        result["influence_serve"] = ours
        result["mlflow_models_serve"] = (
            {"model_uri": model_uri, **peer} if model_uri else {"skipped": why_not}
        )

    result["load_average_after"] = os.getloadavg()[0]
    result["ratios"] = _ratios(ours, peer, in_process)
    result["goals"] = _goals(ours, peer)
    return result


# -- bodies --------------------------------------------------------------------------------------------------------
def _bodies(bundle: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A generated deal with about 30 people as an API body; one of its feature rows for both servers; and the
    in-process peers (the Scorer on the same deal and the same row)."""
    import numpy as np

    from influence.api import deal_request_from_dataset
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import _SOURCES, _deal_answer, deal_frames, deal_tables
    from influence.contract import Dataset
    from influence.data import validate_frames
    from influence.features import build_features
    from influence.generate import generate
    from influence.predict import Scorer

    ds = generate(12, 11)
    bodies = {d: deal_request_from_dataset(ds, d) for d in ds.deals["deal_id"].astype(str)}
    deal_id = min(bodies, key=lambda d: (abs(len(bodies[d]["people"]) - DEAL_PEOPLE), d))
    body = bodies[deal_id]
    frames, _ = deal_frames(DealScoreRequest.model_validate(body))
    sub = Dataset.from_frames(frames)
    features = build_features(sub)
    row = features.iloc[0]
    names = list(bundle.feature_columns)
    values = [None if np.isnan(v) else float(v) for v in row[names].to_numpy(dtype=float)]
    people_body = {
        "rows": [
            {
                "person_id": str(row["person_id"]),
                "deal_id": deal_id,
                "features": dict(zip(names, values, strict=True)),
            }
        ]
    }
    mlflow_body = {
        "dataframe_split": {"columns": names, "data": [[float("nan") if v is None else v for v in values]]}
    }
    matrix = np.array([[np.nan if v is None else v for v in values]])
    scorer = Scorer(bundle)
    request = DealScoreRequest.model_validate(body)
    payload = json.dumps(body).encode()
    tables, _ = deal_tables(request)
    dataset, _ = validate_frames(tables, sources=_SOURCES)
    stages = {
        # The deal route's stages, on the same deal, as the route runs them: the body's JSON bytes -> pydantic
        # rows (one pass, api/_body.py), rows -> contract columns (API), validation of those columns (built into
        # the dataset's frames there; influence.data), scoring (influence.predict; of which the features).
        "deal_pydantic": lambda: DealScoreRequest.model_validate_json(payload),
        "deal_body_to_frames": lambda: deal_tables(request),
        "validate_frames": lambda: validate_frames(tables, sources=_SOURCES),
        "deal_features": lambda: build_features(dataset),
        "score_dataset": lambda: scorer.score_dataset(dataset),
        # the scored deal as the route's JSON-ready answer (a fresh result per call, as each request has)
        "deal_answer": lambda: _deal_answer(next(results), request),
    }
    results = iter([scorer.score_dataset(dataset) for _ in range(2 + 31)])
    in_process: dict[str, Any] = {}
    for name, fn in stages.items():
        wall, cpu = _stage_times(fn, 31)
        in_process[f"{name}_ms"] = wall
        in_process[f"{name}_cpu_ms"] = cpu
    row_s, _ = median_time(lambda: scorer.score_rows(matrix, explain=False), repeat=51)
    in_process.update(
        {
            # what scoring adds to the features: both models, contributions, reasons, coverage, frames
            "score_dataset_minus_features_cpu_ms": in_process["score_dataset_cpu_ms"]
            - in_process["deal_features_cpu_ms"],
            "score_rows_1_row_ms": row_s * 1e3,
            "deal_people_in_body": len(body["people"]),
            "deal_people_scored": len(scorer.score_dataset(sub).people),
            "deal_body_bytes": len(json.dumps(body)),
        }
    )
    return body, people_body, mlflow_body, in_process


def _stage_times(fn: Any, repeat: int) -> tuple[float, float]:
    """Median wall and CPU (process) milliseconds of `repeat` calls after two warm-up calls: on a shared machine the
    CPU time is the steadier measure of the work itself."""
    import statistics

    for _ in range(2):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3


def _asgi_in_process(bundle: Any, route: str, body: dict[str, Any], n: int) -> dict[str, float]:
    """The app's own cost per /v1/<route>/score request, called directly as ASGI (no socket, no HTTP parser, no
    load generator on the same cores): what the server adds on top of the scoring, isolated from the machine."""
    import asyncio
    import statistics

    from influence.api import ApiSettings, create_app

    app = create_app(ApiSettings(model="unused"), bundle=bundle)
    payload = json.dumps(body).encode()
    path = f"/v1/{route}/score"
    warm = 100 if route == "people" else 5
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]

    async def call() -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
        }  # fmt: skip
        messages = iter([{"type": "http.request", "body": payload, "more_body": False}])
        status = 0

        async def receive() -> dict[str, Any]:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    async def main() -> list[float]:
        samples = []
        async with app.router.lifespan_context(app):
            for i in range(n + warm):
                t0 = time.perf_counter()
                status = await call()
                if status != 200:
                    raise RuntimeError(f"in-process ASGI call to {path} answered {status}")
                if i >= warm:
                    samples.append(time.perf_counter() - t0)
        return samples

    samples = sorted(asyncio.run(main()))
    return {
        f"asgi_{route}_p50_ms": statistics.median(samples) * 1e3,
        f"asgi_{route}_p99_ms": samples[int(0.99 * (len(samples) - 1))] * 1e3,
    }


# -- servers -------------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # `mlflow models serve` execs `uvicorn` from PATH: the venv's bin folder must come first.
    env["PATH"] = f"{_venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


@contextmanager
def _server(cmd: list[str], ready_url: str, env: dict[str, str], timeout: float = 120.0) -> Iterator[None]:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            _wait_ready(proc, cmd, ready_url, log, timeout)
            yield
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen, cmd: list[str], url: str, log: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(
                f"{' '.join(cmd)} exited with {proc.returncode}:\n{log.read().decode()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(cmd)} did not become ready within {timeout:.0f} s")
        time.sleep(0.25)


def _stop(proc: subprocess.Popen) -> None:
    """The server runs in its own session: stop that whole group (uvicorn workers, mlflow's uvicorn child)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def _serve_influence(model_ref: str) -> Iterator[str]:
    port = _free_port()
    cmd = [
        str(_venv_bin() / "influence"), "serve", "--port", str(port), "--model", model_ref,
        "--workers", str(WORKERS), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = _env()
    env.pop("INFLUENCE_API_KEYS", None)
    with _server(cmd, f"http://127.0.0.1:{port}/readyz", env):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _serve_mlflow(model_uri: str) -> Iterator[str]:
    from influence.settings import mlflow_tracking_uri

    port = _free_port()
    cmd = [
        str(_venv_bin() / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "-w", str(WORKERS),
    ]  # fmt: skip
    env = _env()
    env.setdefault("MLFLOW_TRACKING_URI", mlflow_tracking_uri())
    with _server(cmd, f"http://127.0.0.1:{port}/ping", env):
        yield f"http://127.0.0.1:{port}"


def _registered_uri(bundle: Any) -> tuple[str | None, str]:
    """`models:/influence/<v>` of the registered version logged with this bundle (else the champion's)."""
    try:
        import mlflow

        from influence.settings import mlflow_tracking_uri
        from influence.tracking import BUNDLE_PATH_TAG, REGISTERED_MODEL

        uri = os.environ.get("MLFLOW_TRACKING_URI") or mlflow_tracking_uri()
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        versions = client.search_model_versions(f"name='{REGISTERED_MODEL}'")
    except Exception as exc:  # no store, no registry: the peer is skipped, and the report says why
        return None, f"MLflow registry not readable: {type(exc).__name__}: {exc}"
    if not versions:
        return None, f"no registered model {REGISTERED_MODEL!r}; run `influence train` first"
    wanted = str(bundle.path.resolve()) if bundle.path is not None else None
    for version in sorted(versions, key=lambda v: int(v.version), reverse=True):
        tags = client.get_run(version.run_id).data.tags if version.run_id else {}
        recorded = tags.get(BUNDLE_PATH_TAG)
        if wanted is not None and recorded is not None and str(Path(recorded).resolve()) == wanted:
            return f"models:/{REGISTERED_MODEL}/{version.version}", ""
    return None, f"no registered version of {REGISTERED_MODEL!r} was logged with bundle {bundle.describe()}"


# -- load generation -----------------------------------------------------------------------------------------------
def _check_ok(url: str, body: Path) -> None:
    request = urllib.request.Request(
        url, data=body.read_bytes(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"POST {url} answered {exc.code}: {exc.read()[:2000]!r}") from exc


def _drain(url: str, body: Path) -> None:
    """One blocking request per worker: returns once every worker has answered, i.e. its backlog is done."""
    for _ in range(WORKERS):
        _check_ok(url, body)


def _wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "wrk"


def _wrk(wrk: str, url: str, script: Path, body: Path, connections: int, duration: int) -> dict[str, Any]:
    env = {**os.environ, "WRK_BODY_FILE": str(body)}
    # Warm up with one connection, then wait until the server is idle: wrk stops without waiting for the answers
    # it has in flight, and a server still working off a backlog would slow the measured run down.
    _drain(url, body)
    subprocess.run(
        [wrk, "-t1", "-c1", "-d1s", "-s", str(script), url], env=env, capture_output=True, check=True
    )
    _drain(url, body)
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), "--timeout", "30s", url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    _drain(url, body)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix("RESULT "))
    errors = sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeout_errors", "non_2xx")
    )
    if errors:
        raise RuntimeError(f"wrk saw {errors} failed requests on {url}: {raw}")
    if raw["requests"] == 0:  # nothing finished within the run: no latency to report, and no throughput
        return {"connections": connections, "requests": 0, "rps": 0.0, "p50_ms": None, "p90_ms": None,
                "p99_ms": None, "max_ms": None}  # fmt: skip
    return {
        "connections": connections,
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1e3,
        "p90_ms": raw["p90_us"] / 1e3,
        "p99_ms": raw["p99_us"] / 1e3,
        "max_ms": raw["max_us"] / 1e3,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _ratios(
    ours: dict[str, Any], peer: dict[str, Any], in_process: dict[str, Any]
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for c in (1, 16):
        key = f"people_c{c}"
        if key in peer:
            out[f"people_rps_ours_over_mlflow_c{c}"] = _ratio(ours[key]["rps"], peer[key]["rps"])
            out[f"people_p50_mlflow_over_ours_c{c}"] = _ratio(peer[key]["p50_ms"], ours[key]["p50_ms"])
    stages = (
        in_process["deal_pydantic_ms"]
        + in_process["deal_body_to_frames_ms"]
        + in_process["validate_frames_ms"]
        + in_process["score_dataset_ms"]
    )
    out["deal_p50_http_over_in_process_stages_c1"] = _ratio(ours["deal_c1"]["p50_ms"], stages)
    out["deal_p50_http_over_asgi_in_process_c1"] = _ratio(
        ours["deal_c1"]["p50_ms"], in_process.get("asgi_deals_p50_ms")
    )
    return out


def _at_most(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def _goals(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    goals: dict[str, Any] = {
        "people_p50_ms<=2": _at_most(ours["people_c1"]["p50_ms"], GOALS["people_p50_ms"]),
        "people_p99_ms<=10": _at_most(ours["people_c1"]["p99_ms"], GOALS["people_p99_ms"]),
        "people_rps>=1000": max(ours["people_c1"]["rps"], ours["people_c16"]["rps"]) >= GOALS["people_rps"],
        "deal_p50_ms<=30": _at_most(ours["deal_c1"]["p50_ms"], GOALS["deal_p50_ms"]),
    }
    if "people_c16" in peer:
        goals["people_rps>=2x_mlflow"] = (
            ours["people_c16"]["rps"] >= GOALS["vs_mlflow"] * peer["people_c16"]["rps"]
        )
    return goals
