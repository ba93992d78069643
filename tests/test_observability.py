"""The observability resources of the bundle (resources/observability.yml, resources/secrets.yml):
the ops dashboard, the SQL alerts, the quality monitors, the experiment and the secret scope.

- bundle checks (no Spark): every target deploys each of them, the alerts' thresholds are the bundle
  variables the jobs get, the monitors watch the registry's feature tables by their time-series key,
  the secret scope is managed by prod alone and only the principals that need it can read it;
- the dashboard's and the alerts' SQL analysed on Spark against empty tables of the registry's
  schemas: every table and column they name exists, every widget reads an existing dataset and
  encodes only fields of its query, which name only columns of that dataset;
- (slow) a real local pipeline run: every dashboard query runs on the real ops tables and returns
  rows, no alert fires after a healthy run, the gold-freshness alert fires evaluated 3 hours later,
  and a batch with many invalid rows (silver gate in warn mode) fires the quality and the quarantine
  alerts naming silver.events.

The alerts' queries are run as the prod target deploys them, their qualified names
(<catalog>.<ops schema>.<table>) rewritten to temp views of the local tables and current_timestamp()
replaced by a fixed instant, so "as of" any time can be evaluated honestly.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from medallion.tables.registry import FEATURE_TABLES, TABLES
from test_bundle import (
    FILES,
    ROOT,
    TARGETS,
    deployed_document,
    merged_document,
    parse_flags,
    resolved_variables,
    target_spec,
    target_variable_values,
)

DASHBOARD_KEY = "medallion_ops"
ALERTS = {"quality_score_low", "quarantine_rate_high", "gold_stale"}
MONITORED = {spec.name for spec in FEATURE_TABLES}
OPS = {spec.name: spec for spec in TABLES if spec.layer == "ops"}


def _dashboard_file() -> Path:
    dashboards = merged_document(FILES, "prod")["resources"]["dashboards"]
    return ROOT / "resources" / dashboards[DASHBOARD_KEY]["file_path"]


DASHBOARD = json.loads(_dashboard_file().read_text(encoding="utf-8"))


def dataset_sql(dataset: dict[str, Any]) -> str:
    return "".join(dataset["queryLines"])


def widgets() -> list[dict[str, Any]]:
    return [
        item["widget"] for page in DASHBOARD["pages"] for item in page["layout"] if "spec" in item["widget"]
    ]


# --------------------------------------------------------------------------------------------------
# Bundle checks
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_deploys_the_observability_resources(target: str) -> None:
    resources = merged_document(FILES, target)["resources"]
    assert set(resources.get("alerts") or {}) == ALERTS, target
    assert set(resources.get("quality_monitors") or {}) == MONITORED, target
    assert set(resources.get("dashboards") or {}) == {DASHBOARD_KEY}, target
    assert "medallion" in (resources.get("experiments") or {}), target
    # the secret scope is the workspace's: only prod manages it (docs/deploy.md "Secrets")
    assert bool(resources.get("secret_scopes")) == (target == "prod"), target


@pytest.mark.parametrize("target", TARGETS)
def test_alert_thresholds_are_the_variables_the_jobs_use(target: str) -> None:
    """The alerts and the jobs read one bundle variable per threshold, so they cannot drift."""
    raw = merged_document(FILES, target)
    values = resolved_variables(FILES, target)
    alerts = raw["resources"]["alerts"]
    assert f"quality_score < {values['min_quality_score']}" in alerts["quality_score_low"]["query_text"]
    assert (
        f"quarantine_rate > {values['max_quarantine_rate']}" in alerts["quarantine_rate_high"]["query_text"]
    )
    assert f"> {values['gold_freshness_slo_minutes']}" in alerts["gold_stale"]["query_text"]
    flags_seen = {"min-quality-score": 0, "max-quarantine-rate": 0}
    for key, job in raw["resources"]["jobs"].items():
        if key == "integration_test":  # its own it_ schemas, the Config defaults
            continue
        defaults = {p["name"]: p.get("default") for p in job.get("parameters") or []}
        for task in job.get("tasks") or []:
            wheel = task.get("python_wheel_task")
            if not wheel:
                continue
            for name, value in parse_flags(wheel["parameters"]):
                if name in flags_seen:
                    flags_seen[name] += 1
                    parameter = re.fullmatch(r"\{\{job\.parameters\.(\w+)\}\}", str(value))
                    assert parameter, f"{target}: --{name}={value} is not a job parameter"
                    variable = name.replace("-", "_")
                    assert defaults[parameter[1]] == values[variable], (target, name)
    assert flags_seen["min-quality-score"] >= 4 and flags_seen["max-quarantine-rate"] >= 3, flags_seen
    # in the YAML itself both sides are the variable, not a copy of its value
    text = {f.name: str(f.doc) for f in FILES}
    assert "${var.min_quality_score}" in text["resources/observability.yml"]
    assert "${var.max_quarantine_rate}" in text["resources/pipeline.yml"]
    assert "'0.05'" not in text["resources/pipeline.yml"] and "'0.95'" not in text["resources/bronze.yml"]


@pytest.mark.parametrize("target", TARGETS)
def test_alerts_notify_the_targets_destinations(target: str) -> None:
    doc = merged_document(FILES, target)
    values = resolved_variables(FILES, target)
    for key, alert in doc["resources"]["alerts"].items():
        subscriptions = alert["evaluation"]["notification"]["subscriptions"]
        emails = [s.get("user_email") for s in subscriptions if "user_email" in s]
        destinations = [s.get("destination_id") for s in subscriptions if "destination_id" in s]
        assert emails == [values["notification_email"]], key
        if target == "dev":
            assert destinations == [], f"dev sends email only ({key})"
        else:
            assert destinations == ["${var.alert_destination_id}"], (target, key)
        assert alert["warehouse_id"] == "${var.warehouse_id}"
        evaluation = alert["evaluation"]
        assert evaluation["empty_result_state"] == "OK", "no row = healthy"
        assert (evaluation["source"]["aggregation"], evaluation["comparison_operator"]) == (
            "COUNT",
            "GREATER_THAN",
        )
        assert evaluation["threshold"]["value"]["double_value"] == 0


@pytest.mark.parametrize("target", TARGETS)
def test_monitors_watch_the_registry_feature_tables(target: str) -> None:
    doc = deployed_document(FILES, target)
    schemas = {key: s["name"] for key, s in doc["resources"]["schemas"].items()}
    catalog = target_variable_values(FILES, target)["catalog"]
    specs = {spec.name: spec for spec in FEATURE_TABLES}
    for key, monitor in doc["resources"]["quality_monitors"].items():
        table = monitor["table_name"].split(".")
        assert table == [catalog, schemas["gold"], key], monitor["table_name"]
        assert monitor["time_series"] == {
            "timestamp_col": specs[key].timeseries_key,
            "granularities": ["1 day"],
        }
        assert monitor["output_schema_name"] == f"{catalog}.{schemas['ops']}"
        assert monitor["notifications"]["on_failure"]["email_addresses"]
        assert monitor["assets_dir"].startswith("/Workspace/") and monitor["assets_dir"].endswith(key)


def test_the_jobs_log_to_the_deployed_experiment() -> None:
    for target in TARGETS:
        doc = merged_document(FILES, target)
        for key, job in doc["resources"]["jobs"].items():
            for task in job.get("tasks") or []:
                flags = dict(parse_flags((task.get("python_wheel_task") or {}).get("parameters") or []))
                if key == "integration_test":  # writes to its own it_ schemas and experiment
                    assert "mlflow-experiment" not in flags
                    continue
                assert flags.get("mlflow-experiment") == "${resources.experiments.medallion.name}", (
                    f"{target}:{key}/{task['task_key']}"
                )


def effective_scope_acl(target: str) -> dict[str, str]:
    """The secret scope's ACL as the CLI applies it: its own permissions, plus the bundle-level
    permissions mapped like ApplyBundlePermissions does (CAN_MANAGE -> MANAGE, CAN_VIEW -> READ,
    CAN_RUN: no secret-scope level), a principal already listed keeping its own level."""
    doc = merged_document(FILES, target)
    (scope,) = doc["resources"]["secret_scopes"].values()
    acl = {}
    for p in scope.get("permissions") or []:
        acl[p.get("service_principal_name") or p.get("group_name") or p.get("user_name")] = p["level"]
    mapping = {"CAN_MANAGE": "MANAGE", "CAN_VIEW": "READ"}
    for p in target_spec(FILES, target).get("permissions") or []:
        who = p.get("service_principal_name") or p.get("group_name") or p.get("user_name")
        if p["level"] in mapping and who not in acl:
            acl[who] = mapping[p["level"]]
    return acl


def test_only_the_run_as_principal_and_the_engineers_can_read_the_secret_scope() -> None:
    doc = merged_document(FILES, "prod")
    (scope,) = doc["resources"]["secret_scopes"].values()
    assert scope["name"] == target_variable_values(FILES, "prod")["secret_scope"]
    assert scope["backend_type"] == "AZURE_KEYVAULT"
    assert scope["keyvault_metadata"] == {
        "resource_id": "${var.keyvault_resource_id}",
        "dns_name": "${var.keyvault_dns_name}",
    }
    assert scope["lifecycle"] == {"prevent_destroy": True}
    values = target_variable_values(FILES, "prod")
    assert effective_scope_acl("prod") == {
        "${var.run_as_service_principal}": "MANAGE",
        values["engineers_group"]: "READ",
    }


def test_dashboard_is_parameterised_by_the_targets_ops_schema() -> None:
    for target in TARGETS:
        dashboard = deployed_document(FILES, target)["resources"]["dashboards"][DASHBOARD_KEY]
        schemas = deployed_document(FILES, target)["resources"]["schemas"]
        assert dashboard["dataset_catalog"] == target_variable_values(FILES, target)["catalog"]
        assert dashboard["dataset_schema"] == schemas["ops"]["name"], target
        assert dashboard["file_path"].endswith(".lvdash.json") and _dashboard_file().is_file()


def test_dashboard_widgets_reference_datasets_and_their_fields() -> None:
    names = [d["name"] for d in DASHBOARD["datasets"]]
    assert len(names) == len(set(names)) and all(d.get("displayName") for d in DASHBOARD["datasets"])
    used = set()
    kinds = set()
    for widget in widgets():
        spec = widget["spec"]
        kinds.add(spec["widgetType"])
        assert spec["version"] in (2, 3) and spec["frame"]["title"], widget["name"]
        (query,) = widget["queries"]
        assert query["query"]["datasetName"] in names, widget["name"]
        used.add(query["query"]["datasetName"])
        fields = {f["name"] for f in query["query"]["fields"]}
        encoded = {
            e["fieldName"] for e in spec["encodings"].values() if isinstance(e, dict) and "fieldName" in e
        }
        assert encoded and encoded <= fields, (widget["name"], encoded - fields)
    assert used == set(names), f"datasets no widget shows: {set(names) - used}"
    assert kinds <= {"line", "bar", "area", "counter", "scatter"}, "charts, not tables of numbers"


# --------------------------------------------------------------------------------------------------
# SQL on Spark
# --------------------------------------------------------------------------------------------------

TABLE_NAME = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)", re.I)


def widget_columns(widget: dict[str, Any]) -> set[str]:
    """Dataset columns a widget's field expressions name (`col`)."""
    return {
        column
        for field in widget["queries"][0]["query"]["fields"]
        for column in re.findall(r"`([^`]+)`", field["expression"])
        if column != "*"
    }


