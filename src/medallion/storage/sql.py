"""Pure builders of the Spark SQL texts, writer options and session confs used by the spark-delta
engine.

Nothing here touches a SparkSession, so every statement the Databricks engine runs can be
unit-tested locally as an exact string. Names, values and predicates go into the text through
:mod:`.quoting`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from medallion.storage.base import StorageError, Txn
from medallion.storage.commits import write_stamp
from medallion.storage.quoting import check_predicate, quote_identifier, quote_string, quote_table_name

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructField, StructType

_PROPERTY_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")

#: Session confs that carry a Txn into SQL DML (MERGE/INSERT/UPDATE/DELETE), Delta >= 2.3.
TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
#: Session conf whose value becomes commitInfo.userMetadata of SQL commits.
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
#: Delta refuses VACUUM below the table's retention (default 168 h) unless this conf is false.
RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"
DEFAULT_RETENTION_HOURS = 168
#: A Databricks table property that open-source Delta does not read, and the session confs
#: open-source Delta's OPTIMIZE sizes its files by instead.
TARGET_FILE_SIZE_PROPERTY = "delta.targetFileSize"
OPTIMIZE_MAX_FILE_SIZE_CONF = "spark.databricks.delta.optimize.maxFileSize"
OPTIMIZE_MIN_FILE_SIZE_CONF = "spark.databricks.delta.optimize.minFileSize"


# --- DDL ------------------------------------------------------------------------------------
def ddl_type(data_type: DataType) -> str:
    """Spark SQL DDL of a data type, nested names quoted (``STRUCT<`a`: INT NOT NULL>``).

    ArrayType.containsNull / MapType.valueContainsNull = False cannot be written in DDL: such
    arrays/maps become nullable-element ones."""
    from pyspark.sql import types as T

    simple = {
        T.BooleanType: "BOOLEAN",
        T.ByteType: "TINYINT",
        T.ShortType: "SMALLINT",
        T.IntegerType: "INT",
        T.LongType: "BIGINT",
        T.FloatType: "FLOAT",
        T.DoubleType: "DOUBLE",
        T.StringType: "STRING",
        T.BinaryType: "BINARY",
        T.DateType: "DATE",
        T.TimestampType: "TIMESTAMP",
        T.TimestampNTZType: "TIMESTAMP_NTZ",
    }
    for cls, name in simple.items():
        if type(data_type) is cls:
            return name
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision}, {data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        return f"ARRAY<{ddl_type(data_type.elementType)}>"
    if isinstance(data_type, T.MapType):
        return f"MAP<{ddl_type(data_type.keyType)}, {ddl_type(data_type.valueType)}>"
    if isinstance(data_type, T.StructType):
        fields = ", ".join(
            f"{quote_identifier(f.name)}: {ddl_type(f.dataType)}{'' if f.nullable else ' NOT NULL'}"
            for f in data_type.fields
        )
        return f"STRUCT<{fields}>"
    raise StorageError(f"unsupported column type {data_type!r} for a Delta table")


def build_columns_ddl(schema: StructType) -> str:
    if not schema.fields:
        raise StorageError("a table needs at least one column")
    names = [f.name.lower() for f in schema.fields]
    if len(set(names)) != len(names):
        raise StorageError(f"duplicate column names in {schema.fieldNames()}")
    return ", ".join(
        f"{quote_identifier(f.name)} {ddl_type(f.dataType)}{'' if f.nullable else ' NOT NULL'}"
        for f in schema.fields
    )


def _properties_list(properties: Mapping[str, str]) -> str:
    items = []
    for key, value in properties.items():
        if not isinstance(key, str) or not _PROPERTY_KEY.fullmatch(key):
            raise StorageError(f"invalid table property key {key!r}")
        items.append(f"{quote_string(key)} = {quote_string(str(value))}")
    return ", ".join(items)


def build_set_properties_sql(table: str, properties: Mapping[str, str]) -> str:
    if not properties:
        raise StorageError("no properties to set")
    return f"ALTER TABLE {quote_table_name(table)} SET TBLPROPERTIES ({_properties_list(properties)})"


def build_add_columns_sql(table: str, columns: Sequence[StructField]) -> str:
    """``ALTER TABLE t ADD COLUMNS (`c` TYPE, ...)`` for new nullable columns."""
    if not columns:
        raise StorageError("no columns to add")
    not_nullable = [c.name for c in columns if not c.nullable]
    if not_nullable:
        raise StorageError(f"added columns must be nullable: {not_nullable}")
    ddl = ", ".join(f"{quote_identifier(c.name)} {ddl_type(c.dataType)}" for c in columns)
    return f"ALTER TABLE {quote_table_name(table)} ADD COLUMNS ({ddl})"


def build_set_not_null_sql(table: str, column: str) -> str:
    return f"ALTER TABLE {quote_table_name(table)} ALTER COLUMN {quote_identifier(column)} SET NOT NULL"


def primary_key_constraint_name(table: str) -> str:
    """``<table>_pk`` (constraint names are per schema in Unity Catalog)."""
    return f"{quote_table_name(table).split('.')[-1].strip('`')}_pk"


def build_add_primary_key_sql(
    table: str, columns: Sequence[str], timeseries_column: str | None = None
) -> str:
    """``ALTER TABLE t ADD CONSTRAINT `t_pk` PRIMARY KEY (`k`, `ts` TIMESERIES)`` (Unity Catalog)."""
    if not columns or len(set(columns)) != len(columns):
        raise StorageError(f"primary key columns must be distinct and not empty, got {list(columns)}")
    if timeseries_column is not None and timeseries_column not in columns:
        raise StorageError(f"timeseries column {timeseries_column!r} is not in the primary key")
    keys = ", ".join(quote_identifier(c) + (" TIMESERIES" if c == timeseries_column else "") for c in columns)
    name = quote_identifier(primary_key_constraint_name(table))
    return f"ALTER TABLE {quote_table_name(table)} ADD CONSTRAINT {name} PRIMARY KEY ({keys})"


def build_primary_key_exists_sql(table: str) -> str:
    """Count of PRIMARY KEY constraints of a three-part UC table (information_schema)."""
    parts = table.split(".")
    if len(parts) != 3:
        raise StorageError(f"primary keys need a catalog.schema.table name, got {table!r}")
    quote_table_name(table)  # validation
    catalog, schema, name = parts
    return (
        f"SELECT count(*) AS n FROM {quote_identifier(catalog)}.`information_schema`.`table_constraints` "
        f"WHERE table_schema = {quote_string(schema)} AND table_name = {quote_string(name)} "
        "AND constraint_type = 'PRIMARY KEY'"
    )


# --- reads and metadata ---------------------------------------------------------------------
def build_select_sql(table: str, where: str | None = None, version: int | None = None) -> str:
    """``SELECT * FROM t [VERSION AS OF n] [WHERE p]``."""
    sql = f"SELECT * FROM {quote_table_name(table)}"
    if version is not None:
        sql += f" VERSION AS OF {_non_negative(version, 'version')}"
    if where is not None:
        sql += f" WHERE {check_predicate(where)}"
    return sql


def build_history_sql(table: str, limit: int | None = None) -> str:
    sql = f"DESCRIBE HISTORY {quote_table_name(table)}"
    if limit is not None:
        if limit < 1:
            raise StorageError("history limit must be >= 1")
        sql += f" LIMIT {int(limit)}"
    return sql


def build_detail_sql(table: str) -> str:
    return f"DESCRIBE DETAIL {quote_table_name(table)}"


def build_files_sql(table: str, partition_by: Sequence[str] = (), stats_columns: Sequence[str] = ()) -> str:
    """One row per data file of the current version: path, size, row count, partition values and
    ``min__<c>`` / ``max__<c>`` of ``stats_columns`` (through the ``_metadata`` hidden column; Delta
    exposes no public per-file stats API, so the values are computed from the file's rows)."""
    parts = "".join(f", first({quote_identifier(c)}) AS {quote_identifier(c)}" for c in partition_by)
    stats = "".join(
        f", min({quote_identifier(c)}) AS {quote_identifier('min__' + c)}"
        f", max({quote_identifier(c)}) AS {quote_identifier('max__' + c)}"
        for c in stats_columns
    )
    return (
        "SELECT _metadata.file_path AS path, _metadata.file_size AS size_bytes, "
        f"count(*) AS num_records{parts}{stats} FROM {quote_table_name(table)} "
        "GROUP BY _metadata.file_path, _metadata.file_size"
    )


def change_feed_options(start_version: int, end_version: int | None = None) -> dict[str, str]:
    """Reader options of ``spark.read.format('delta')`` for the change data feed."""
    options = {
        "readChangeFeed": "true",
        "startingVersion": str(_non_negative(start_version, "start_version")),
    }
    if end_version is not None:
        if end_version < start_version:
            raise StorageError(f"end_version {end_version} < start_version {start_version}")
        options["endingVersion"] = str(int(end_version))
    return options


# --- writes -----------------------------------------------------------------------------------
def writer_options(
    mode: str,
    *,
    txn: Txn | None = None,
    replace_where: str | None = None,
    user_metadata: str | None = None,
) -> dict[str, str]:
    """DataFrameWriter options of a Delta write (``mode`` is append or overwrite). ``user_metadata``
    (default: :func:`.base.write_stamp` of the Txn, when there is one) becomes the commit's
    userMetadata."""
    if mode not in ("append", "overwrite"):
        raise StorageError(f"unsupported write mode {mode!r}")
    options: dict[str, str] = {}
    if replace_where is not None:
        if mode != "overwrite":
            raise StorageError("replaceWhere needs mode overwrite")
        options["replaceWhere"] = check_predicate(replace_where)
    if txn is not None:
        options["txnAppId"] = txn.app_id
        options["txnVersion"] = str(txn.version)
    if user_metadata is None and txn is not None:
        user_metadata = write_stamp(txn)
    if user_metadata is not None:
        options["userMetadata"] = user_metadata
    return options


def txn_session_confs(txn: Txn | None, user_metadata: str | None = None) -> dict[str, str]:
    """Session confs that make SQL DML (MERGE) idempotent and stamp its userMetadata."""
    confs: dict[str, str] = {}
    if txn is not None:
        confs[TXN_APP_ID_CONF] = txn.app_id
        confs[TXN_VERSION_CONF] = str(txn.version)
    if user_metadata is None and txn is not None:
        user_metadata = write_stamp(txn)
    if user_metadata is not None:
        confs[USER_METADATA_CONF] = user_metadata
    return confs


def build_merge_sql(
    table: str,
    source_view: str,
    keys: Sequence[str],
    *,
    insert_only: bool = False,
    target_filter: str | None = None,
) -> str:
    """``MERGE INTO t USING view s ON t.k = s.k [AND (filter)] WHEN ... THEN ...``."""
    if not keys:
        raise StorageError("merge needs at least one key column")
    if len(set(keys)) != len(keys):
        raise StorageError(f"duplicate merge keys {list(keys)}")
    condition = " AND ".join(f"t.{quote_identifier(k)} = s.{quote_identifier(k)}" for k in keys)
    if target_filter is not None:
        condition += f" AND ({check_predicate(target_filter)})"
    sql = (
        f"MERGE INTO {quote_table_name(table)} AS t USING {quote_identifier(source_view)} AS s ON {condition}"
    )
    if not insert_only:
        sql += " WHEN MATCHED THEN UPDATE SET *"
    return sql + " WHEN NOT MATCHED THEN INSERT *"


# --- maintenance ------------------------------------------------------------------------------
def build_optimize_sql(table: str, zorder_by: Sequence[str] = (), where: str | None = None) -> str:
    sql = f"OPTIMIZE {quote_table_name(table)}"
    if where is not None:
        sql += f" WHERE {check_predicate(where)}"
    if zorder_by:
        sql += f" ZORDER BY ({', '.join(quote_identifier(c) for c in zorder_by)})"
    return sql


def build_delete_sql(table: str, predicate: str) -> str:
    """``DELETE FROM t WHERE <predicate>`` (the maintenance job's data retention)."""
    return f"DELETE FROM {quote_table_name(table)} WHERE {check_predicate(predicate)}"


#: Delta records a VACUUM as two commits, ``VACUUM START`` and ``VACUUM END`` (whose operationMetrics
#: hold numDeletedFiles), only when this is on - by default everywhere but on S3. The engine turns it on.
VACUUM_LOGGING_CONF = "spark.databricks.delta.vacuum.logging.enabled"


def optimize_session_confs(properties: Mapping[str, str]) -> dict[str, str]:
    """Session confs of an OPTIMIZE: the table's ``delta.targetFileSize`` (``properties``) as the file
    sizes open-source Delta's OPTIMIZE aims at, so the target is honoured on both runtimes."""
    target = properties.get(TARGET_FILE_SIZE_PROPERTY)
    if target and target.isdigit():
        return {OPTIMIZE_MAX_FILE_SIZE_CONF: target, OPTIMIZE_MIN_FILE_SIZE_CONF: target}
    return {}


def vacuum_session_confs(retention_hours: int) -> dict[str, str]:
    """Session confs of a VACUUM: below the default retention Delta's retention check is turned off
    (the caller owns the safety decision)."""
    return {RETENTION_CHECK_CONF: "false"} if retention_hours < DEFAULT_RETENTION_HOURS else {}


def build_vacuum_sql(table: str, retention_hours: int, dry_run: bool = False) -> str:
    sql = f"VACUUM {quote_table_name(table)} RETAIN {_non_negative(retention_hours, 'retention_hours')} HOURS"
    return sql + (" DRY RUN" if dry_run else "")


def build_cluster_by_sql(table: str, columns: Sequence[str]) -> str:
    """``ALTER TABLE t CLUSTER BY (`a`, `b`)``: the liquid clustering keys of a (non-partitioned)
    table; its OPTIMIZE then clusters incrementally and takes no ZORDER BY."""
    if not columns or len(set(columns)) != len(columns):
        raise StorageError(f"clustering columns must be distinct and not empty, got {list(columns)}")
    keys = ", ".join(quote_identifier(c) for c in columns)
    return f"ALTER TABLE {quote_table_name(table)} CLUSTER BY ({keys})"


def _non_negative(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StorageError(f"{name} must be a non-negative integer, got {value!r}")
    return value
