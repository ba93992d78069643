"""The maintenance policies of every table, as the table registry declares them
(:attr:`medallion.tables.TableSpec.maintenance`; the :class:`TablePolicy` type and its retention
checks live in :mod:`medallion.tables.policy`), and the selection of tables a run maintains.

Read by :mod:`medallion.maintenance.job` (``medallion maintenance``) and documented in
docs/maintenance.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from medallion.config import ConfigError
from medallion.tables import TABLES
from medallion.tables.policy import TablePolicy

#: Every maintained table, in the order the job runs them (the registry's order: upstream first).
POLICIES: tuple[TablePolicy, ...] = tuple(spec.maintenance for spec in TABLES)


def policy_map(policies: Iterable[TablePolicy] = POLICIES) -> dict[str, TablePolicy]:
    out: dict[str, TablePolicy] = {}
    for policy in policies:
        if policy.key in out:
            raise ConfigError(f"two maintenance policies for {policy.key}")
        out[policy.key] = policy
    return out


def parse_tables(text: str | Sequence[str] | None) -> list[str] | None:
    """``"silver.events, gold.user_features"`` (or a list of such) -> ``["silver.events", ...]``;
    None or empty -> None (every table)."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else [p for item in text for p in item.split(",")]
    names = [p.strip() for p in parts if p.strip()]
    return names or None


def select(
    tables: Sequence[str] | None = None, policies: Iterable[TablePolicy] = POLICIES
) -> list[TablePolicy]:
    """The policies of ``tables`` (``layer.table`` names) in policy order; every table if None.
    Unknown names raise ConfigError listing the known ones."""
    by_key = policy_map(policies)
    if tables is None:
        return list(by_key.values())
    wanted = list(dict.fromkeys(tables))
    unknown = [t for t in wanted if t not in by_key]
    if unknown:
        raise ConfigError(
            f"no maintenance policy for {', '.join(unknown)}; known tables: {', '.join(by_key)}"
        )
    return [p for key, p in by_key.items() if key in wanted]
