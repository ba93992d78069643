"""MLflow tracking: a command's local tracking store is opened on a background thread while Spark
starts (`runtime.preload`), once, and a run logged meanwhile waits for it (real MLflow, sqlite)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from medallion.config import Config
from medallion.runtime import preload
from medallion.tracking import log_run


def local(tmp_path) -> Config:
    return Config(environment="local", root=str(tmp_path / "warehouse"), engine="delta-rs")


def test_preload_creates_the_local_tracking_database_before_the_first_run(tmp_path):
    config = local(tmp_path)
    database = tmp_path / "warehouse" / "ops" / "mlflow.db"
    preload(modules=(), config=None).join()
    assert not database.exists()  # a command that records no run opens no store
    preload(modules=(), config=config).join()
    assert database.exists()
    run_id = log_run(config, "after the preload", metrics={"rows": 3})
    assert MlflowClient(tracking_uri=config.tracking_uri).get_run(run_id).data.metrics == {"rows": 3.0}


@pytest.mark.slow
def test_a_run_logged_while_the_store_is_being_created_is_recorded(tmp_path):
    config = local(tmp_path)
    opening = preload(modules=(), config=config)  # creating the database takes seconds
    run_ids = [log_run(config, f"run {i}", params={"i": i}) for i in range(2)]
    opening.join()
    client = MlflowClient(tracking_uri=config.tracking_uri)
    assert [client.get_run(r).data.params for r in run_ids] == [{"i": "0"}, {"i": "1"}]
