"""The bundle's job clusters: every ``new_cluster`` of every job in ``databricks.yml`` and the files
it includes, resolved per target, and their check against a cluster policy (:func:`check_bundle`).

``pyyaml`` is only needed here (a dev/CI dependency).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion.deploy.policy_rules import ClusterCheck, PolicyError, _text, evaluate_cluster

_VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)\}")
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
