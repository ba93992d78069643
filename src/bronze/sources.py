"""Bronze sources: option builders (pure, unit-tested) and the streaming readers.

* ``kafka`` - the Event Hubs Kafka endpoint ``<namespace>.servicebus.windows.net:9093`` over
  SASL_SSL, authenticated with the namespace connection string (SASL PLAIN), a service principal
  (OAUTHBEARER) or a Unity Catalog service credential (DBR 16.1+). Works on any runtime.
  ``kafka_bootstrap_servers`` / ``kafka_security_protocol`` override the endpoint and SASL_SSL;
  they exist for the tests, which run a real Kafka broker on loopback with the same SASL PLAIN
  ``$ConnectionString`` authentication but without TLS (SASL_PLAINTEXT, refused on Databricks).
* ``eventhubs`` - the azure-eventhubs-spark connector (Maven
  ``com.microsoft.azure:azure-eventhubs-spark_2.12``), which needs a Scala 2.12 runtime such as
  Databricks Runtime 16.4 LTS; the connection string must be encrypted with the connector's
  ``EventHubsUtils.encrypt``.
* ``files`` - a landing folder of JSON-lines files (one event body per line, optionally
  compressed): the local default. Files are read whole (``binaryFile``) and framed into records
  by :mod:`medallion.bronze.framing`; files whose name starts with ``_`` or ``.`` are ignored (Spark's
  rule), subfolders are not read.

Credentials come from :class:`medallion.secrets.SecretProvider` and are only revealed inside
the option dict handed to the connector (never logged: :func:`redact` masks them).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from medallion.bronze.transforms import NORMALIZERS, frame_files
from medallion.config import Config, ConfigError
from medallion.errors import JobFailedError
from medallion.secrets import Secret, SecretProvider, env_var_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EVENTHUBS_KAFKA_PORT = 9093
SENSITIVE_OPTIONS = ("kafka.sasl.jaas.config", "eventhubs.connectionString")
# The files source forgets files older than maxFileAge (relative to the newest file). A late file
# with an old modification time must still be ingested, so the window is made very long.
FILES_MAX_FILE_AGE = "3650d"

log = logging.getLogger(__name__)


def redact(options: Mapping[str, str]) -> dict[str, str]:
    """A copy of connector options safe to log."""
    return {k: ("***" if k in SENSITIVE_OPTIONS else v) for k, v in options.items()}


def _require(config: Config, *names: str) -> None:
    missing = [n for n in names if not getattr(config, n)]
    if missing:
        flags = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise ConfigError(f"source={config.source} needs {flags}")


def kafka_bootstrap(namespace: str) -> str:
    return f"{namespace}.servicebus.windows.net:{EVENTHUBS_KAFKA_PORT}"


def kafka_endpoint(config: Config) -> str:
    """The bootstrap servers: ``kafka_bootstrap_servers`` when set, else the namespace's endpoint."""
    if config.kafka_bootstrap_servers:
        return config.kafka_bootstrap_servers
    _require(config, "eventhubs_namespace")
    return kafka_bootstrap(config.eventhubs_namespace)


def kafka_options(
    config: Config,
    connection_string: Secret | None = None,
    client_secret: Secret | None = None,
    shaded: bool = True,
) -> dict[str, str]:
    """readStream options for the Event Hubs Kafka endpoint.

    ``shaded``: Databricks ships the Kafka client relocated under ``kafkashaded.``; open-source
    Spark uses the plain class names.
    """
    _require(config, "eventhubs_name")
    if config.kafka_auth == "oauth":  # the token scope names the namespace
        _require(config, "eventhubs_namespace")
    prefix = "kafkashaded." if shaded else ""
    opts = {
        "kafka.bootstrap.servers": kafka_endpoint(config),
        "subscribe": config.eventhubs_name,
        "kafka.group.id": config.consumer_group,
        "startingOffsets": config.starting_offsets,
        "maxOffsetsPerTrigger": str(config.max_offsets_per_trigger),
        "failOnDataLoss": str(config.fail_on_data_loss).lower(),
        "includeHeaders": "true",
        # Event Hubs recommendations for Kafka clients
        "kafka.request.timeout.ms": "60000",
        "kafka.session.timeout.ms": "30000",
    }
    if config.kafka_auth == "service-credential":
        _require(config, "service_credential")
        if config.kafka_security_protocol != "SASL_SSL":
            raise ConfigError("kafka_auth=service-credential always uses SASL_SSL")
        opts["databricks.serviceCredential"] = config.service_credential
        return opts
    opts["kafka.security.protocol"] = config.kafka_security_protocol
    if config.kafka_auth == "connection-string":
        if connection_string is None:
            raise ConfigError("kafka_auth=connection-string needs the Event Hubs connection string secret")
        opts["kafka.sasl.mechanism"] = "PLAIN"
        opts["kafka.sasl.jaas.config"] = (
            f"{prefix}org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="$ConnectionString" password="{_jaas_escape(connection_string.reveal())}";'
        )
        return opts
    # oauth: Entra ID client-credentials flow for a service principal
    _require(config, "tenant_id", "client_id")
    if client_secret is None:
        raise ConfigError("kafka_auth=oauth needs the service principal secret")
    scope = f"https://{config.eventhubs_namespace}.servicebus.windows.net/.default"
    opts["kafka.sasl.mechanism"] = "OAUTHBEARER"
    opts["kafka.sasl.jaas.config"] = (
        f"{prefix}org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        f'clientId="{_jaas_escape(config.client_id)}" clientSecret="{_jaas_escape(client_secret.reveal())}" '
        f'scope="{scope}" ssl.protocol="SSL";'
    )
    opts["kafka.sasl.oauthbearer.token.endpoint.url"] = (
        f"https://login.microsoftonline.com/{config.tenant_id}/oauth2/v2.0/token"
    )
    opts["kafka.sasl.login.callback.handler.class"] = (
        f"{prefix}org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler"
    )
    return opts


