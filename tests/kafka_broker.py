"""A real Apache Kafka broker for the tests, authenticated like the Azure Event Hubs Kafka endpoint.

The broker is Apache Kafka itself (``org.apache.kafka:kafka_2.13``, KRaft mode, no ZooKeeper),
resolved from Maven Central by ``support/kafka/pom.xml`` into the git-ignored
``.cache/kafka/<version>/libs`` (once; later runs reuse the jars) and started as a plain
``java -cp 'libs/*' kafka.Kafka server.properties`` process on loopback ports.

Clients authenticate exactly as against Event Hubs: SASL PLAIN with the literal user name
``$ConnectionString`` and an Event Hubs connection string as the password. Event Hubs only speaks
SASL_SSL; this broker has no TLS, so its client listener is SASL_PLAINTEXT (on 127.0.0.1 only).
The broker's own inter-broker and controller listeners are PLAINTEXT.

Nothing here skips: when Maven, Java or the jars cannot be had, :class:`KafkaBrokerError` says
why, and the tests that need the broker fail.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POM = REPO / "support" / "kafka" / "pom.xml"
#: Apache Kafka release the tests run (any 3.x/4.x broker serves the Spark connector's client).
KAFKA_VERSION = "4.1.1"
CACHE = REPO / ".cache" / "kafka"
#: Written into the libs folder after a complete copy, so a half-finished one is redone.
COMPLETE_MARKER = ".complete"
CONNECTION_STRING_USER = "$ConnectionString"
NAMESPACE = "medallion-test"
START_ATTEMPTS = 3
JVM_OPTS = ("-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")


class KafkaBrokerError(RuntimeError):
    """The test broker could not be resolved or started."""


def connection_string(entity: str = "events", key: str | None = None, namespace: str = NAMESPACE) -> str:
    """An Event Hubs-style namespace connection string with a random (or the given) key."""
    key = key if key is not None else base64.b64encode(secrets.token_bytes(32)).decode()
    return (
        f"Endpoint=sb://{namespace}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={key};EntityPath={entity}"
    )


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise KafkaBrokerError(
            "the test Kafka broker needs a Java runtime (17+): set JAVA_HOME or put `java` on PATH "
            "(e.g. `apt-get install openjdk-17-jre-headless`)"
        )
    return found


def ensure_kafka_jars(version: str = KAFKA_VERSION, cache: Path = CACHE) -> Path:
    """The folder of the broker's jars, resolving them with Maven on first use (idempotent)."""
    libs = cache / version / "libs"
    if (libs / COMPLETE_MARKER).exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaBrokerError(
            f"the test Kafka broker's jars are not in {libs} and `mvn` is not on PATH to resolve them "
            "from Maven Central: install Maven (e.g. `apt-get install maven`)"
        )
    if libs.exists():
        shutil.rmtree(libs)  # an interrupted copy: start over
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(POM),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise KafkaBrokerError(f"`{' '.join(cmd)}` did not finish in 10 minutes") from None
    jars = list(libs.glob("kafka_2.13-*.jar")) if libs.exists() else []
    if done.returncode != 0 or not jars:
        output = (done.stdout + done.stderr).strip()[-3000:]
        raise KafkaBrokerError(
            f"could not resolve org.apache.kafka:kafka_2.13:{version} from Maven Central with "
            f"`{' '.join(cmd)}` (exit {done.returncode}):\n{output}"
        )
    (libs / COMPLETE_MARKER).write_text(version + "\n")
    return libs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _properties_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


