"""`influence score --engine spark` gives the single-machine results: same people, same order, influence to 1e-9,
same profiles and reasons; executors refuse a model file whose checksum does not match.

Needs pyspark (`pip install -e '.[spark]'`) and Java 17; skipped, saying so, only when pyspark is not importable.
One local[2] session is shared by the module (starting Spark is most of the cost).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.bundle import BundleError, load_bundle
from influence.contract import write_dataset
from influence.generate import generate
from influence.settings import default_model_path

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
needs_spark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None,
    reason="pyspark is not importable: pip install -e '.[spark]' (and a Java 17 runtime) to run the Spark tests",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("spark") / "data"
    write_dataset(generate(10, seed=606), target)
    return target


@pytest.fixture(scope="module")
def session():
    from influence.spark import spark_session

    spark = spark_session("local[2]", app_name="influence tests")
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def single_machine(folder) -> pd.DataFrame:
    from influence.batch import score_accounts

    out = folder.parent / "local.parquet"
    score_accounts(folder, out, progress=False)
    return pd.read_parquet(out)


@needs_spark
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_spark_scores_equal_the_single_machine_path(folder, session, single_machine, tmp_path) -> None:
    from influence.spark import score_with_spark

    out = tmp_path / "spark.parquet"
    # Chunks of 3 accounts over 2 executor cores: many tasks, so a mix-up between chunks would show.
    summary = score_with_spark(folder, out, spark=session, chunk_accounts=3)
    spark = pd.read_parquet(out)
    assert summary.people == len(spark) == len(single_machine) > 100
    assert summary.accounts_scored == 10
    assert list(spark.columns) == list(single_machine.columns)
    keys = ["account_id", "deal_id", "person_id"]
    pd.testing.assert_frame_equal(spark[keys], single_machine[keys])  # same people, same order
    np.testing.assert_allclose(spark["influence"], single_machine["influence"], rtol=0, atol=1e-9)
    assert (spark["profile"] == single_machine["profile"]).all()
    assert (spark["influence_rank"] == single_machine["influence_rank"]).all()
    assert [list(r) for r in spark["reasons"]] == [list(r) for r in single_machine["reasons"]]
    assert session.sparkContext.defaultParallelism == 2  # the session was reused, not replaced


@needs_spark
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_engine_spark_writes_the_same_csv(folder, session, single_machine, tmp_path) -> None:
    from influence.cli import app

    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", str(folder), "--out", str(out), "--engine", "spark"])
    assert result.exit_code == 0, result.output
    assert "engine: spark" in result.output
    frame = pd.read_csv(out)
    assert len(frame) == len(single_machine)
    np.testing.assert_allclose(frame["influence"], single_machine["influence"], rtol=0, atol=1e-9)


def test_cli_rejects_spark_only_options_without_spark(folder, tmp_path) -> None:
    from influence.cli import app

    args = ["score", str(folder), "--out", str(tmp_path / "x.csv")]
    result = CliRunner().invoke(app, [*args, "--spark-master", "local[1]"])
    assert result.exit_code == 1 and "--spark-master needs --engine spark" in result.output
    result = CliRunner().invoke(app, [*args, "--engine", "dask"])
    assert result.exit_code == 1 and "use local or spark" in result.output


def test_executors_verify_the_broadcast_bundle() -> None:
    from influence.spark import bundle_files, bundle_from_files

    files = bundle_files(load_bundle(default_model_path()))
    rebuilt = bundle_from_files(files)
    x = np.zeros((1, len(rebuilt.feature_columns)))
    assert rebuilt.predict_influence(x).shape == (1,)
    tampered = dict(files)
    data = bytearray(tampered["profile.joblib"])
    data[100] ^= 0x01
    tampered["profile.joblib"] = bytes(data)
    with pytest.raises(BundleError, match="checksum mismatch for broadcast model file profile.joblib"):
        bundle_from_files(tampered)


@needs_spark
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_many_small_waves_give_the_same_rows_in_the_same_order(
    folder, session, single_machine, tmp_path, monkeypatch
) -> None:
    import influence.spark as spark_module

    # 1 chunk per core and wave, 1 account per chunk: 10 chunks in 5 waves of 2, two waves in flight at a time,
    # so results arrive out of order across jobs and must still be written in account order.
    monkeypatch.setattr(spark_module, "WAVE_TASKS_PER_CORE", 1)
    out = tmp_path / "waves.parquet"
    summary = spark_module.score_with_spark(folder, out, spark=session, chunk_accounts=1)
    waves = pd.read_parquet(out)
    assert summary.accounts_scored == 10 and summary.people == len(single_machine)
    keys = ["account_id", "deal_id", "person_id"]
    pd.testing.assert_frame_equal(waves[keys], single_machine[keys])
    np.testing.assert_allclose(waves["influence"], single_machine["influence"], rtol=0, atol=1e-9)


@needs_spark
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_failing_wave_writes_nothing_and_keeps_the_previous_file(
    folder, session, tmp_path, monkeypatch
) -> None:
    import influence.spark as spark_module

    real = spark_module.bundle_files

    def tampered(bundle):  # the driver broadcasts bytes that no longer match the verified metadata
        files = dict(real(bundle))
        files["influence.joblib"] = files["influence.joblib"][:-1] + bytes(
            [files["influence.joblib"][-1] ^ 1]
        )
        return files

    monkeypatch.setattr(spark_module, "bundle_files", tampered)
    monkeypatch.setattr(spark_module, "WAVE_TASKS_PER_CORE", 1)
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"the previous run's file")
    with pytest.raises(Exception, match="checksum mismatch for broadcast model file influence.joblib"):
        spark_module.score_with_spark(folder, out, spark=session, chunk_accounts=2)
    assert out.read_bytes() == b"the previous run's file"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]  # no temporary file left behind
    assert session.sparkContext.defaultParallelism == 2  # the shared session still works
