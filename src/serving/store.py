"""The Feast feature store of a config: where its registry lives, which online store it writes,
and how that store is reached - without ever showing a credential.

Online store
------------
* **Redis** when a Redis URL is configured: ``--redis-url`` / ``MEDALLION_REDIS_URL``, or the
  secret ``redis_secret_key`` (the Key Vault-backed secret scope on Databricks, env
  ``MEDALLION_SECRET_<KEY>`` locally). Both ``redis://[:PASSWORD@]HOST:PORT/DB`` (``rediss://`` for
  TLS) and the connection string the Azure portal shows for Azure Cache for Redis
  (``NAME.redis.cache.windows.net:6380,password=...,ssl=True,abortConnect=False``) are accepted.
* **SQLite** (Feast's embedded online store, ``<serving_root>/online.db``) when none is: a laptop
  running ``medallion demo`` needs nothing but the install. On Databricks a Redis is required.

The registry is Feast's file registry at ``<serving_root>/registry.db`` (a Unity Catalog volume on
Databricks). The offline store is Feast's Spark offline store over the gold tables.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.config import ConfigError
from medallion.errors import JobFailedError
from medallion.secrets import Secret, SecretNotFoundError, SecretProvider
from medallion.serving.definitions import PROJECT, feast_objects, quiet_feast

if TYPE_CHECKING:
    from medallion.config import Config
    from medallion.tables import TableSpec

REDIS = "redis"
SQLITE = "sqlite"
_CONNECT_TIMEOUT_S = 5.0
#: The pre-flight check retries a failed connection twice, 0.1 s then 0.2 s apart (redis-py's default
#: backs off for about 7 s): a refused connection fails the run at once and the job's own retries
#: (max_retries in resources/) cover a longer outage. Feast's writes keep redis-py's retries.
_CHECK_RETRIES = 2
#: Azure/StackExchange connection-string options redis-py does not take.
_IGNORED_OPTIONS = {"abortconnect", "connectretry", "connecttimeout", "synctimeout", "allowadmin"}


class OnlineStoreError(JobFailedError):
    """The online store cannot be reached or refused the credentials; nothing was changed."""


@dataclass(frozen=True)
class OnlineTarget:
    """Where the online store is: ``kind`` redis or sqlite, ``where`` (safe to print) and, for
    Redis, the connection (a :class:`Secret`: it may hold the password)."""

    kind: str
    where: str
    connection: Secret | None = None
    redis_options: dict[str, Any] = field(default_factory=dict, repr=False)

    def scrub(self, text: str) -> str:
        """``text`` with the connection's password (if any) replaced by ``***``."""
        password = self.redis_options.get("password")
        return text.replace(str(password), "***") if password else text


def parse_redis(value: str) -> tuple[str, dict[str, Any], str]:
    """A Redis URL or Azure connection string -> (Feast connection string, redis-py options,
    a printable form without the password)."""
    value = value.strip()
    if "://" in value:
        url = urllib.parse.urlsplit(value)
        if url.scheme not in ("redis", "rediss"):
            raise ConfigError(f"redis_url: scheme {url.scheme!r} is not redis:// or rediss://")
        try:
            port = url.port or (6380 if url.scheme == "rediss" else 6379)
            db = int(url.path.strip("/") or 0)
        except ValueError:
            raise ConfigError("redis_url: expected redis://[:PASSWORD@]HOST:PORT/DB") from None
        options: dict[str, Any] = {"host": url.hostname or "localhost", "port": port, "db": db}
        if url.password:
            options["password"] = urllib.parse.unquote(url.password)
        if url.username:
            options["username"] = urllib.parse.unquote(url.username)
        if url.scheme == "rediss":
            options["ssl"] = True
    else:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        hosts = [p for p in parts if "=" not in p]
        if len(hosts) != 1 or ":" not in hosts[0]:
            raise ConfigError("redis connection string: expected HOST:PORT,password=...,ssl=True")
        host, port_text = hosts[0].rsplit(":", 1)
        options = {"host": host, "port": int(port_text), "db": 0}
        for part in parts:
            if "=" in part:
                key, text = part.split("=", 1)
                key = key.strip()
                if key.lower() in _IGNORED_OPTIONS:
                    continue
                if key.lower() == "ssl":
                    options["ssl"] = text.strip().lower() == "true"
                elif key.lower() == "db":
                    options["db"] = int(text)
                else:
                    options[key.lower()] = text
    password = options.get("password")
    if password is not None and "," in str(password):
        raise ConfigError("redis: a password holding ',' cannot be passed to Feast's Redis store")
    feast = f"{options['host']}:{options['port']}"
    for key in ("db", "username", "password", "ssl"):
        if key in options:
            # Feast json-decodes each value: quote the text ones so a password like 123 stays text
            feast += f",{key}={json.dumps(options[key])}"
    scheme = "rediss" if options.get("ssl") else "redis"
    where = f"{scheme}://{options['host']}:{options['port']}/{options['db']}"
    return feast, options, where


