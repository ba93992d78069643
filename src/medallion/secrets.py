"""Secrets: from a Databricks secret scope (Key Vault-backed) on Databricks, from the
environment locally (``MEDALLION_SECRET_<KEY>``, key upper-cased, ``-`` -> ``_``).

Secret values are wrapped in :class:`Secret`, whose ``repr``/``str`` never show the value, so
they cannot end up in logs or exceptions by accident. Call :meth:`Secret.reveal` only where the
value is handed to a connector.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

ENV_SECRET_PREFIX = "MEDALLION_SECRET_"  # noqa: S105 - a variable-name prefix, not a secret


class SecretNotFoundError(LookupError):
    """A secret is not available from the configured provider."""


class Secret:
    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, '***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.name == self.name and other._value == self._value

    def __hash__(self) -> int:
        return hash(self.name)


def env_var_for(key: str) -> str:
    return ENV_SECRET_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


class SecretProvider:
    """Looks secrets up in a Databricks secret scope or the environment."""

    def __init__(
        self,
        scope: str,
        *,
        dbutils_get: Callable[[str, str], str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.scope = scope
        self._dbutils_get = dbutils_get
        self._env = os.environ if env is None else env

    @classmethod
    def for_spark(cls, spark: Any, scope: str, on_databricks: bool) -> SecretProvider:
        if not on_databricks:
            return cls(scope)
        from pyspark.dbutils import DBUtils  # type: ignore[import-not-found]  # Databricks runtime only

        return cls(scope, dbutils_get=DBUtils(spark).secrets.get)

    def get(self, key: str) -> Secret:
        if self._dbutils_get is not None:
            try:
                return Secret(key, self._dbutils_get(self.scope, key))
            except Exception as exc:  # the runtime raises its own exception types
                raise SecretNotFoundError(
                    f"secret {key!r} not readable from scope {self.scope!r}: {type(exc).__name__}"
                ) from None
        var = env_var_for(key)
        if var not in self._env or not self._env[var]:
            raise SecretNotFoundError(
                f"secret {key!r} is not set: export {var} locally, or on Databricks put it in "
                f"secret scope {self.scope!r}"
            )
        return Secret(key, self._env[var])
