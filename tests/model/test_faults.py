"""Faults: a bad model stops the server before it starts, an unreachable tracking server only costs a warning,
and an interrupted batch job leaves nothing that looks complete while a rerun finishes the job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.bundle import BundleError, load_bundle, sha256_file
from influence.cli import app
from influence.contract import write_dataset
from influence.generate import generate
from influence.settings import default_model_path

runner = CliRunner()


@pytest.fixture(scope="module")
def shipped_bundle() -> Path:
    try:
        return load_bundle(default_model_path()).path
    except BundleError as exc:
        pytest.fail(f"the shipped model does not load ({exc}); run `make train`")


@pytest.fixture
def bundle_copy(shipped_bundle, tmp_path) -> Path:
    target = tmp_path / "models" / "copy" / shipped_bundle.name
    shutil.copytree(shipped_bundle, target)
    return target


def _break(folder: Path, fault: str) -> str:
    """Damage a bundle copy; returns a fragment the error message must contain."""
    if fault == "missing file":
        (folder / "influence.joblib").unlink()
        return f"model artifact {folder / 'influence.joblib'} is missing"
    if fault == "checksum mismatch":
        data = bytearray((folder / "profile.joblib").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "profile.joblib").write_bytes(bytes(data))
        return f"checksum mismatch for {folder / 'profile.joblib'}"
    if fault == "corrupt with matching checksum":
        # The checksum is re-signed, so only unpickling can notice: the message must still name the model.
        (folder / "influence.joblib").write_bytes(b"not a pickle at all")
        meta = json.loads((folder / "metadata.json").read_text())
        meta["artifacts"]["influence.joblib"] = sha256_file(folder / "influence.joblib")
        (folder / "metadata.json").write_text(json.dumps(meta))
        return f"model artifact {folder / 'influence.joblib'} failed to load"
    if fault == "unreadable metadata":
        (folder / "metadata.json").write_text("{ truncated")
        return f"{folder / 'metadata.json'} is not readable JSON"
    if fault == "no bundle at all":
        shutil.rmtree(folder)
        return f"no model bundle at {folder}"
    raise AssertionError(fault)


FAULTS = [
    "missing file",
    "checksum mismatch",
    "corrupt with matching checksum",
    "unreadable metadata",
    "no bundle at all",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_serve_refuses_to_start_with_a_clear_message(bundle_copy, fault) -> None:
    expected = _break(bundle_copy, fault)
    result = runner.invoke(app, ["serve", "--model", str(bundle_copy), "--port", "1"])
    assert result.exit_code == 1
    assert "error: cannot serve:" in result.output and expected in result.output
    assert "hint:" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("fault", ["missing file", "checksum mismatch", "corrupt with matching checksum"])
def test_app_factory_fails_at_startup_not_at_first_request(bundle_copy, fault) -> None:
    from fastapi.testclient import TestClient

    from influence.api import ApiSettings, create_app

    _break(bundle_copy, fault)
    application = create_app(ApiSettings(model=str(bundle_copy)))
    with pytest.raises(BundleError, match=str(bundle_copy)), TestClient(application):
        pass


def test_the_intact_copy_serves(bundle_copy) -> None:
    """Control for the tests above: the same copy, undamaged, starts and answers."""
    from fastapi.testclient import TestClient

    from influence.api import ApiSettings, create_app

    with TestClient(create_app(ApiSettings(model=str(bundle_copy)))) as client:
        assert client.get("/readyz").status_code == 200


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_training_writes_the_bundle_and_warns_when_tracking_is_unreachable(tmp_path) -> None:
    data = tmp_path / "train"
    write_dataset(generate(30, seed=77), data)
    config = tmp_path / "small.toml"
    config.write_text(
        "[influence]\nmax_iter = 20\nn_iter_no_change = 5\n[profile]\nmax_iter = 10\nn_iter_no_change = 5\n"
    )
    uri = f"http://127.0.0.1:{_closed_port()}"
    env = {"MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    result = runner.invoke(
        app,
        ["train", str(data), "--config", str(config), "--out", str(tmp_path / "models"), "--name", "t"],
        env=env,
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert "warning: MLflow tracking failed" in result.output and uri in result.output
    assert "the local bundle is unaffected" in result.output
    bundle = load_bundle(tmp_path / "models" / "t")  # written, and it verifies
    assert bundle.name == "t"
    # MLflow's own retry defaults would take about 4 minutes here; the tracking code gives up within seconds.
    assert elapsed < 120, f"training took {elapsed:.0f} s with the tracking server down"


@pytest.fixture(scope="module")
def batch_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("batch") / "data"
    write_dataset(generate(12, seed=5), folder)
    return folder


def _people_count(ds_folder: Path) -> int:
    from influence.batch import score_accounts

    out = ds_folder.parent / "reference.csv"
    if not out.exists():
        score_accounts(ds_folder, out, explain=False, progress=False)
    return len(pd.read_csv(out))


def test_a_failing_batch_job_leaves_no_output_and_a_rerun_completes(
    batch_folder, tmp_path, monkeypatch
) -> None:
    from influence.batch import score_accounts
    from influence.predict import Scorer

    out = tmp_path / "scores.csv"
    original = Scorer.score_dataset
    calls = {"n": 0}

    def failing(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (injected)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Scorer, "score_dataset", failing)
    with pytest.raises(OSError, match="injected"):
        score_accounts(batch_folder, out, chunk_accounts=3, explain=False, progress=False)
    assert calls["n"] == 3  # two chunks were written to the temporary file before the failure
    assert list(tmp_path.iterdir()) == []  # no output, and the temporary file was removed

    monkeypatch.setattr(Scorer, "score_dataset", original)
    summary = score_accounts(batch_folder, out, chunk_accounts=3, explain=False, progress=False)
    assert summary.accounts_scored == 12
    assert len(pd.read_csv(out)) == summary.people == _people_count(batch_folder)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_killed_batch_job_leaves_nothing_that_looks_complete(batch_folder, tmp_path) -> None:
    out = tmp_path / "scores.parquet"
    command = [
        str(Path(sys.executable).parent / "influence"), "score", str(batch_folder), "--out", str(out),
        "--chunk-accounts", "1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    # Kill it once it has written part of its output (a temporary file exists), i.e. truly mid-run.
    while not list(tmp_path.glob(".scores.parquet.*.tmp")):
        if job.poll() is not None or time.monotonic() > deadline:
            job.kill()
            pytest.fail(f"the job ended before it could be interrupted: {job.communicate()[1][-500:]!r}")
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait(30)
    assert job.returncode == -signal.SIGKILL
    assert not out.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert all(name.startswith(".") and name.endswith(".tmp") for name in leftovers), leftovers

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert len(pd.read_parquet(out)) == _people_count(batch_folder)
