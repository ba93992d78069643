"""Cluster policies as code.

The bundle schema has no cluster-policy resource, so the policy the job clusters run under lives in
the repository (``policies/<name>.json``, Databricks cluster policy definition language) and is
pushed to the workspace with ``medallion policies sync``. This module

- validates a policy definition (:func:`validate_definition`): known limit types, the keys each type
  takes, value types, and that a ``defaultValue`` satisfies its own rule;
- evaluates a cluster spec against a policy (:func:`check_cluster`), the way the workspace does at
  cluster creation, so tests prove the policy enforces what it claims and that every job cluster of
  the bundle complies (:func:`check_bundle`);
- creates or edits the policy in a workspace (:func:`sync_policy`) through the Databricks SDK.

Nothing here imports pyspark. ``databricks-sdk`` is only needed by :func:`sync_policy` (the caller
builds the client) and ``pyyaml`` only by the bundle helpers (a dev/CI dependency).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from databricks.sdk import WorkspaceClient

POLICY_NAME = "medallion-jobs-spot"
DEFAULT_POLICY_FILE = Path("policies") / f"{POLICY_NAME}.json"
DEFAULT_DESCRIPTION = (
    "Job clusters of the medallion bundle: Azure spot with on-demand fallback, on-demand driver, "
    "capped size, project/layer tags. Source of truth: policies/medallion-jobs-spot.json in the "
    "medallion repository (`medallion policies sync`); edits made in the UI are overwritten."
)

#: Limit types of the policy definition language: (required keys, optional keys) besides ``type``.
RULE_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "fixed": (frozenset({"value"}), frozenset({"hidden"})),
    "forbidden": (frozenset(), frozenset({"hidden"})),
    "allowlist": (frozenset({"values"}), frozenset({"defaultValue", "isOptional", "hidden"})),
    "blocklist": (frozenset({"values"}), frozenset({"defaultValue", "isOptional", "hidden"})),
    "regex": (frozenset({"pattern"}), frozenset({"defaultValue", "isOptional", "hidden"})),
    "range": (frozenset(), frozenset({"minValue", "maxValue", "defaultValue", "isOptional", "hidden"})),
    "unlimited": (frozenset(), frozenset({"defaultValue", "isOptional", "hidden"})),
}
#: Virtual attributes: not part of the cluster spec, evaluated by the workspace itself.
CLUSTER_TYPES = ("all-purpose", "job", "dlt")
VIRTUAL_PATHS = {"cluster_type", "dbus_per_hour"}

_PATH = re.compile(r"^[A-Za-z0-9_*][A-Za-z0-9_.*-]*$")
_VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)\}")
_ANY_REF = re.compile(r"\$\{[^{}]*\}")


class PolicyError(ValueError):
    """A policy file or definition is unusable (missing, not JSON, or not a valid definition)."""


# --------------------------------------------------------------------------------------------------
# Loading and validating a definition
# --------------------------------------------------------------------------------------------------


def load_policy(path: str | Path) -> dict[str, Any]:
    """Read a policy definition file and validate it; raises :class:`PolicyError` when unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path} is not valid JSON: {exc}") from None
    errors = validate_definition(definition)
    if errors:
        raise PolicyError(f"{path} is not a valid cluster policy definition:\n  " + "\n  ".join(errors))
    return definition


def validate_definition(definition: Any) -> list[str]:
    """Errors of a policy definition (empty when valid), one ``<path>: <problem>`` per line."""
    if not isinstance(definition, dict):
        return [f"a policy definition is a JSON object of rules, not {type(definition).__name__}"]
    if not definition:
        return ["the policy defines no rule"]
    errors: list[str] = []
    for path, rule in definition.items():
        errors.extend(f"{path}: {problem}" for problem in _rule_problems(path, rule))
    return errors