def online_target(config: Config, secrets: SecretProvider | None = None) -> OnlineTarget:
    """The configured online store (see the module docstring)."""
    value = config.redis_url
    if not value:
        provider = secrets or SecretProvider(config.secret_scope)
        try:
            value = provider.get(config.redis_secret_key).reveal()
        except SecretNotFoundError as exc:
            if config.environment == "databricks":
                raise ConfigError(f"the online store needs a Redis: {exc}") from None
            value = ""
    if not value:
        path = config.serving_path("online.db")
        return OnlineTarget(SQLITE, f"sqlite:{path}")
    feast, options, where = parse_redis(value)
    return OnlineTarget(REDIS, where, Secret("redis", feast), options)


def check_online_store(target: OnlineTarget) -> None:
    """Connect (and authenticate) before anything is written: a clear :class:`OnlineStoreError`
    instead of a failure half-way, and the lake untouched."""
    if target.kind == SQLITE:
        Path(target.where.removeprefix("sqlite:")).parent.mkdir(parents=True, exist_ok=True)
        return
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    options = {k: v for k, v in target.redis_options.items()}
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.1), _CHECK_RETRIES)
    try:
        client = redis.Redis(
            **options, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=10, retry=retry
        )
        client.ping()
        client.close()
    except redis.AuthenticationError:
        raise OnlineStoreError(
            f"online store {target.where}: authentication failed (wrong password?); nothing was written"
        ) from None
    except redis.RedisError as exc:
        reason = target.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if "WRONGPASS" in reason or "NOAUTH" in reason or "invalid password" in reason.lower():
            raise OnlineStoreError(
                f"online store {target.where}: authentication failed ({reason}); nothing was written"
            ) from None
        raise OnlineStoreError(
            f"online store {target.where} is unreachable ({reason}); nothing was written"
        ) from None


def repo_config(config: Config, target: OnlineTarget) -> Any:
    from feast.infra.offline_stores.contrib.spark_offline_store.spark import SparkOfflineStoreConfig
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.repo_config import RegistryConfig, RepoConfig

    if target.kind == REDIS:
        assert target.connection is not None
        # skip_dedup: a recomputed feature date keeps its timestamp; its new values must still land
        online: Any = RedisOnlineStoreConfig(connection_string=target.connection.reveal(), skip_dedup=True)
    else:
        online = SqliteOnlineStoreConfig(path=target.where.removeprefix("sqlite:"))
    registry = config.serving_path("registry.db")
    Path(registry).parent.mkdir(parents=True, exist_ok=True)
    return RepoConfig(
        project=PROJECT,
        provider="local",
        registry=RegistryConfig(path=registry, cache_ttl_seconds=60),
        online_store=online,
        offline_store=SparkOfflineStoreConfig(),
        entity_key_serialization_version=3,
        repo_path=Path(registry).parent,
    )


def table_ref(config: Config):
    """How the Feast sources name a gold table in Spark SQL."""

    def ref(table: TableSpec) -> str:
        location = table.location(config)
        return location if config.environment == "databricks" else f"delta.`{location}`"

    return ref


def feature_store(config: Config, target: OnlineTarget, *, apply: bool = False) -> Any:
    """The Feast store; ``apply`` registers the definitions (idempotent), which the materialise
    job does before writing. A reader of a registry that was never applied gets a clear error."""
    os.environ.setdefault("FEAST_USAGE", "False")  # no usage telemetry from jobs
    from feast import FeatureStore

    quiet_feast()

    store = FeatureStore(config=repo_config(config, target))
    if apply:
        store.apply(feast_objects(table_ref(config)))
    elif not Path(config.serving_path("registry.db")).exists() and config.environment != "databricks":
        raise JobFailedError(
            f"no feature registry at {config.serving_path('registry.db')}: run medallion materialize first"
        )
    return store


_PASSWORD = re.compile(r"password=[^,\s]*", re.IGNORECASE)


def scrub_text(text: str, target: OnlineTarget | None) -> str:
    """A message with any password removed."""
    text = _PASSWORD.sub("password=***", text)
    return target.scrub(text) if target is not None else text
