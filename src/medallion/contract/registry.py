"""The contract versions shipped as package data (``medallion/contracts/event_v<N>.json``)."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources

from medallion.contract.model import VERSION_KEYWORD, ContractError, EventContract, _parse

_CONTRACT_PACKAGE = "medallion"
_CONTRACT_DIR = "contracts"
_FILE_PREFIX = "event_v"


def available_versions() -> list[int]:
    """Versions shipped as package data, ascending."""
    return list(_available_versions())


@lru_cache(maxsize=1)
def _available_versions() -> tuple[int, ...]:
    root = resources.files(_CONTRACT_PACKAGE).joinpath(_CONTRACT_DIR)
    found = []
    for entry in root.iterdir():
        name = entry.name
        if name.startswith(_FILE_PREFIX) and name.endswith(".json"):
            number = name[len(_FILE_PREFIX) : -len(".json")]
            if number.isdigit():
                found.append(int(number))
    return tuple(sorted(found))


def load_contract(version: int | None = None) -> EventContract:
    """The packaged contract ``version`` (``None`` = the latest)."""
    versions = _available_versions()
    if not versions:
        raise ContractError("no event contracts are packaged under medallion/contracts")
    if version is None:
        version = versions[-1]
    if version not in versions:
        raise ValueError(f"unknown event contract version {version!r}; available: {list(versions)}")
    return _load_packaged(version)


@cache
def _load_packaged(version: int) -> EventContract:
    resource = resources.files(_CONTRACT_PACKAGE).joinpath(_CONTRACT_DIR, f"{_FILE_PREFIX}{version}.json")
    contract = _parse(json.loads(resource.read_text(encoding="utf-8")))
    if contract.version != version:
        raise ContractError(
            f"{resource.name} declares {VERSION_KEYWORD} {contract.version}, expected {version}"
        )
    return contract