class KafkaAuthenticationError(JobFailedError):
    """The Kafka endpoint refused the source's credentials (a wrong or stale secret)."""


# The Kafka client's exception for refused credentials (also under Databricks' kafkashaded. prefix)
# and the broker's one-line reason after it.
_SASL_FAILURE = re.compile(r"SaslAuthenticationException:?\s*([^\n]*?)\s*(?:SQLSTATE:.*)?$", re.M)
_SECRET_LIKE = re.compile(
    r"(SharedAccessKey|SharedAccessSignature|password|clientSecret)(\s*[=:]\s*)[^;\s\"']+", re.I
)


def explain_stream_failure(config: Config, error: BaseException) -> JobFailedError | None:
    """A clear medallion error for a known source failure of the streaming query, else None.

    Refused Kafka credentials (SASL authentication) fail the query within seconds: the
    authentication error is not retried by the Kafka client, and Spark's offset fetch retries it
    only ``fetchOffset.numRetries`` (3) times ``fetchOffset.retryIntervalMs`` (1 s). The message
    names the endpoint and where the credential comes from; it never holds the credential (secret
    values are not in the config, and anything secret-like in the broker's reason is masked)."""
    if config.source != "kafka":
        return None
    found = _SASL_FAILURE.search(str(error))
    if found is None:
        return None
    reason = _SECRET_LIKE.sub(r"\1\2***", found.group(1).strip())[:300] or "no reason given"
    endpoint = config.kafka_bootstrap_servers or kafka_bootstrap(config.eventhubs_namespace or "<namespace>")
    if config.kafka_auth == "connection-string":
        check = (
            f"check the {_secret_location(config, config.eventhubs_secret_key)}: it must hold a current "
            "connection string of the namespace (a SAS policy with Listen rights)"
        )
    elif config.kafka_auth == "oauth":
        check = (
            f"check --client-id {config.client_id}, --tenant-id {config.tenant_id} and the "
            f"{_secret_location(config, config.client_secret_key)}, and that the service principal has "
            "the 'Azure Event Hubs Data Receiver' role"
        )
    else:
        check = f"check the Unity Catalog service credential {config.service_credential!r} and its access"
    return KafkaAuthenticationError(
        f"authentication failed for the Event Hubs Kafka endpoint {endpoint} "
        f"(kafka_auth={config.kafka_auth}, topic {config.eventhubs_name!r}): {check}. "
        f"Broker said: {reason}"
    )


def _secret_location(config: Config, key: str) -> str:
    if config.environment == "databricks":
        return f"secret {key!r} in secret scope {config.secret_scope!r}"
    return f"secret {key!r} (environment variable {env_var_for(key)})"


def _jaas_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def eventhubs_starting_position(starting_offsets: str) -> str:
    """Map earliest/latest to the connector's EventPosition JSON; pass JSON through."""
    if starting_offsets == "earliest":
        return json.dumps({"offset": "-1", "seqNo": -1, "enqueuedTime": None, "isInclusive": True})
    if starting_offsets == "latest":
        return json.dumps({"offset": "@latest", "seqNo": -1, "enqueuedTime": None, "isInclusive": True})
    try:
        json.loads(starting_offsets)
    except json.JSONDecodeError:
        raise ConfigError(f"starting_offsets={starting_offsets!r}: use earliest, latest or JSON") from None
    return starting_offsets


