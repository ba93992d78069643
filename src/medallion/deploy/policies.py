"""Cluster policies as code: ``medallion policies check|sync``.

The bundle schema has no cluster-policy resource, so the policy the job clusters run under lives in
the repository (``policies/<name>.json``, Databricks cluster policy definition language) and is
pushed to the workspace with ``medallion policies sync``. The tooling is split by concern:

- :mod:`medallion.deploy.policy_rules` validates a policy definition (:func:`validate_definition`)
  and evaluates a cluster spec against a policy (:func:`check_cluster`), the way the workspace does
  at cluster creation, so tests prove the policy enforces what it claims;
- :mod:`medallion.deploy.policy_bundle` checks that every job cluster of the bundle complies
  (:func:`check_bundle`);
- :mod:`medallion.deploy.policy_sync` creates or edits the policy in a workspace
  (:func:`sync_policy`) through the Databricks SDK.

This module holds the command line and re-exports the public names of the three.

Nothing here imports pyspark. ``databricks-sdk`` is only needed by :func:`sync_policy` (the caller
builds the client) and ``pyyaml`` only by the bundle helpers (a dev/CI dependency).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medallion.deploy.policy_bundle import BundleCluster, BundleClusterCheck, bundle_clusters, check_bundle
from medallion.deploy.policy_rules import (
    CLUSTER_TYPES,
    RULE_KEYS,
    VIRTUAL_PATHS,
    ClusterCheck,
    PolicyError,
    check_cluster,
    evaluate_cluster,
    flatten,
    load_policy,
    validate_definition,
)
from medallion.deploy.policy_sync import (
    DEFAULT_DESCRIPTION,
    POLICY_NAME,
    SyncAction,
    SyncResult,
    sync_policy,
)

DEFAULT_POLICY_FILE = Path("policies") / f"{POLICY_NAME}.json"


# --------------------------------------------------------------------------------------------------
# `medallion policies check|sync` (wired into medallion.cli)
# --------------------------------------------------------------------------------------------------


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check`` and ``sync`` actions of ``medallion policies``."""
    actions = parser.add_subparsers(dest="policies_action", required=True, metavar="<action>")
    check = actions.add_parser(
        "check",
        help="validate the policy JSON and check every job cluster in resources/*.yml against it",
        description="Validate the policy definition, then evaluate every new_cluster of every job in "
        "the bundle (each target, ${var.*} resolved to its values) against it. Exit 1 on violations.",
    )
    check.add_argument("--policy-file", default=str(DEFAULT_POLICY_FILE), metavar="PATH", help="policy JSON")
    check.add_argument("--bundle-root", default=".", metavar="DIR", help="folder of databricks.yml")
    check.add_argument(
        "--target",
        action="append",
        default=None,
        metavar="NAME",
        help="bundle target to resolve variables for (repeatable; default: every target)",
    )
    sync = actions.add_parser(
        "sync",
        help="create or update the cluster policy in the workspace",
        description="Create the cluster policy when missing, edit it when its definition differs, else "
        "leave it. Authentication is the Databricks SDK's unified auth: DATABRICKS_HOST with "
        "DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID/SECRET, a ~/.databrickscfg profile, the Azure "
        "CLI or a managed identity. Tokens are never taken as arguments.",
    )
    sync.add_argument("--policy-file", default=str(DEFAULT_POLICY_FILE), metavar="PATH", help="policy JSON")
    sync.add_argument(
        "--name", default=POLICY_NAME, help=f"policy name in the workspace (default: {POLICY_NAME})"
    )
    sync.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    sync.add_argument(
        "--host", default=None, metavar="URL", help="workspace URL (default: DATABRICKS_HOST/profile)"
    )
    sync.add_argument(
        "--profile", default=None, help="~/.databrickscfg profile (default: DATABRICKS_CONFIG_PROFILE)"
    )


def run_cli(args: argparse.Namespace) -> int:
    if args.policies_action == "check":
        return _cli_check(args)
    return _cli_sync(args)


def _cli_policy(path_text: str) -> tuple[Path, dict[str, Any]]:
    from medallion.config import ConfigError
    from medallion.errors import JobFailedError

    path = Path(path_text)
    if not path.is_file():
        raise ConfigError(f"policy file {path} does not exist (use --policy-file)")
    try:
        return path, load_policy(path)
    except PolicyError as exc:
        raise JobFailedError(str(exc)) from None


def _cli_check(args: argparse.Namespace) -> int:
    from medallion.config import ConfigError
    from medallion.errors import JobFailedError

    path, definition = _cli_policy(args.policy_file)
    print(f"policy {path}: valid cluster policy definition ({len(definition)} rules)")
    try:
        results = check_bundle(definition, args.bundle_root, args.target)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    for result in results:
        print(f"{'OK  ' if result.check.ok else 'FAIL'} {result.cluster.label}")
        for violation in result.check.violations:
            print(f"     violation: {violation}")
        for note in result.check.notes:
            print(f"     note: {note}")
    failed = sum(not r.check.ok for r in results)
    print(f"{len(results)} job cluster(s) checked against {path.stem}: {failed} break the policy")
    if failed:
        raise JobFailedError(f"{failed} job cluster(s) break the cluster policy {path.stem}")
    return 0


def _cli_sync(args: argparse.Namespace) -> int:
    from medallion.config import ConfigError
    from medallion.errors import JobFailedError

    _, definition = _cli_policy(args.policy_file)
    try:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.errors import DatabricksError
    except ImportError:
        raise ConfigError(
            "`medallion policies sync` needs databricks-sdk: pip install 'medallion[local]'"
        ) from None
    try:
        client = WorkspaceClient(host=args.host, profile=args.profile)
    except ValueError as exc:  # no usable credentials; the SDK masks secrets in its message
        raise ConfigError(f"cannot authenticate to the Databricks workspace: {exc}") from None
    print(f"workspace {client.config.host} ({client.config.auth_type} auth)")
    try:
        result = sync_policy(client, args.name, definition, dry_run=args.dry_run)
    except DatabricksError as exc:
        raise JobFailedError(f"cluster policies API: {type(exc).__name__}: {exc}") from None
    except PolicyError as exc:
        raise JobFailedError(str(exc)) from None
    print(result.summary())
    return 0


__all__ = [
    "CLUSTER_TYPES",
    "DEFAULT_DESCRIPTION",
    "DEFAULT_POLICY_FILE",
    "POLICY_NAME",
    "RULE_KEYS",
    "VIRTUAL_PATHS",
    "BundleCluster",
    "BundleClusterCheck",
    "ClusterCheck",
    "PolicyError",
    "SyncAction",
    "SyncResult",
    "add_cli_arguments",
    "bundle_clusters",
    "check_bundle",
    "check_cluster",
    "evaluate_cluster",
    "flatten",
    "load_policy",
    "run_cli",
    "sync_policy",
    "validate_definition",
]
