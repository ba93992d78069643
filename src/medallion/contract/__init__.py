"""The versioned event contract ("schema registry") and its compatibility checker.

- :mod:`medallion.contract.model`: :class:`EventContract` and :class:`ContractField`, parsed from
  a JSON Schema document (the supported subset is described there);
- :mod:`medallion.contract.registry`: the versions shipped as package data
  (:func:`load_contract`, :func:`available_versions`);
- :mod:`medallion.contract.compatibility`: whether a new contract may replace an old one
  (:func:`check_compatibility`; the rules, with the backward/forward table, are described there).

The public names of the three are importable from here.
"""

from __future__ import annotations

from medallion.contract.compatibility import (
    CompatibilityMode,
    CompatibilityResult,
    IncompatibleContractError,
    assert_compatible,
    check_compatibility,
    is_additive_change,
)
from medallion.contract.model import ContractError, ContractField, EventContract, FieldType
from medallion.contract.registry import available_versions, load_contract

__all__ = [
    "CompatibilityMode",
    "CompatibilityResult",
    "ContractError",
    "ContractField",
    "EventContract",
    "FieldType",
    "IncompatibleContractError",
    "assert_compatible",
    "available_versions",
    "check_compatibility",
    "is_additive_change",
    "load_contract",
]