def eventhubs_options(
    config: Config, connection_string: Secret, encrypt: Callable[[str], str]
) -> dict[str, str]:
    """readStream options for azure-eventhubs-spark. ``encrypt`` is the connector's
    ``EventHubsUtils.encrypt`` (see :func:`jvm_encrypt`)."""
    _require(config, "eventhubs_name")
    conn = connection_string.reveal()
    if "EntityPath=" not in conn:
        conn = f"{conn.rstrip(';')};EntityPath={config.eventhubs_name}"
    return {
        "eventhubs.connectionString": encrypt(conn),
        "eventhubs.consumerGroup": config.consumer_group,
        "eventhubs.startingPosition": eventhubs_starting_position(config.starting_offsets),
        "maxEventsPerTrigger": str(config.max_offsets_per_trigger),
    }


def jvm_encrypt(spark: SparkSession) -> Callable[[str], str]:
    return spark.sparkContext._jvm.org.apache.spark.eventhubs.EventHubsUtils.encrypt  # type: ignore[union-attr]


def files_options(config: Config) -> dict[str, str]:
    return {
        "maxFilesPerTrigger": str(config.max_files_per_trigger),
        "maxFileAge": FILES_MAX_FILE_AGE,
        "latestFirst": "false",
    }


# Spark's binaryFile columns (a streaming source needs its schema spelled out)
BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length bigint, content binary"


def list_landing(spark: SparkSession, events_dir: str) -> list[tuple[str, int, Any]]:
    """(path, size, modification time) of every file the files source would read in
    ``events_dir``, in the same path form; the contents are not read."""
    rows = (
        spark.read.format("binaryFile")
        .schema(BINARY_FILE_SCHEMA)
        .load(events_dir)
        .select("path", "length", "modificationTime")
        .collect()
    )
    return [(r["path"], int(r["length"]), r["modificationTime"]) for r in rows]


def unfinished_batch(spark: SparkSession, checkpoint: str) -> bool:
    """Whether the stream's checkpoint holds a batch that was planned (``offsets/N``) but not
    committed (``commits/N``): a run that died mid-batch, which Spark replays on restart. Read
    through Hadoop's file system, so it works on any checkpoint location Spark can use. Where that
    cannot be read (no JVM access, e.g. a Spark Connect session) the answer is True: the stream is
    then started, as it always may be."""

    def last_batch(folder: str) -> int:
        path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/{folder}")
        fs = path.getFileSystem(conf)
        if not fs.exists(path):
            return -1
        names = [status.getPath().getName() for status in fs.listStatus(path)]
        return max((int(n) for n in names if n.isdigit()), default=-1)

    try:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        return last_batch("offsets") > last_batch("commits")
    except Exception as exc:
        log.info("could not read the checkpoint %s (%s): the stream is started", checkpoint, exc)
        return True


def default_events_dir() -> str:
    """The sample landing folder shipped inside the package (the local default)."""
    return str(resources.files("medallion") / "sample_events")


def read_stream(spark: SparkSession, config: Config, secrets: SecretProvider) -> DataFrame:
    """The configured source as a streaming DataFrame: the bronze source columns, or for the
    files source the framed rows of :func:`medallion.bronze.transforms.frame_files`."""
    if config.source == "files":
        raw = (
            spark.readStream.format("binaryFile")
            .schema(BINARY_FILE_SCHEMA)
            .options(**files_options(config))
            .load(config.events_dir or default_events_dir())
        )
        return frame_files(raw)
    if config.source == "kafka":
        conn = secrets.get(config.eventhubs_secret_key) if config.kafka_auth == "connection-string" else None
        client_secret = secrets.get(config.client_secret_key) if config.kafka_auth == "oauth" else None
        on_databricks = config.environment == "databricks"
        opts = kafka_options(config, conn, client_secret, shaded=on_databricks)
        raw = spark.readStream.format("kafka").options(**opts).load()
    elif config.source == "eventhubs":
        conn = secrets.get(config.eventhubs_secret_key)
        raw = (
            spark.readStream.format("eventhubs")
            .options(**eventhubs_options(config, conn, jvm_encrypt(spark)))
            .load()
        )
    else:  # pragma: no cover - Config validates the literal
        raise ConfigError(f"unknown source {config.source!r}")
    return NORMALIZERS[config.source](raw)