def _rule_problems(path: str, rule: Any) -> Iterator[str]:
    if not _PATH.match(path) or ".." in path or path.endswith("."):
        yield "not an attribute path (dot-separated Clusters API attribute names)"
    if not isinstance(rule, dict):
        yield f"a rule is a JSON object with a 'type', not {type(rule).__name__}"
        return
    kind = rule.get("type")
    if kind not in RULE_KEYS:
        yield f"unknown type {kind!r}; known types: {', '.join(RULE_KEYS)}"
        return
    required, optional = RULE_KEYS[kind]
    for key in sorted(required - rule.keys()):
        yield f"type {kind} needs {key!r}"
    for key in sorted(rule.keys() - required - optional - {"type"}):
        yield f"type {kind} does not take {key!r}"
    for key in ("hidden", "isOptional"):
        if key in rule and not isinstance(rule[key], bool):
            yield f"{key} must be true or false"
    if kind == "fixed" and "value" in rule and not _is_scalar(rule["value"]):
        yield "value must be a string, number or boolean"
    if kind in ("allowlist", "blocklist") and "values" in rule:
        values = rule["values"]
        if not isinstance(values, list) or not values:
            yield "values must be a non-empty list"
        elif not all(_is_scalar(v) for v in values):
            yield "values must hold strings, numbers or booleans only"
        elif len({_text(v) for v in values}) != len(values):
            yield "values holds duplicates"
    if kind == "regex" and "pattern" in rule:
        if not isinstance(rule["pattern"], str) or not rule["pattern"]:
            yield "pattern must be a non-empty string"
        else:
            try:
                re.compile(rule["pattern"])
            except re.error as exc:
                yield f"pattern does not compile: {exc}"
    if kind == "range":
        bounds = {k: rule[k] for k in ("minValue", "maxValue") if k in rule}
        if not bounds:
            yield "type range needs 'minValue' and/or 'maxValue'"
        for key, bound in bounds.items():
            if _number(bound) is None or isinstance(bound, str):
                yield f"{key} must be a number"
        low, high = _number(rule.get("minValue")), _number(rule.get("maxValue"))
        if low is not None and high is not None and low > high:
            yield "minValue is greater than maxValue"
    if "defaultValue" in rule and not _is_scalar(rule["defaultValue"]):
        yield "defaultValue must be a string, number or boolean"
    elif "defaultValue" in rule:
        problem = _value_problem(rule, rule["defaultValue"])
        if problem:
            yield f"defaultValue {rule['defaultValue']!r} breaks its own rule: {problem}"
    if path == "cluster_type":
        if kind not in ("fixed", "allowlist", "blocklist"):
            yield "the virtual attribute cluster_type takes a fixed, allowlist or blocklist rule"
        named = [rule.get("value")] if kind == "fixed" else list(rule.get("values") or [])
        for value in named:
            if value not in CLUSTER_TYPES:
                yield f"cluster_type {value!r} is not one of {', '.join(CLUSTER_TYPES)}"
    if path == "dbus_per_hour" and kind != "range":
        yield "the virtual attribute dbus_per_hour takes a range rule"


