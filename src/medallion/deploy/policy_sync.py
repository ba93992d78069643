"""Creating or editing the cluster policy in a workspace (:func:`sync_policy`) through the
Databricks SDK (``databricks-sdk``; the caller builds the client)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from medallion.deploy.policy_rules import PolicyError, validate_definition

if TYPE_CHECKING:  # pragma: no cover - typing only
    from databricks.sdk import WorkspaceClient

POLICY_NAME = "medallion-jobs-spot"
DEFAULT_DESCRIPTION = (
    "Job clusters of the medallion bundle: Azure spot with on-demand fallback, on-demand driver, "
    "capped size, project/layer tags. Source of truth: policies/medallion-jobs-spot.json in the "
    "medallion repository (`medallion policies sync`); edits made in the UI are overwritten."
)


SyncAction = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync_policy` did (or, with ``dry_run``, would do)."""

    action: SyncAction
    policy_id: str | None
    name: str = POLICY_NAME
    dry_run: bool = False
    changed_rules: tuple[str, ...] = ()

    def summary(self) -> str:
        ident = f" (policy_id {self.policy_id})" if self.policy_id else ""
        if self.dry_run:
            verb = {
                "created": "would create",
                "updated": "would update",
                "unchanged": "would leave unchanged",
            }
            head = f"dry run: {verb[self.action]} cluster policy {self.name!r}{ident}"
        else:
            head = f"{self.action} cluster policy {self.name!r}{ident}"
        if self.changed_rules:
            head += "; rules changed: " + ", ".join(self.changed_rules)
        return head


def sync_policy(
    client: WorkspaceClient,
    name: str,
    definition: Mapping[str, Any],
    *,
    description: str | None = DEFAULT_DESCRIPTION,
    dry_run: bool = False,
) -> SyncResult:
    """Make the workspace's cluster policy ``name`` hold ``definition``.

    Finds the policy by name (``cluster_policies.list``), reads its current definition
    (``cluster_policies.get``) and then creates it when missing, edits it when the definition (compared
    as parsed JSON, key order and formatting ignored) or the description differ, and otherwise does
    nothing. ``dry_run`` only reads. An invalid definition is never sent.
    """
    errors = validate_definition(definition)
    if errors:
        raise PolicyError("refusing to sync an invalid policy definition:\n  " + "\n  ".join(errors))
    wanted = json.dumps(definition, indent=2)
    existing = next((p for p in client.cluster_policies.list() if p.name == name), None)
    if existing is None or not existing.policy_id:
        if dry_run:
            return SyncResult("created", None, name, dry_run=True, changed_rules=tuple(sorted(definition)))
        created = client.cluster_policies.create(name=name, definition=wanted, description=description)
        return SyncResult("created", created.policy_id, name, changed_rules=tuple(sorted(definition)))

    current = client.cluster_policies.get(existing.policy_id)
    if current.policy_family_id:
        raise PolicyError(
            f"cluster policy {name!r} ({existing.policy_id}) is based on a policy family; "
            "it is not managed by this repository - rename one of them"
        )
    try:
        current_definition = json.loads(current.definition or "{}")
    except json.JSONDecodeError:
        current_definition = None
    changed = _changed_rules(current_definition, definition)
    description_changed = description is not None and (current.description or "") != description
    if not changed and not description_changed:
        return SyncResult("unchanged", existing.policy_id, name, dry_run=dry_run)
    if not dry_run:
        client.cluster_policies.edit(
            policy_id=existing.policy_id,
            name=name,
            definition=wanted,
            description=description if description is not None else current.description,
            # edit replaces the policy: carry over the settings this repository does not manage
            libraries=current.libraries or None,
            max_clusters_per_user=current.max_clusters_per_user,
        )
    return SyncResult("updated", existing.policy_id, name, dry_run=dry_run, changed_rules=changed)


def _changed_rules(current: Any, wanted: Mapping[str, Any]) -> tuple[str, ...]:
    if not isinstance(current, dict):
        return tuple(sorted(wanted))
    return tuple(sorted(k for k in current.keys() | wanted.keys() if current.get(k) != wanted.get(k)))