def alert_sql(target: str = "prod") -> dict[str, str]:
    return {
        key: a["query_text"] for key, a in deployed_document(FILES, target)["resources"]["alerts"].items()
    }


def as_of(sql: str, at: dt.datetime, views: dict[str, str]) -> str:
    """``sql`` evaluated at ``at`` (UTC) with its qualified table names mapped to temp views."""
    for qualified, view in views.items():
        sql = sql.replace(qualified, view)
    stamp = at.strftime("%Y-%m-%d %H:%M:%S")
    sql = sql.replace("current_timestamp()", f"TIMESTAMP'{stamp}'")
    return sql.replace("current_date()", f"DATE'{at.date().isoformat()}'")


def register_ops_views(spark, frames: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Temp views of the ops tables: named like the tables (what the dashboard's dataset_schema
    resolves unqualified names to) and the alerts' qualified prod names mapped to them."""
    doc = deployed_document(FILES, "prod")
    catalog = target_variable_values(FILES, "prod")["catalog"]
    ops_schema = doc["resources"]["schemas"]["ops"]["name"]
    views = {}
    for name, frame in frames.items():
        frame.createOrReplaceTempView(prefix + name)
        views[f"{catalog}.{ops_schema}.{name}"] = prefix + name
    return views


def test_queries_name_only_registry_tables_and_columns(spark) -> None:
    """Analysed (not run) against empty tables of the registry's schemas: every table and column the
    dashboard and the alerts name exists, and every column a widget encodes is its dataset's."""
    frames = {name: spark.createDataFrame([], spec.schema_for()) for name, spec in OPS.items()}
    views = register_ops_views(spark, frames)
    for dataset in DASHBOARD["datasets"]:
        sql = dataset_sql(dataset)
        for table in TABLE_NAME.findall(sql):
            assert table in OPS, f"dataset {dataset['name']} reads {table}, not an ops table of the registry"
        columns = set(spark.sql(as_of(sql, dt.datetime(2026, 1, 1), {})).columns)
        for widget in widgets():
            if widget["queries"][0]["query"]["datasetName"] == dataset["name"]:
                assert widget_columns(widget) <= columns, (widget["name"], widget_columns(widget) - columns)
    for key, sql in alert_sql().items():
        tables = TABLE_NAME.findall(sql)
        assert tables and all(t in views for t in tables), (key, tables)
        result = spark.sql(as_of(sql, dt.datetime(2026, 1, 1), views))
        assert "table_name" in result.columns, key  # the evaluated (counted) column


@pytest.fixture(scope="module")
def pipeline_root(spark, tmp_path_factory) -> Path:
    """A warehouse after one real, healthy local run (bronze, silver, gold, maintenance)."""
    from medallion.cli import main
    from medallion.synthetic import SyntheticSpec, write_landing

    base = tmp_path_factory.mktemp("observability")
    landing, root = base / "landing", base / "warehouse"
    write_landing(
        SyntheticSpec(seed=3, users=30, videos=15, days=2, events_per_day=80, files_per_day=1), landing
    )
    argv = ["local", "--events", str(landing), "--root", str(root), "--engine", "delta-rs", "--maintenance"]
    assert main([*argv, "--shuffle-partitions", "2", "--log-level", "WARNING"]) == 0
    return root


def read_ops(spark, root: Path) -> dict[str, Any]:
    from medallion.config import Config
    from medallion.storage import get_storage

    config = Config(environment="local", root=str(root), engine="delta-rs")
    storage = get_storage(spark, config)
    return {
        name: storage.read(config.table("ops", name))
        for name in ("runs", "silver_runs", "quality_results", "maintenance_runs")
        if (root / "ops" / name).exists()
    }


def fired(spark, views: dict[str, str], at: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    return {
        key: [row.asDict() for row in spark.sql(as_of(sql, at, views)).collect()]
        for key, sql in alert_sql().items()
    }


@pytest.mark.slow
def test_dashboard_and_alerts_on_a_real_pipeline_run(spark, pipeline_root, capsys) -> None:
    from medallion.cli import main
    from medallion.synthetic import SyntheticSpec, write_landing

    frames = read_ops(spark, pipeline_root)
    assert set(frames) == {"runs", "silver_runs", "quality_results", "maintenance_runs"}
    views = register_ops_views(spark, frames)
    last_run = frames["runs"].agg({"started_time": "max"}).first()[0].replace(tzinfo=None)
    now = last_run + dt.timedelta(minutes=5)

    # every dashboard dataset runs on the real tables, returns rows and the columns its widgets use
    for dataset in DASHBOARD["datasets"]:
        result = spark.sql(as_of(dataset_sql(dataset), now, {}))
        rows = result.collect()
        assert rows, f"dataset {dataset['name']} is empty after a full run"
        for widget in widgets():
            if widget["queries"][0]["query"]["datasetName"] == dataset["name"]:
                assert widget_columns(widget) <= set(result.columns), widget["name"]
    freshness = {
        r["layer"]: r["minutes_since_success"]
        for r in spark.sql(
            as_of(
                dataset_sql(next(d for d in DASHBOARD["datasets"] if d["name"] == "run_freshness")), now, {}
            )
        ).collect()
    }
    assert {"bronze", "silver", "gold"} <= set(freshness) and freshness["gold"] <= 10

    # healthy: no alert fires; three hours later gold is stale (SLO 120 min in prod)
    assert fired(spark, views, now) == {key: [] for key in ALERTS}
    later = fired(spark, views, now + dt.timedelta(hours=3))
    assert [r["table_name"] for r in later["gold_stale"]] == ["gold"]
    assert later["gold_stale"][0]["minutes_since_success"] >= 180
    assert later["quality_score_low"] == [] and later["quarantine_rate_high"] == []

    # a batch with many invalid rows, silver gate in warn mode: the batch is published, the check
    # recorded as failed
    bad = SyntheticSpec(
        seed=4,
        users=30,
        videos=15,
        days=1,
        events_per_day=80,
        files_per_day=1,
        start_date="2026-01-05",
        invalid_rate=0.3,
        duplicate_rate=0.0,
    )
    write_landing(bad, pipeline_root.parent / "landing")
    common = ["--root", str(pipeline_root), "--engine", "delta-rs", "--shuffle-partitions", "2"]
    common += ["--log-level", "WARNING"]
    events = ["--source", "files", "--events-dir", str(pipeline_root.parent / "landing")]
    assert main(["bronze", *events, *common]) == 0
    # warn mode publishes the batch; a score below min_quality_score still fails the run (exit 1)
    assert main(["silver", "--quality-silver", "warn", *common]) == 1
    capsys.readouterr()
    views = register_ops_views(spark, read_ops(spark, pipeline_root))
    alerts = fired(spark, views, now)
    assert [r["table_name"] for r in alerts["quality_score_low"]] == ["silver.events"]
    assert alerts["quality_score_low"][0]["quality_score"] < 0.95
    assert [r["table_name"] for r in alerts["quarantine_rate_high"]] == ["silver.events"]
    assert alerts["quarantine_rate_high"][0]["quarantine_rate"] > 0.05
    assert alerts["gold_stale"] == []  # gold itself is still within its SLO