# --------------------------------------------------------------------------------------------------
# Evaluating a cluster spec
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterCheck:
    """Result of evaluating one cluster spec: ``violations`` fail it, ``notes`` are informational."""

    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"azure_attributes": {"availability": "X"}}`` -> ``{"azure_attributes.availability": "X"}``.

    List items get their index as a path segment (``init_scripts.0.workspace.destination``), the
    way policy paths address them. ``None`` and empty containers are "not set".
    """
    flat: dict[str, Any] = {}
    items = spec.items() if isinstance(spec, Mapping) else enumerate(spec)
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, Mapping | list | tuple):
            flat.update(flatten(value, path + "."))
        elif value is not None:
            flat[path] = value
    return flat


def check_cluster(
    policy_definition: Mapping[str, Any],
    new_cluster: Mapping[str, Any],
    *,
    cluster_type: str = "job",
    apply_policy_values: bool = False,
) -> list[str]:
    """Violations of ``new_cluster`` (a Jobs/Clusters API cluster spec) against the policy.

    See :func:`evaluate_cluster`; this returns its ``violations`` only.
    """
    return evaluate_cluster(
        policy_definition, new_cluster, cluster_type=cluster_type, apply_policy_values=apply_policy_values
    ).violations


def evaluate_cluster(
    policy_definition: Mapping[str, Any],
    new_cluster: Mapping[str, Any],
    *,
    cluster_type: str = "job",
    apply_policy_values: bool = False,
) -> ClusterCheck:
    """Evaluate a cluster spec against a policy definition the way the workspace does.

    - every rule is required unless ``isOptional`` is true (``forbidden`` rules never are);
    - ``apply_policy_values=False`` (default, strict) checks the spec *as written*: an attribute the
      policy requires must be in the spec, even when the policy would fill it in. That is what the
      bundle is held to, so the YAML states the truth and stays compliant without the policy.
      ``apply_policy_values=True`` first fills omitted attributes from ``fixed`` values and
      ``defaultValue`` s, like a cluster created with ``apply_policy_default_values: true``;
    - ``cluster_type`` is the virtual attribute of the same name (job clusters: ``job``);
    - values that still hold a ``${...}`` bundle reference cannot be judged: they are reported as
      notes, not violations.
    """
    values = flatten(new_cluster)
    result = ClusterCheck()
    for path, rule in policy_definition.items():
        if not isinstance(rule, Mapping):
            continue
        kind = rule.get("type")
        if path == "cluster_type":
            problem = _value_problem(rule, cluster_type)
            if problem:
                result.violations.append(f"cluster_type: a {cluster_type} cluster {problem}")
            continue
        if path == "dbus_per_hour":
            result.notes.append("dbus_per_hour: evaluated by the workspace only (price list)")
            continue
        matched = _matching(values, path)
        if "*" in path:
            for actual_path, value in matched.items():
                _judge(result, actual_path, rule, value)
            continue
        if path in matched:
            _judge(result, path, rule, matched[path])
            continue
        # the attribute is not set
        if kind == "forbidden" or rule.get("isOptional") is True:
            continue
        filled = rule.get("value") if kind == "fixed" else rule.get("defaultValue")
        if apply_policy_values and filled is not None:
            _judge(result, path, rule, filled)
        elif filled is not None:
            fills = "fixes it to" if kind == "fixed" else "defaults it to"
            result.violations.append(
                f"{path}: not set; the policy requires it (it {fills} {filled!r}) - state it in the spec"
            )
        else:
            result.violations.append(f"{path}: not set; the policy requires it ({_describe(rule)})")
    return result


def _judge(result: ClusterCheck, path: str, rule: Mapping[str, Any], value: Any) -> None:
    if isinstance(value, str) and _ANY_REF.search(value):
        result.notes.append(f"{path}: {value!r} is an unresolved reference, not checked")
        return
    problem = _value_problem(rule, value)
    if problem:
        result.violations.append(f"{path}: {value!r} {problem}")


def _matching(values: Mapping[str, Any], path: str) -> dict[str, Any]:
    if "*" not in path:
        return {path: values[path]} if path in values else {}
    pattern = re.compile("^" + re.escape(path).replace(r"\*", r"[^.]+") + "$")
    return {k: v for k, v in values.items() if pattern.match(k)}


def _value_problem(rule: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` breaks the rule, or None when it satisfies it."""
    kind = rule.get("type")
    if kind == "fixed":
        return None if _same(value, rule.get("value")) else f"is not the fixed value {rule.get('value')!r}"
    if kind == "forbidden":
        return "is set, the policy forbids this attribute"
    if kind == "allowlist":
        allowed = rule.get("values") or []
        return None if any(_same(value, v) for v in allowed) else f"is not one of {_listing(allowed)}"
    if kind == "blocklist":
        blocked = rule.get("values") or []
        return (
            f"is one of the blocked values {_listing(blocked)}"
            if any(_same(value, v) for v in blocked)
            else None
        )
    if kind == "regex":
        pattern = rule.get("pattern") or ""
        # The workspace anchors the pattern at both ends.
        return None if re.fullmatch(pattern, _text(value)) else f"does not match the pattern {pattern!r}"
    if kind == "range":
        number = _number(value)
        if number is None:
            return "is not a number"
        low, high = _number(rule.get("minValue")), _number(rule.get("maxValue"))
        if low is not None and number < low:
            return f"is below the minimum {rule['minValue']}"
        if high is not None and number > high:
            return f"is above the maximum {rule['maxValue']}"
        return None
    if kind == "unlimited":
        return None
    return f"cannot be judged against an unknown rule type {kind!r}"


