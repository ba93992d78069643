"""Bronze's ``kafka`` source against a real Apache Kafka broker (tests/kafka_broker.py: KRaft, SASL
PLAIN with ``$ConnectionString`` and an Event Hubs connection string, like the Event Hubs endpoint).

The stream is built by the project's own :func:`medallion.bronze.sources.kafka_options` / ``read_stream``; the
only overrides are the broker address (``kafka_bootstrap_servers``) and the security protocol
(SASL_PLAINTEXT: the local broker has no TLS). The connection string reaches the job through
:class:`medallion.secrets.SecretProvider` from the environment, as it does locally.

The crash test and the CLI wrong-credentials test run bronze in a child process (see :func:`child`),
so it can be killed with SIGKILL and so its whole output, the JVM's logs included, can be checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from kafka_broker import (
    CACHE,
    KAFKA_VERSION,
    NAMESPACE,
    KafkaBroker,
    KafkaBrokerError,
    Record,
    connection_string,
    ensure_kafka_jars,
)
from medallion.bronze import job
from medallion.bronze.plan import BronzeResult
from medallion.bronze.sources import KafkaAuthenticationError
from medallion.config import Config
from medallion.secrets import env_var_for
from medallion.tables import BRONZE_EVENTS

TESTS = Path(__file__).resolve().parent
IVY_DIR = TESTS.parent / ".cache" / "ivy"  # the Spark packages cache the test session uses (conftest.py)
GOOD = b'{"event_id":"e1","event_type":"watch","user_id":"u1","video_id":"v1","timestamp":1767225600000}'
NON_UTF8 = b'{"event_id":"e3","user_id":"\xff\xfe\xc3\x28"}'
T0 = 1767225600000  # 2026-01-01T00:00:00Z in ms
RUN_DEADLINE_S = 180  # an available-now run that is still going after this did not stop by itself
CHILD_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def kafka_broker():
    """One broker for the session. No skip: without Maven, Java or the jars the tests fail."""
    broker = KafkaBroker()
    try:
        broker.start()
    except KafkaBrokerError as exc:
        pytest.fail(f"the test Kafka broker could not be started: {exc}", pytrace=False)
    yield broker
    broker.stop()


@pytest.fixture
def topic(kafka_broker: KafkaBroker) -> str:
    """A fresh two-partition topic (the Event Hub) per test."""
    return kafka_broker.create_topic(f"events-{uuid.uuid4().hex[:10]}", partitions=2)


@pytest.fixture
def kafka_config(local_config: Config, kafka_broker: KafkaBroker, topic: str, monkeypatch) -> Config:
    """The bronze kafka config for the test broker; the connection string is in the environment."""
    monkeypatch.setenv(env_var_for(local_config.eventhubs_secret_key), kafka_broker.password)
    return local_config.replace(
        source="kafka",
        eventhubs_namespace=NAMESPACE,
        eventhubs_name=topic,
        kafka_bootstrap_servers=kafka_broker.bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
    )


@contextlib.contextmanager
def _deadline(spark, seconds: float):
    """Stops every active query after ``seconds``; yields the event telling whether it had to."""
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        for query in spark.streams.active:
            query.stop()

    timer = threading.Timer(seconds, stop)
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def _run(config: Config, spark, storage) -> BronzeResult:
    with _deadline(spark, RUN_DEADLINE_S) as fired:
        result = job.run(config, spark, storage)
    assert not fired.is_set(), f"available-now bronze run did not stop by itself in {RUN_DEADLINE_S} s"
    return result


def _rows(storage, config: Config) -> list:
    return storage.read(BRONZE_EVENTS.location(config)).collect()


def _positions(rows) -> Counter:
    """(partition, offset) of each bronze row, counted: a duplicate shows as a count of 2."""
    return Counter((int(r["source_partition"]), r["source_offset"]) for r in rows)


def _epoch_ms(value: dt.datetime) -> int:
    # Spark hands back naive local datetimes; .timestamp() reads them as local time: the instant.
    return round(value.timestamp() * 1000)


@pytest.mark.slow
def test_broker_jars_are_cached_and_missing_maven_is_a_clear_failure(kafka_broker, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mvn nor anything else on PATH
    libs = ensure_kafka_jars()  # resolved once for the session broker: Maven is not run again
    assert libs == CACHE / KAFKA_VERSION / "libs"
    assert [j.name for j in libs.glob("kafka_2.13-*.jar")] == [f"kafka_2.13-{KAFKA_VERSION}.jar"]
    with pytest.raises(KafkaBrokerError, match="`mvn` is not on PATH"):
        ensure_kafka_jars(cache=tmp_path / "empty-cache")


# --- a. the record lands in bronze as documented ------------------------------------------------
@pytest.mark.slow
def test_kafka_record_lands_in_bronze_as_documented(spark, storage, kafka_config, kafka_broker, topic):
    records = [
        Record(
            GOOD,
            key=b"user-1",
            headers=[("content-type", b"application/json"), ("trace", b"t1"), ("trace", b"t2")],
            partition=0,
            timestamp_ms=T0,
        ),
        Record(
            NON_UTF8,
            key=b"\x00\xffkey",
            headers=[("origin", "größe".encode())],
            partition=1,
            timestamp_ms=T0 + 1,
        ),
        Record(b"", partition=1, timestamp_ms=T0 + 2),
        Record(None, key=b"tombstone", partition=0, timestamp_ms=T0 + 3),
    ]
    produced = kafka_broker.produce(topic, records)

    result = _run(kafka_config, spark, storage)

    assert result.rows_ingested == 4 and result.batches == 1
    rows = {(int(r["source_partition"]), r["source_offset"]): r for r in _rows(storage, kafka_config)}
    assert sorted(rows) == sorted((p.partition, p.offset) for p in produced)
    expected_headers = [
        {"content-type": "application/json", "trace": '["t1","t2"]'},
        {"origin": "größe"},
        {},
        {},
    ]
    for record, where, headers in zip(records, produced, expected_headers, strict=True):
        row = rows[(where.partition, where.offset)]
        body = None if row["body"] is None else bytes(row["body"])
        assert body == record.value  # byte for byte, invalid UTF-8 and empty bodies included
        assert row["source"] == "kafka"
        assert row["source_partition"] == str(where.partition)
        assert row["source_offset"] == where.offset
        assert (None if row["source_key"] is None else bytes(row["source_key"])) == record.key
        assert _epoch_ms(row["enqueued_time"]) == record.timestamp_ms == where.timestamp_ms
        assert row["source_properties"] == {**headers, "kafka.topic": topic, "kafka.timestampType": "0"}
        assert row["source_file"] is None
        assert row["ingestion_batch_id"] == 0
        assert row["ingestion_date"] == row["ingestion_time"].date()


# --- b. available-now drains the topic and stops; the next run takes only new records ------------
@pytest.mark.slow
def test_available_now_drains_the_topic_and_a_second_run_takes_only_new_records(
    spark, storage, kafka_config, kafka_broker, topic
):
    cfg = kafka_config.replace(max_offsets_per_trigger=2)
    first = kafka_broker.produce(topic, [Record(b"first-%d" % i, partition=i % 2) for i in range(5)])

    drained = _run(cfg, spark, storage)
    assert drained.rows_ingested == 5
    assert drained.batches >= 3  # 5 records at most 2 a batch: the limit held and the run went on
    assert _positions(_rows(storage, cfg)) == Counter((p.partition, p.offset) for p in first)

    idle = _run(cfg, spark, storage)
    assert idle.rows_ingested == 0 and idle.batches == 0

    second = kafka_broker.produce(topic, [Record(b"second-%d" % i, partition=i % 2) for i in range(2)])
    again = _run(cfg, spark, storage)
    assert again.rows_ingested == 2
    rows = _rows(storage, cfg)
    assert _positions(rows) == Counter((p.partition, p.offset) for p in first + second)
    new_batches = {r["ingestion_batch_id"] for r in rows if bytes(r["body"]).startswith(b"second-")}
    assert min(new_batches) > max(drained.batch_ids)


# --- c. kill -9 between the Delta commit and the checkpoint commit ---------------------------------
CRASH_BATCH = 1


@pytest.mark.slow
def test_kill_9_after_delta_commit_before_checkpoint_commit_loses_and_doubles_nothing(
    spark, storage, kafka_config, kafka_broker, topic
):
    cfg = kafka_config.replace(max_offsets_per_trigger=2)
    produced = kafka_broker.produce(topic, [Record(b"event-%d" % i, partition=i % 2) for i in range(6)])

    crashed = _child(["crash", json.dumps(dataclasses.asdict(cfg)), str(CRASH_BATCH)], kafka_broker.password)
    assert crashed.returncode == -signal.SIGKILL, crashed.output
    assert f"killing myself: batch {CRASH_BATCH} committed" in crashed.stdout, crashed.output

    # the state the kill left: the batch's rows are in Delta, its offsets are logged, its commit is not
    checkpoint = Path(cfg.checkpoint(job.STREAM_NAME))
    assert (checkpoint / "offsets" / str(CRASH_BATCH)).exists()
    assert (checkpoint / "commits" / str(CRASH_BATCH - 1)).exists()
    assert not (checkpoint / "commits" / str(CRASH_BATCH)).exists()
    before = _rows(storage, cfg)
    assert CRASH_BATCH in {r["ingestion_batch_id"] for r in before}
    assert 0 < len(before) < len(produced)

    # restart (here, on the test session): Spark replays the batch, the idempotent append skips it
    restarted = _run(cfg, spark, storage)
    assert restarted.batches_skipped == 1
    assert restarted.rows_ingested == len(produced) - len(before)
    after = _positions(_rows(storage, cfg))
    assert after == Counter((p.partition, p.offset) for p in produced)  # 0 lost, 0 duplicated
    assert max(after.values()) == 1


# --- d. wrong credentials fail fast, clearly, without the secret -----------------------------------
AUTH_FAILURE = (
    "authentication failed for the Event Hubs Kafka endpoint {bootstrap} (kafka_auth=connection-string, "
    "topic '{topic}'): check the secret 'eventhubs-connection-string' (environment variable "
    "MEDALLION_SECRET_EVENTHUBS_CONNECTION_STRING)"
)
#: The Event Hubs timeouts kafka_options keeps (request 60 s, session 30 s) and the client's
#: default.api.timeout.ms (60 s) would take a minute or more; a refused login is not retried by the
#: Kafka client and Spark's offset fetch gives up after 3 tries 1 s apart.
FAIL_FAST_S = 30


def _wrong_connection_string(topic: str) -> tuple[str, str]:
    """(connection string, its key): same namespace and policy, a SharedAccessKey the broker refuses."""
    key = "Wr0ng" + uuid.uuid4().hex
    return connection_string(entity=topic, key=key), key


def _secrets(broker: KafkaBroker, wrong: str, wrong_key: str) -> list[str]:
    return [wrong, wrong_key, broker.password, broker.password.split("SharedAccessKey=")[1].split(";")[0]]


@pytest.mark.slow
def test_wrong_credentials_fail_fast_with_a_clear_error_without_the_secret(
    spark, storage, kafka_config, kafka_broker, topic, monkeypatch, caplog
):
    kafka_broker.produce(topic, [Record(GOOD, partition=0)])
    wrong, wrong_key = _wrong_connection_string(topic)
    monkeypatch.setenv(env_var_for(kafka_config.eventhubs_secret_key), wrong)
    refusals_before = kafka_broker.log().count("Failed authentication")

    started = time.monotonic()
    with _deadline(spark, RUN_DEADLINE_S), pytest.raises(KafkaAuthenticationError) as failure:
        job.run(kafka_config, spark, storage)
    seconds = time.monotonic() - started

    assert seconds < FAIL_FAST_S
    text = str(failure.value)
    assert text.startswith(
        AUTH_FAILURE.format(bootstrap=kafka_broker.bootstrap, topic=kafka_config.eventhubs_name)
    )
    assert text.endswith("Broker said: Authentication failed: Invalid username or password")
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    for secret in _secrets(kafka_broker, wrong, wrong_key):
        assert secret not in text and secret not in repr(failure.value) and secret not in caplog.text
    # the broker really refused the key (not some other failure that happened to look alike)
    assert kafka_broker.log().count("Failed authentication") > refusals_before
    assert storage.version(BRONZE_EVENTS.location(kafka_config)) == 0  # created, nothing appended


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["delta-rs"])  # the storage engine plays no part here
def test_wrong_credentials_cli_exits_1_and_no_output_holds_the_secret(kafka_config, kafka_broker, topic):
    """The whole output of ``medallion bronze`` (Python and Spark/Kafka JVM logs) is checked."""
    kafka_broker.produce(topic, [Record(GOOD, partition=0)])
    wrong, wrong_key = _wrong_connection_string(topic)
    argv = [
        "bronze",
        "--source=kafka",
        f"--engine={kafka_config.engine}",
        f"--root={kafka_config.root}",
        f"--eventhubs-namespace={NAMESPACE}",
        f"--eventhubs-name={topic}",
        f"--kafka-bootstrap-servers={kafka_broker.bootstrap}",
        "--kafka-security-protocol=SASL_PLAINTEXT",
        "--shuffle-partitions=2",
        "--log-level=DEBUG",
    ]
    failed = _child(["cli", json.dumps(argv)], wrong)

    assert failed.returncode == 1, failed.output  # the CLI's "job failed" exit code
    message = "medallion bronze: FAILED: " + AUTH_FAILURE.format(
        bootstrap=kafka_broker.bootstrap, topic=topic
    )
    assert message in failed.stderr, failed.output
    assert "SaslAuthenticationException" in failed.stderr  # Spark's own log of the failure is there
    for secret in _secrets(kafka_broker, wrong, wrong_key):
        assert secret not in failed.output


# --- the child process ---------------------------------------------------------------------------
@dataclasses.dataclass
class ChildRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _child(args: list[str], secret: str) -> ChildRun:
    """Run :func:`child` in a new process group (so a SIGKILL takes its Spark JVM with it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDALLION_")}
    env.update(
        {
            env_var_for(Config().eventhubs_secret_key): secret,
            # the same Maven packages cache as the test session, so nothing is downloaded again
            "PYSPARK_SUBMIT_ARGS": f"--conf spark.jars.ivy={IVY_DIR} pyspark-shell",
            "MEDALLION_SPARK_MASTER": "local[2]",
            "MEDALLION_SPARK_DRIVER_MEMORY": "1g",
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
    )
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_bronze_kafka; test_bronze_kafka.child()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=TESTS.parent,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"bronze child process still running after {CHILD_TIMEOUT_S} s:\n{out}\n{err}")
    return ChildRun(proc.returncode, out, err)


def child() -> None:
    """Entry point of the child process: ``crash <config json> <batch>`` or ``cli <argv json>``.

    crash: bronze with medallion's own Config, Spark session, storage and job, where the storage's
    ``append`` is wrapped (in this process only) to SIGKILL the whole process group, Spark's JVM
    included, as soon as the append of the chosen batch has committed - before the batch function
    returns, so before Spark can write the checkpoint's commit for it.

    cli: ``medallion.cli.main(argv)``, its return value as the exit code.
    """
    from medallion.spark import get_spark
    from medallion.storage import Txn, get_storage

    mode, *args = sys.argv[1:]
    if mode == "crash":
        config = Config(**json.loads(args[0]))
        crash_batch = int(args[1])
        spark = get_spark(config)
        storage = get_storage(spark, config)
        real_append = storage.append

        def append(*a, **kw):
            written = real_append(*a, **kw)
            txn = kw.get("txn") or next((x for x in a if isinstance(x, Txn)), None)
            if txn is None:
                print("bronze appended without a Txn", flush=True)
                os._exit(4)
            if written.committed and txn.version == crash_batch:
                print(
                    f"killing myself: batch {crash_batch} committed as version {written.version}", flush=True
                )
                os.killpg(0, signal.SIGKILL)
            return written

        storage.append = append
        job.run(config, spark, storage)
        print(f"bronze finished without reaching batch {crash_batch}", flush=True)
        sys.exit(3)
    if mode == "cli":
        from medallion.cli import main

        sys.exit(main(json.loads(args[0])))
    raise SystemExit(f"unknown child mode {mode!r}")
