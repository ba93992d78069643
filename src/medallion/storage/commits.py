"""What a commit carries and reports, the same on every engine.

* **The write stamp.** Every write stamps its commit's ``commitInfo.userMetadata`` with a unique write
  id and, for an idempotent write, its :class:`.base.Txn` (:func:`write_stamp`): how a write finds its
  own commit (:func:`stamp_write_id`) among those made meanwhile.
* **Canonical metrics.** Each engine names a commit's ``operationMetrics`` its own way;
  :func:`canonical_metrics` gives them the names both engines report.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from medallion.storage.base import Txn

#: Keys of the JSON stamped into commitInfo.userMetadata of every write: a unique write id (how
#: a write finds its own commit) and, for idempotent writes, the Txn.
WRITE_METADATA_KEY = "medallion_write"
TXN_METADATA_KEY = "medallion_txn"


def write_stamp(txn: Txn | None = None, write_id: str | None = None) -> str:
    """The commitInfo.userMetadata of one write: ``{"medallion_write": <id>, "medallion_txn": ...}``."""
    payload: dict[str, Any] = {WRITE_METADATA_KEY: write_id or uuid.uuid4().hex}
    if txn is not None:
        payload[TXN_METADATA_KEY] = {"app_id": txn.app_id, "version": txn.version}
    return json.dumps(payload, sort_keys=True)


def _stamp_payload(user_metadata: str | None) -> dict[str, Any]:
    if not user_metadata:
        return {}
    try:
        payload = json.loads(user_metadata)
    except (TypeError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def stamp_write_id(user_metadata: str | None) -> str | None:
    """The write id of a commit stamped by :func:`write_stamp` (None for any other metadata)."""
    value = _stamp_payload(user_metadata).get(WRITE_METADATA_KEY)
    return value if isinstance(value, str) and value else None


def parse_txn_user_metadata(user_metadata: str | None) -> Txn | None:
    """The Txn stamped by :func:`write_stamp`, None for any other/absent metadata."""
    entry = _stamp_payload(user_metadata).get(TXN_METADATA_KEY)
    if not isinstance(entry, dict):
        return None
    app_id, version = entry.get("app_id"), entry.get("version")
    if not isinstance(app_id, str) or not app_id or type(version) is not int or version < 0:
        return None
    return Txn(app_id, version)


#: Engine-native commit metric names -> the canonical names both engines report
#: (``history()[i]["metrics"]`` and the metrics of a WriteResult).
_CANONICAL_METRICS: dict[str, tuple[str, ...]] = {
    "rows_added": ("num_added_rows", "numOutputRows", "num_target_rows_inserted", "numTargetRowsInserted"),
    "files_added": ("num_added_files", "numFiles", "numAddedFiles", "numFilesAdded", "numTargetFilesAdded"),
    "files_removed": ("num_removed_files", "numRemovedFiles", "numFilesRemoved", "numTargetFilesRemoved"),
    "rows_deleted": ("num_deleted_rows", "numDeletedRows"),
    "target_files_scanned": ("num_target_files_scanned", "numTargetFilesAfterSkipping"),
    "target_files_skipped": ("num_target_files_skipped_during_scan",),
}


def canonical_metrics(operation_metrics: Mapping[str, Any] | None) -> dict[str, int]:
    """A commit's operationMetrics (either engine's names) under the canonical names."""
    raw = dict(operation_metrics or {})
    out: dict[str, int] = {}
    for name, aliases in _CANONICAL_METRICS.items():
        for alias in aliases:
            if raw.get(alias) not in (None, ""):
                out[name] = int(raw[alias])
                break
    if "target_files_skipped" not in out and raw.get("numTargetFilesBeforeSkipping") not in (None, ""):
        scanned = out.get("target_files_scanned", 0)
        out["target_files_skipped"] = int(raw["numTargetFilesBeforeSkipping"]) - scanned
    return out