def _describe(rule: Mapping[str, Any]) -> str:
    kind = rule.get("type")
    if kind in ("allowlist", "blocklist"):
        return f"{kind} {_listing(rule.get('values') or [])}"
    if kind == "regex":
        return f"regex {rule.get('pattern')!r}"
    if kind == "range":
        return f"range {rule.get('minValue', '-inf')}..{rule.get('maxValue', 'inf')}"
    return str(kind)


def _listing(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_text(v) for v in values) + "]"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _same(a: Any, b: Any) -> bool:
    """Equality the way policy values compare: numbers numerically, everything else as text."""
    if not isinstance(a, bool) and not isinstance(b, bool):
        na, nb = _number(a), _number(b)
        if na is not None and nb is not None:
            return na == nb
    return _text(a) == _text(b)


# --------------------------------------------------------------------------------------------------
# The bundle's job clusters
# --------------------------------------------------------------------------------------------------

#: Lists the bundle merges item by item (by this key) when a target overrides a job.
_KEYED_LISTS = {"job_clusters": "job_cluster_key", "tasks": "task_key", "environments": "environment_key"}


@dataclass(frozen=True)
class BundleCluster:
    """One ``new_cluster`` of a job in the bundle, with ``${var.*}`` resolved for one target."""

    file: str
    job: str
    where: str
    target: str | None
    new_cluster: dict[str, Any] | str  # a str is a reference that could not be resolved

    @property
    def label(self) -> str:
        target = f" (target {self.target})" if self.target else ""
        return f"{self.file} jobs.{self.job}.{self.where}{target}"


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is in the dev extra
        raise PolicyError(
            "checking the bundle needs pyyaml: pip install 'medallion[dev]' (or pyyaml)"
        ) from None
    return yaml


