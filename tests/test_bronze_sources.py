"""Option building and failure messages of the bronze sources (the Kafka source also runs against a
real broker in tests/test_bronze_kafka.py)."""

from __future__ import annotations

import json

import pytest

from medallion.bronze.sources import (
    KafkaAuthenticationError,
    default_events_dir,
    eventhubs_options,
    eventhubs_starting_position,
    explain_stream_failure,
    files_options,
    kafka_options,
    redact,
)
from medallion.config import Config, ConfigError
from medallion.secrets import Secret, SecretNotFoundError, SecretProvider, env_var_for

CONN = "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc+/="


def _cfg(**kw) -> Config:
    base = {"source": "kafka", "eventhubs_namespace": "ns1", "eventhubs_name": "watch-events"}
    base.update(kw)
    return Config(**base)


def test_kafka_connection_string_options():
    opts = kafka_options(_cfg(consumer_group="bronze", max_offsets_per_trigger=1000), Secret("k", CONN))
    assert opts["kafka.bootstrap.servers"] == "ns1.servicebus.windows.net:9093"
    assert opts["subscribe"] == "watch-events"
    assert opts["kafka.group.id"] == "bronze"
    assert opts["kafka.security.protocol"] == "SASL_SSL"
    assert opts["kafka.sasl.mechanism"] == "PLAIN"
    assert opts["kafka.sasl.jaas.config"] == (
        "kafkashaded.org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="$ConnectionString" password="{CONN}";'
    )
    assert opts["maxOffsetsPerTrigger"] == "1000"
    assert opts["startingOffsets"] == "earliest"
    assert opts["failOnDataLoss"] == "true"
    assert opts["includeHeaders"] == "true"


def test_kafka_unshaded_for_open_source_spark():
    opts = kafka_options(_cfg(), Secret("k", CONN), shaded=False)
    assert opts["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    )


def test_kafka_jaas_escapes_quotes():
    opts = kafka_options(_cfg(), Secret("k", 'a"b\\c'))
    assert 'password="a\\"b\\\\c";' in opts["kafka.sasl.jaas.config"]


def test_kafka_endpoint_and_protocol_overrides_for_a_local_broker():
    cfg = _cfg(eventhubs_namespace="", kafka_bootstrap_servers="127.0.0.1:9092")
    opts = kafka_options(cfg.replace(kafka_security_protocol="SASL_PLAINTEXT"), Secret("k", CONN))
    assert opts["kafka.bootstrap.servers"] == "127.0.0.1:9092"
    assert opts["kafka.security.protocol"] == "SASL_PLAINTEXT"
    # everything else is exactly what the Event Hubs endpoint gets
    eventhubs = kafka_options(_cfg(), Secret("k", CONN))
    differs = {k for k in eventhubs if opts[k] != eventhubs[k]}
    assert differs == {"kafka.bootstrap.servers", "kafka.security.protocol"}
    assert set(opts) == set(eventhubs)


def test_kafka_plaintext_is_refused_where_it_could_leak_credentials():
    with pytest.raises(ConfigError, match="SASL_SSL"):
        Config(environment="databricks", kafka_security_protocol="SASL_PLAINTEXT")
    with pytest.raises(ConfigError, match="kafka_security_protocol"):
        Config(kafka_security_protocol="PLAINTEXT")
    cfg = _cfg(
        kafka_auth="service-credential", service_credential="c", kafka_security_protocol="SASL_PLAINTEXT"
    )
    with pytest.raises(ConfigError, match="service-credential always uses SASL_SSL"):
        kafka_options(cfg)


SASL_ERROR = (
    "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: "
    "org.apache.kafka.common.errors.SaslAuthenticationException: Authentication failed: Invalid "
    "username or password SQLSTATE: XXKST\n=== Streaming Query ===\nCurrent State: INITIALIZING"
)


def test_refused_kafka_credentials_become_a_clear_error():
    error = explain_stream_failure(_cfg(), RuntimeError(SASL_ERROR))
    assert isinstance(error, KafkaAuthenticationError)
    text = str(error)
    assert text.startswith(
        "authentication failed for the Event Hubs Kafka endpoint ns1.servicebus.windows.net:9093"
    )
    assert "secret 'eventhubs-connection-string' (environment variable " in text
    assert "MEDALLION_SECRET_EVENTHUBS_CONNECTION_STRING" in text
    assert text.endswith("Broker said: Authentication failed: Invalid username or password")
    on_databricks = explain_stream_failure(_cfg(environment="databricks"), RuntimeError(SASL_ERROR))
    assert "secret 'eventhubs-connection-string' in secret scope 'medallion'" in str(on_databricks)
    oauth = _cfg(kafka_auth="oauth", tenant_id="t1", client_id="app-1")
    assert "--client-id app-1" in str(explain_stream_failure(oauth, RuntimeError(SASL_ERROR)))


def test_stream_failure_explanation_masks_secrets_and_ignores_other_errors():
    leaky = RuntimeError(
        "kafkashaded.org.apache.kafka.common.errors.SaslAuthenticationException: "
        "bad SharedAccessKey=abc+/= here"
    )
    text = str(explain_stream_failure(_cfg(), leaky))
    assert "abc+/=" not in text and "SharedAccessKey=***" in text
    assert explain_stream_failure(_cfg(), RuntimeError("TimeoutException: Timed out waiting")) is None
    assert explain_stream_failure(Config(), RuntimeError(SASL_ERROR)) is None  # files source


def test_kafka_oauth_options():
    cfg = _cfg(kafka_auth="oauth", tenant_id="tenant-1", client_id="app-1", fail_on_data_loss=False)
    opts = kafka_options(cfg, client_secret=Secret("s", "sp-secret"))
    assert opts["kafka.sasl.mechanism"] == "OAUTHBEARER"
    assert 'clientId="app-1" clientSecret="sp-secret"' in opts["kafka.sasl.jaas.config"]
    assert 'scope="https://ns1.servicebus.windows.net/.default"' in opts["kafka.sasl.jaas.config"]
    assert opts["kafka.sasl.oauthbearer.token.endpoint.url"] == (
        "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
    )
    assert opts["kafka.sasl.login.callback.handler.class"].endswith("OAuthBearerLoginCallbackHandler")
    assert opts["failOnDataLoss"] == "false"


def test_kafka_service_credential_needs_no_secret():
    opts = kafka_options(_cfg(kafka_auth="service-credential", service_credential="eh-cred"))
    assert opts["databricks.serviceCredential"] == "eh-cred"
    assert "kafka.sasl.jaas.config" not in opts


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"eventhubs_namespace": ""}, "--eventhubs-namespace"),
        ({"eventhubs_name": ""}, "--eventhubs-name"),
        ({"kafka_auth": "oauth"}, "--tenant-id, --client-id"),
        ({"kafka_auth": "service-credential"}, "--service-credential"),
    ],
)
def test_kafka_missing_settings_are_clear_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        kafka_options(_cfg(**changes))


