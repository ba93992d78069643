"""MLflow tracking for the jobs: one small, generic helper that records a finished run.

``log_run`` talks to MLflow through an :class:`mlflow.MlflowClient` bound to
``config.tracking_uri`` (a sqlite file under ``<root>/ops`` locally, the workspace on
Databricks), so it never changes MLflow's process-global tracking URI or active run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medallion.config import Config

log = logging.getLogger(__name__)

_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value


# Held while a client opens its store: MLflow keeps one store per URI for the process, and a
# sqlite one is created or upgraded when it is first opened (not safe twice at once).
_opening = threading.Lock()


def open_store(config: Config) -> None:
    """Open the tracking store ahead of the first run: ``runtime.preload`` calls it on a background
    thread while the JVM starts. Opening a local sqlite store the first time creates its database
    (about 2 s); a run logged meanwhile waits for it instead of opening it a second time."""
    _client(config)


def _client(config: Config):
    from mlflow import MlflowClient

    uri = config.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with _opening:
        return MlflowClient(tracking_uri=uri)


def _make_workspace_folder(folder: str) -> None:
    """Databricks creates an experiment only inside an existing workspace folder
    (RESOURCE_DOES_NOT_EXIST otherwise), e.g. /Shared/medallion/<catalog> for the default name."""
    if not folder:
        return
    try:
        from databricks.sdk import WorkspaceClient

        WorkspaceClient().workspace.mkdirs(folder)
    except Exception as exc:  # create_experiment below then reports the real problem
        log.warning("could not create the workspace folder %s for the MLflow experiment: %s", folder, exc)


def _experiment_id(client, config: Config) -> str:
    from mlflow.exceptions import MlflowException

    name = config.experiment
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    artifact_location = None
    if config.tracking_uri.startswith("sqlite:///"):
        # keep artifacts next to the tracking database, not in ./mlruns of the current directory
        db = Path(config.tracking_uri.removeprefix("sqlite:///"))
        artifact_location = (db.parent / "mlartifacts").absolute().as_uri()
    if config.tracking_uri.startswith("databricks") and name.startswith("/"):
        _make_workspace_folder(name.rsplit("/", 1)[0])
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:  # created concurrently by another job
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def log_run(
    config: Config,
    run_name: str,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float | int | None] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Record one finished MLflow run (params, metrics, tags) in ``config.experiment``.

    Params and tags are stringified (params truncated to MLflow's 6000 characters); metrics
    that are None or not finite are dropped. Returns the MLflow run id.
    """
    from mlflow.entities import Metric, Param

    client = _client(config)
    experiment_id = _experiment_id(client, config)
    run = client.create_run(
        experiment_id, run_name=run_name, tags={str(k): str(v) for k, v in (tags or {}).items()}
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metric_entities = [
        Metric(str(k), float(v), now, 0)
        for k, v in (metrics or {}).items()
        if v is not None and math.isfinite(float(v))
    ]
    param_entities = [Param(str(k), str(v)[:_MAX_PARAM_CHARS]) for k, v in (params or {}).items()]
    try:
        client.log_batch(run_id, metrics=metric_entities, params=param_entities)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    log.debug("logged MLflow run %s (%s) to %s", run_name, run_id, config.tracking_uri)
    return run_id