def bundle_clusters(root: str | Path = ".", targets: Sequence[str] | None = None) -> list[BundleCluster]:
    """Every ``new_cluster`` of every job in the bundle at ``root``, once per target.

    Reads ``databricks.yml`` and the files its ``include`` globs name. Variables resolve to their
    defaults overridden by the target's ``variables``; a target's ``resources.jobs`` overrides are
    merged in (job clusters by ``job_cluster_key``, tasks by ``task_key``). References that cannot
    be resolved offline (``${workspace.*}``, lookups, variables without a default) stay as they are.
    """
    yaml = _yaml()
    root = Path(root)
    bundle_file = root / "databricks.yml"
    if not bundle_file.is_file():
        raise PolicyError(f"no databricks.yml in {root}")
    bundle = yaml.safe_load(bundle_file.read_text(encoding="utf-8")) or {}
    files = [bundle_file]
    for pattern in bundle.get("include") or []:
        files.extend(sorted(p for p in root.glob(pattern) if p.is_file() and p not in files))

    jobs: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in files:
        doc = bundle if path == bundle_file else (yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        for name, job in ((doc.get("resources") or {}).get("jobs") or {}).items():
            jobs[name] = (path.relative_to(root).as_posix(), job or {})

    defined_targets = bundle.get("targets") or {}
    chosen: list[str | None] = list(targets) if targets else (list(defined_targets) or [None])
    unknown = [t for t in chosen if t is not None and t not in defined_targets]
    if unknown:
        raise PolicyError(
            f"unknown target(s) {', '.join(map(str, unknown))}; defined: {', '.join(defined_targets)}"
        )

    clusters: list[BundleCluster] = []
    for target in chosen:
        target_doc = (defined_targets.get(target) or {}) if target else {}
        variables = _variables(bundle.get("variables") or {}, target_doc.get("variables") or {})
        overrides = (target_doc.get("resources") or {}).get("jobs") or {}
        for name, (file, job) in jobs.items():
            merged = _merge(job, overrides[name]) if name in overrides else job
            for where, spec in _new_clusters(_resolve(copy.deepcopy(merged), variables), ""):
                clusters.append(BundleCluster(file, name, where, target, spec))
    return clusters


@dataclass(frozen=True)
class BundleClusterCheck:
    cluster: BundleCluster
    check: ClusterCheck


def check_bundle(
    policy_definition: Mapping[str, Any], root: str | Path = ".", targets: Sequence[str] | None = None
) -> list[BundleClusterCheck]:
    """Evaluate every job cluster of the bundle (strictly, as written) against the policy."""
    checks = []
    for cluster in bundle_clusters(root, targets):
        if isinstance(cluster.new_cluster, dict):
            check = evaluate_cluster(policy_definition, cluster.new_cluster)
        else:
            check = ClusterCheck(notes=[f"new_cluster: {cluster.new_cluster!r} is unresolved, not checked"])
        checks.append(BundleClusterCheck(cluster, check))
    return checks


def _variables(declared: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if isinstance(spec, Mapping):
            if "default" in spec and "lookup" not in spec:
                values[name] = spec["default"]
        elif spec is not None:  # shorthand `name: value`
            values[name] = spec
    for name, value in target.items():
        if isinstance(value, Mapping) and ({"default", "lookup"} & value.keys()):
            if "lookup" in value:
                values.pop(name, None)
            else:
                values[name] = value["default"]
        else:
            values[name] = value
    return values


def _resolve(value: Any, variables: Mapping[str, Any], depth: int = 0) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, variables, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, variables, depth) for v in value]
    if not isinstance(value, str) or depth > 10:
        return value
    whole = _VAR_REF.fullmatch(value)
    if whole and whole.group(1) in variables:
        return _resolve(copy.deepcopy(variables[whole.group(1)]), variables, depth + 1)

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables and not isinstance(variables[name], dict | list):
            return _text(variables[name])
        return match.group(0)

    replaced = _VAR_REF.sub(one, value)
    return _resolve(replaced, variables, depth + 1) if replaced != value else value


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if key in _KEYED_LISTS and isinstance(merged.get(key), list) and isinstance(value, list):
                merged[key] = _merge_keyed(merged[key], value, _KEYED_LISTS[key])
            else:
                merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    return override


def _merge_keyed(base: list[Any], override: list[Any], key: str) -> list[Any]:
    merged = list(base)
    for item in override:
        ident = item.get(key) if isinstance(item, dict) else None
        index = next(
            (
                i
                for i, b in enumerate(merged)
                if ident is not None and isinstance(b, dict) and b.get(key) == ident
            ),
            None,
        )
        if index is None:
            merged.append(item)
        else:
            merged[index] = _merge(merged[index], item)
    return merged


def _new_clusters(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any] | str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else key
            if key == "new_cluster" and isinstance(value, dict | str):
                yield here, value
            else:
                yield from _new_clusters(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            ident = next(
                (item[k] for k in _KEYED_LISTS.values() if isinstance(item, dict) and k in item), index
            )
            yield from _new_clusters(item, f"{where}[{ident}]")


# --------------------------------------------------------------------------------------------------
# Syncing to a workspace
# --------------------------------------------------------------------------------------------------

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