def test_kafka_connection_string_required():
    with pytest.raises(ConfigError, match="connection string"):
        kafka_options(_cfg())


def test_redact_hides_credentials():
    opts = kafka_options(_cfg(), Secret("k", CONN))
    safe = redact(opts)
    assert CONN not in json.dumps(safe)
    assert safe["kafka.sasl.jaas.config"] == "***"
    assert safe["subscribe"] == "watch-events"


def test_eventhubs_options_encrypt_and_entity_path():
    seen = []

    def encrypt(text: str) -> str:
        seen.append(text)
        return "ENC(" + text[::-1] + ")"

    opts = eventhubs_options(_cfg(source="eventhubs", consumer_group="cg"), Secret("k", CONN), encrypt)
    assert seen == [CONN + ";EntityPath=watch-events"]
    assert opts["eventhubs.connectionString"] == "ENC(" + seen[0][::-1] + ")"
    assert opts["eventhubs.consumerGroup"] == "cg"
    assert json.loads(opts["eventhubs.startingPosition"])["seqNo"] == -1
    assert opts["maxEventsPerTrigger"] == "500000"
    # an entity path already in the connection string is kept as is
    eventhubs_options(_cfg(source="eventhubs"), Secret("k", CONN + ";EntityPath=other"), encrypt)
    assert seen[-1].endswith("EntityPath=other")


def test_eventhubs_starting_positions():
    assert json.loads(eventhubs_starting_position("latest"))["offset"] == "@latest"
    assert json.loads(eventhubs_starting_position("earliest"))["offset"] == "-1"
    custom = '{"offset": "100", "seqNo": -1, "enqueuedTime": null, "isInclusive": true}'
    assert eventhubs_starting_position(custom) == custom
    with pytest.raises(ConfigError, match="earliest, latest or JSON"):
        eventhubs_starting_position("yesterday")


def test_files_options_never_forget_late_files():
    opts = files_options(Config(max_files_per_trigger=7))
    assert opts == {"maxFilesPerTrigger": "7", "maxFileAge": "3650d", "latestFirst": "false"}


def test_packaged_sample_events_exist():
    from pathlib import Path

    files = sorted(Path(default_events_dir()).glob("*.jsonl"))
    assert len(files) >= 2
    assert all(f.stat().st_size > 0 for f in files)


def test_secret_provider_reads_environment_and_never_prints_value():
    provider = SecretProvider("scope1", env={env_var_for("eventhubs-connection-string"): CONN})
    secret = provider.get("eventhubs-connection-string")
    assert secret.reveal() == CONN
    assert CONN not in repr(secret) and CONN not in str(secret) and CONN not in f"{secret}"
    assert env_var_for("eventhubs-connection-string") == "MEDALLION_SECRET_EVENTHUBS_CONNECTION_STRING"


def test_secret_provider_missing_secret_says_what_to_set():
    with pytest.raises(SecretNotFoundError, match="MEDALLION_SECRET_NOPE.*scope 'scope1'"):
        SecretProvider("scope1", env={}).get("nope")


def test_secret_provider_dbutils_errors_do_not_leak():
    def failing_get(scope: str, key: str) -> str:
        raise RuntimeError(f"boom {scope}/{key}")

    with pytest.raises(SecretNotFoundError, match="not readable from scope 's'") as info:
        SecretProvider("s", dbutils_get=failing_get).get("k")
    assert info.value.__cause__ is None
