"""The one typed configuration object that every job receives.

Precedence (highest first): CLI arguments / Databricks job parameters (which arrive as CLI
arguments of the wheel entry point) > environment variables ``MEDALLION_<FIELD>`` > defaults.

Tables are Unity Catalog names on Databricks (``<catalog>.<schema_prefix><layer>.<table>``)
and Delta folders locally (``<root>/<layer>/<table>``). Secrets are never part of the config:
only the *name* of the secret scope and keys are (see :mod:`medallion.secrets`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from medallion.config_values import (
    ConfigError,
    Engine,
    Environment,
    KafkaAuth,
    KafkaSecurityProtocol,
    QualityMode,
    Source,
    coerce,
    validate,
)

ENV_PREFIX = "MEDALLION_"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def running_on_databricks(env: Mapping[str, str] | None = None) -> bool:
    """True inside a Databricks runtime (it sets DATABRICKS_RUNTIME_VERSION)."""
    return "DATABRICKS_RUNTIME_VERSION" in (os.environ if env is None else env)


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass(frozen=True)
class Config:
    """Typed configuration. Field metadata ``help`` feeds ``--help`` and the README reference."""

    # --- where things live ---------------------------------------------------------------
    environment: Environment = field(
        default="local",
        metadata=_help("local (Delta folders under --root) or databricks (Unity Catalog tables)"),
    )
    root: str = field(
        default="medallion-data",
        metadata=_help("local warehouse folder; tables are <root>/<layer>/<table>"),
    )
    catalog: str = field(default="main", metadata=_help("Unity Catalog catalog (databricks)"))
    schema_prefix: str = field(
        default="",
        metadata=_help("prefix of the per-layer UC schemas, e.g. dev_jane_ -> dev_jane_bronze"),
    )
    checkpoint_root: str = field(
        default="",
        metadata=_help(
            "streaming checkpoints; default <root>/_checkpoints locally, "
            "/Volumes/<catalog>/<prefix>ops/checkpoints on databricks"
        ),
    )
    engine: Engine = field(
        default="auto",
        metadata=_help(
            "Delta engine: auto (spark-delta on Databricks, else delta-rs), delta-rs, spark-delta"
        ),
    )

    # --- bronze source -------------------------------------------------------------------
    source: Source = field(default="files", metadata=_help("bronze source: files, kafka or eventhubs"))
    events_dir: str = field(
        default="",
        metadata=_help("landing folder of JSON-lines files (files source); default: packaged sample events"),
    )
    trigger: str = field(
        default="available-now",
        metadata=_help("streaming trigger: available-now, or processing-time:<interval> e.g. '30 seconds'"),
    )
    max_files_per_trigger: int = field(default=1000, metadata=_help("files source: files per micro-batch"))
    eventhubs_namespace: str = field(default="", metadata=_help("Event Hubs namespace (no domain)"))
    eventhubs_name: str = field(default="", metadata=_help("Event Hub (Kafka topic) name"))
    consumer_group: str = field(default="$Default", metadata=_help("Event Hubs consumer group"))
    kafka_bootstrap_servers: str = field(
        default="",
        metadata=_help(
            "kafka source: bootstrap servers (host:port,...); default the Event Hubs Kafka endpoint "
            "<eventhubs_namespace>.servicebus.windows.net:9093"
        ),
    )
    kafka_security_protocol: KafkaSecurityProtocol = field(
        default="SASL_SSL",
        metadata=_help(
            "kafka source: SASL_SSL (Event Hubs), or SASL_PLAINTEXT for a local test broker without TLS "
            "(refused on databricks: the credentials would travel unencrypted)"
        ),
    )
    kafka_auth: KafkaAuth = field(
        default="connection-string",
        metadata=_help(
            "kafka source auth: connection-string (SASL PLAIN), oauth (service principal, OAUTHBEARER) "
            "or service-credential (Unity Catalog service credential, DBR 16.1+)"
        ),
    )
    service_credential: str = field(
        default="", metadata=_help("Unity Catalog service credential name (kafka_auth=service-credential)")
    )
    starting_offsets: str = field(default="earliest", metadata=_help("earliest, latest or offsets JSON"))
    max_offsets_per_trigger: int = field(default=500_000, metadata=_help("kafka/eventhubs events per batch"))
    fail_on_data_loss: bool = field(
        default=True, metadata=_help("fail when offsets expired before they were read")
    )
    secret_scope: str = field(
        default="medallion", metadata=_help("Databricks secret scope (Key Vault-backed)")
    )
    eventhubs_secret_key: str = field(
        default="eventhubs-connection-string",
        metadata=_help(
            "secret key of the Event Hubs connection string (locally: env MEDALLION_SECRET_<KEY>)"
        ),
    )
    tenant_id: str = field(default="", metadata=_help("Entra tenant id for kafka oauth"))
    client_id: str = field(default="", metadata=_help("service principal client id for kafka oauth"))
    client_secret_key: str = field(
        default="eventhubs-client-secret", metadata=_help("secret key of the service principal secret")
    )

    # --- silver ----------------------------------------------------------------------------
    contract_version: int = field(
        default=0, metadata=_help("event contract version to validate against (0 = latest shipped)")
    )
    dedup_lookback_days: int = field(
        default=1,
        metadata=_help(
            "silver dedup also looks this many days either side of a new event's date for a stored "
            "copy with the same event_id (re-deliveries whose timestamp moved across midnight)"
        ),
    )

    # --- quality gates -------------------------------------------------------------------
    quality_bronze: QualityMode = field(default="enforce", metadata=_help("bronze gate: enforce, warn, off"))
    quality_silver: QualityMode = field(default="enforce", metadata=_help("silver gate: enforce, warn, off"))
    quality_gold: QualityMode = field(default="enforce", metadata=_help("gold gate: enforce, warn, off"))
    max_quarantine_rate: float = field(
        default=0.05, metadata=_help("silver gate: highest accepted share of quarantined rows per run")
    )
    min_quality_score: float = field(
        default=0.95, metadata=_help("alert (job failure) when a checkpoint's quality score is below this")
    )

    # --- tracking ------------------------------------------------------------------------
    mlflow_tracking_uri: str = field(
        default="",
        metadata=_help(
            "MLflow tracking URI; default sqlite:///<root>/ops/mlflow.db locally, databricks on Databricks"
        ),
    )
    mlflow_experiment: str = field(
        default="",
        metadata=_help(
            "MLflow experiment; default 'medallion' locally, /Shared/medallion/<catalog>/<prefix> on "
            "Databricks"
        ),
    )

    # --- gold --------------------------------------------------------------------------
    full_refresh: bool = field(
        default=False,
        metadata=_help(
            "gold: recompute every feature date from silver (after a feature change or a repair); "
            "materialize: rewrite every entity of the online store",
            commands=("gold", "materialize"),
        ),
    )

    # --- serving -------------------------------------------------------------------------
    redis_url: str = field(
        default="",
        repr=False,
        metadata=_help(
            "online store: redis://[:PASSWORD@]HOST:PORT/DB (rediss:// for TLS); default the secret "
            "redis_secret_key (Databricks secret scope, or env MEDALLION_SECRET_<KEY> locally), else the "
            "embedded SQLite online store under serving_root; never logged"
        ),
    )
    redis_secret_key: str = field(
        default="redis-connection-string",
        metadata=_help(
            "secret key of the online store's Redis URL or Azure Cache for Redis connection string"
        ),
    )
    serving_root: str = field(
        default="",
        metadata=_help(
            "Feast registry (and the embedded SQLite online store); default <root>/serving locally, "
            "/Volumes/<catalog>/<prefix>ops/serving on databricks"
        ),
    )

    # --- maintenance ---------------------------------------------------------------------
    maintenance_tables: str = field(
        default="",
        metadata=_help(
            "maintenance: only these tables, e.g. silver.events,gold.user_features (default: every table)",
            commands=("maintenance",),
            flag="--tables",
        ),
    )
    retention_hours: int | None = field(
        default=None,
        metadata=_help(
            "maintenance: VACUUM retention in hours for every table instead of the policy's (168 by "
            "default); below 168 is refused without --allow-unsafe-retention",
            commands=("maintenance",),
        ),
    )
    allow_unsafe_retention: bool = field(
        default=False,
        metadata=_help(
            "maintenance: accept a retention below 168 hours (7 days): running readers, incremental and "
            "streaming consumers and time travel to the deleted versions may fail (logged as a WARNING)",
            commands=("maintenance",),
        ),
    )
    bronze_retention_days: int = field(
        default=90,
        metadata=_help(
            "maintenance: delete bronze partitions older than N days once silver has read them (0: never)",
            commands=("maintenance",),
        ),
    )
    dry_run: bool = field(
        default=False,
        metadata=_help(
            "maintenance: list what would be compacted, deleted by retention or VACUUM; change nothing",
            commands=("maintenance",),
        ),
    )
    maintenance: bool = field(
        default=False,
        metadata=_help(
            "local: after the pipeline, run the maintenance job (OPTIMIZE/Z-order, VACUUM) on the tables",
            commands=("local",),
        ),
    )

    materialize: bool = field(
        default=False,
        metadata=_help(
            "local: after gold, materialise the features into the online store (medallion materialize)",
            commands=("local",),
        ),
    )

    # --- the quality command -------------------------------------------------------------
    check_layer: str = field(
        default="",
        metadata=_help("quality: layer of the table to validate", commands=("quality",), flag="--layer"),
    )
    check_table: str = field(
        default="",
        metadata=_help(
            "quality: the table to validate, its name in the layer (e.g. events or user_features)",
            commands=("quality",),
            flag="--table",
        ),
    )
    check_where: str = field(
        default="",
        metadata=_help(
            "quality: SQL filter of the rows to validate, e.g. \"event_date >= DATE '2026-01-01'\"",
            commands=("quality",),
            flag="--where",
        ),
    )

    # --- run -----------------------------------------------------------------------------
    spark_master: str = field(
        default="local[*]", metadata=_help("local Spark master (ignored on Databricks)")
    )
    spark_driver_memory: str = field(
        default="4g", metadata=_help("local Spark driver memory (ignored on Databricks)")
    )
    shuffle_partitions: int = field(default=4, metadata=_help("spark.sql.shuffle.partitions for local runs"))
    log_level: str = field(
        default="INFO",
        metadata=_help(
            "log level: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case); DEBUG also prints the "
            "full traceback of a failure"
        ),
    )

    def __post_init__(self) -> None:
        validate(self)

    # --- derived -------------------------------------------------------------------------
    @property
    def resolved_engine(self) -> str:
        if self.engine != "auto":
            return self.engine
        return "spark-delta" if self.environment == "databricks" else "delta-rs"

    def table(self, layer: str, name: str) -> str:
        """Identifier of a table: a UC three-part name on Databricks, a folder locally."""
        if not (_IDENT.match(layer) and _IDENT.match(name)):
            raise ConfigError(f"invalid table name {layer}.{name}")
        if self.environment == "databricks":
            return f"{self.catalog}.{self.schema_prefix}{layer}.{name}"
        return str(Path(self.root).absolute() / layer / name)

    def checkpoint(self, stream: str) -> str:
        if not _IDENT.match(stream):
            raise ConfigError(f"invalid stream name {stream!r}")
        if self.checkpoint_root:
            base = self.checkpoint_root.rstrip("/")
        elif self.environment == "databricks":
            base = f"/Volumes/{self.catalog}/{self.schema_prefix}ops/checkpoints"
        else:
            base = str(Path(self.root).absolute() / "_checkpoints")
        return f"{base}/{stream}"

    def serving_path(self, name: str) -> str:
        """A file of the serving layer (the Feast registry, the embedded online store)."""
        if self.serving_root:
            base = self.serving_root.rstrip("/")
        elif self.environment == "databricks":
            base = f"/Volumes/{self.catalog}/{self.schema_prefix}ops/serving"
        else:
            base = str(Path(self.root).absolute() / "serving")
        return f"{base}/{name}"

    def quality_mode(self, layer: str) -> str:
        return getattr(self, f"quality_{layer}")

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if self.environment == "databricks":
            return "databricks"
        return f"sqlite:///{Path(self.root).absolute() / 'ops' / 'mlflow.db'}"

    @property
    def experiment(self) -> str:
        if self.mlflow_experiment:
            return self.mlflow_experiment
        if self.environment == "databricks":
            return f"/Shared/medallion/{self.catalog}/{self.schema_prefix or 'default'}"
        return "medallion"

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_sources(
        cls, args: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Config:
        """Build from explicit args (None = not given) over environment over defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if running_on_databricks(env):
            values["environment"] = "databricks"
        for f in fields(cls):
            key = ENV_PREFIX + f.name.upper()
            if key in env:
                values[f.name] = coerce(f, env[key], source=key)
        for name, value in (args or {}).items():
            if value is not None and name in cls.field_names():
                values[name] = coerce(next(f for f in fields(cls) if f.name == name), value, source=name)
        return cls(**values)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def describe(self) -> dict[str, Any]:
        """Config as a plain dict, safe to log: the only field that may hold a credential
        (``redis_url``) is shown without it."""
        values = dataclasses.asdict(self)
        values["redis_url"] = redact_url(self.redis_url)
        return values


def redact_url(url: str) -> str:
    """``url`` without its password (``redis://:***@host:6379/0``, or ``password=***`` in an
    Azure connection string); other text unchanged."""
    if not url:
        return url
    url = re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", url)
    return re.sub(r"(password=)[^,]*", r"\1***", url, flags=re.IGNORECASE)