@dataclass
class KafkaBroker:
    """One single-node KRaft broker on loopback; use as a context manager (or start/stop)."""

    password: str = field(default_factory=connection_string)
    version: str = KAFKA_VERSION
    partitions: int = 2
    startup_timeout: float = 90.0
    workdir: Path | None = None
    port: int = 0
    process: subprocess.Popen | None = None
    _tmp: tempfile.TemporaryDirectory | None = None

    # --- addresses and client settings ----------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "broker.log"

    def client_config(self, password: str | None = None, **extra) -> dict:
        """confluent-kafka settings for the SASL PLAIN client listener (Event Hubs style)."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": CONNECTION_STRING_USER,
            "sasl.password": self.password if password is None else password,
            **extra,
        }

    # --- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        libs = ensure_kafka_jars(self.version)
        java = _java()
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="medallion-kafka-")
            self.workdir = Path(self._tmp.name)
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once(java, libs)
                return
            except KafkaBrokerError:
                self._stop_process()
                # a free port can be taken by someone else between our probe and the broker's bind
                if attempt == START_ATTEMPTS or "Address already in use" not in self.log():
                    self.stop()
                    raise
            except BaseException:
                self.stop()
                raise

    def _start_once(self, java: str, libs: Path) -> None:
        assert self.workdir is not None
        shutil.rmtree(self.workdir / "data", ignore_errors=True)
        self.port = free_port()
        internal, controller = free_port(), free_port()
        props = self.workdir / "server.properties"
        props.write_text(self._server_properties(internal, controller))
        classpath = f"{libs}/*"
        storage_tool = ["kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props)]
        fmt = subprocess.run(
            [java, *JVM_OPTS, "-cp", classpath, *storage_tool],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if fmt.returncode != 0:
            raise KafkaBrokerError(f"kafka.tools.StorageTool format failed:\n{fmt.stdout}{fmt.stderr}")
        broker = [java, *JVM_OPTS, "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-cp", classpath]
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(
                [*broker, "kafka.Kafka", str(props)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
            )
        self._wait_ready()

    def _server_properties(self, internal: int, controller: int) -> str:
        jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"user_{CONNECTION_STRING_USER}={_jaas_quote(self.password)};"
        )
        assert self.workdir is not None
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "controller.listener.names": "CONTROLLER",
            "listeners": (
                f"CLIENT://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{internal},"
                f"CONTROLLER://127.0.0.1:{controller}"
            ),
            "advertised.listeners": f"CLIENT://127.0.0.1:{self.port},INTERNAL://127.0.0.1:{internal}",
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.client.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.client.plain.sasl.jaas.config": jaas,
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "false",
            # Keep every record: tests produce fixed, old CreateTime timestamps, which the default
            # 7-day time retention would delete at the first retention check (30 s after start).
            "log.retention.ms": "-1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        return "".join(f"{k}={_properties_escape(v)}\n" for k, v in lines.items())

    def _wait_ready(self) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                raise KafkaBrokerError(
                    f"the Kafka broker exited with {code} while starting:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                break
            time.sleep(0.2)
        else:
            raise KafkaBrokerError(f"the Kafka broker did not open {self.bootstrap}:\n{self.log_tail()}")
        admin = AdminClient(self.client_config())
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                meta = admin.list_topics(timeout=5)
                if meta.brokers:
                    return
            except Exception as exc:  # KafkaException while the broker finishes starting
                last = exc
            time.sleep(0.2)
        raise KafkaBrokerError(f"the Kafka broker did not answer ({last}):\n{self.log_tail()}")

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return "(no broker log)"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def _stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # a clean shutdown takes a few seconds
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self._stop_process()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.workdir = None

    # --- topics and messages ------------------------------------------------------------
    def create_topic(self, name: str, partitions: int | None = None) -> str:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self.client_config())
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions or self.partitions, replication_factor=1)],
            operation_timeout=30,
        )
        futures[name].result(timeout=30)
        # wait until every partition has a leader, so the first produce does not race the creation
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            topic = admin.list_topics(name, timeout=5).topics.get(name)
            if (
                topic
                and not topic.error
                and topic.partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            ):
                return name
            time.sleep(0.1)
        raise KafkaBrokerError(f"topic {name} has no leader after 30 s")

    def produce(self, topic: str, records: Iterable[Record]) -> list[Produced]:
        """Produce records synchronously; returns where each one landed (partition, offset)."""
        from confluent_kafka import Producer

        producer = Producer(self.client_config(**{"enable.idempotence": True, "linger.ms": 0}))
        produced: list[Produced] = []
        errors: list[str] = []

        def delivered(err, msg) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                produced.append(Produced(msg.partition(), msg.offset(), msg.timestamp()[1]))

        records = list(records)
        for r in records:
            kwargs = {"value": r.value, "key": r.key, "headers": list(r.headers), "on_delivery": delivered}
            if r.partition is not None:
                kwargs["partition"] = r.partition
            if r.timestamp_ms is not None:
                kwargs["timestamp"] = r.timestamp_ms
            producer.produce(topic, **kwargs)
            producer.flush(30)  # one at a time: delivery reports come back in record order
        if errors or len(produced) != len(records):
            raise KafkaBrokerError(f"produce to {topic} failed: {errors or 'missing delivery reports'}")
        return produced


@dataclass(frozen=True)
class Record:
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Produced:
    partition: int
    offset: int
    timestamp_ms: int
