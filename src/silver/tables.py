"""The silver tables: create them from the registry, or evolve ``silver.events`` to a newer event
contract (additive changes only; a breaking change is refused before anything is written)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from medallion.contract import EventContract, assert_compatible
from medallion.errors import JobFailedError
from medallion.storage import DeltaStorage
from medallion.tables import SILVER_EVENTS, SILVER_QUARANTINE, SILVER_RUNS
from medallion.tables.catalog import table_metadata

if TYPE_CHECKING:
    from medallion.config import Config

log = logging.getLogger(__name__)

CONTRACT_VERSION_PROPERTY = "medallion.contract.version"
CONTRACT_PROPERTY = "medallion.contract"


class ContractChangeError(JobFailedError):
    """The configured contract cannot replace the one silver was built with."""


def prepare_tables(storage: DeltaStorage, config: Config, contract: EventContract) -> None:
    """Create the silver tables, or evolve silver.events to ``contract``. The compatibility check
    runs before anything is written: a breaking change raises :class:`ContractChangeError`."""
    events = SILVER_EVENTS.location(config)
    if storage.exists(events):
        props = storage.properties(events)
        if CONTRACT_PROPERTY in props:
            stored = EventContract.from_dict(json.loads(props[CONTRACT_PROPERTY]))
            try:
                assert_compatible(stored, contract, "backward")
            except ValueError as exc:
                raise ContractChangeError(
                    f"contract v{contract.version} is not backward compatible with v{stored.version}, which "
                    f"{events} was built with; nothing was written. {exc}"
                ) from None
        have = {f.name for f in storage.schema(events).fields}
        missing = [f for f in SILVER_EVENTS.schema_for(contract).fields if f.name not in have]
        if missing:
            log.warning(
                "silver.events: adding columns %s for contract v%s",
                [f.name for f in missing],
                contract.version,
            )
            storage.add_columns(events, missing)
        storage.apply_catalog_metadata(events, table_metadata(SILVER_EVENTS, contract))
    else:
        SILVER_EVENTS.create_if_missing(storage, config, contract)
    wanted = {
        CONTRACT_VERSION_PROPERTY: str(contract.version),
        CONTRACT_PROPERTY: json.dumps(contract.json_schema(), sort_keys=True),
    }
    current = storage.properties(events)
    if any(current.get(k) != v for k, v in wanted.items()):  # no empty commit when nothing changed
        storage.set_properties(events, wanted)
    SILVER_QUARANTINE.create_if_missing(storage, config)
    SILVER_RUNS.create_if_missing(storage, config)
