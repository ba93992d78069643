"""Checks of the Databricks Asset Bundle: databricks.yml and every file it includes (resources/*.yml).

Three kinds of checks:

- schema: every bundle file, and the merged document of every target (databricks.yml + includes +
  that target's overrides, variables resolved to their default or target values), validates against
  the Databricks CLI's bundle JSON schema. The schema is read from BUNDLE_SCHEMA, else from
  `databricks bundle schema`; without either these tests skip.
- models: every job, schema and volume of every target loads through the `databricks-bundles`
  Python models (`Job.from_dict`, ...), which reject unknown keys and bad enum values.
- cross-references the schema cannot see (job_cluster_key, depends_on, job parameters, wheel entry
  points and their arguments, ${var.*} and ${resources.*}, include globs, targets, the spot cluster
  policy, and that every table a job writes lands in a schema the bundle deploys, with development
  mode's schema renaming applied). They need no schema and run everywhere.

Everything is data-driven: jobs, tasks, clusters, schemas and targets are discovered from the bundle,
so a new resources/<name>.yml (or a job that only a target defines) is checked without touching
this file. Jobs are checked as each target deploys them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import io
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from bundle_schema import SchemaUnavailable, load_schema, make_validator, validation_errors
from medallion.cli import build_parser
from medallion.config import Config, ConfigError
from medallion.deploy.policies import POLICY_NAME, evaluate_cluster, load_policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_FILE = ROOT / "databricks.yml"
PYPROJECT = ROOT / "pyproject.toml"
POLICY_FILE = ROOT / "policies" / f"{POLICY_NAME}.json"

#: ${...} references; the CLI resolves these prefixes (anything else is a typo).
REFERENCE = re.compile(r"\$\{([^{}]*)\}")
REFERENCE_PREFIXES = ("bundle", "workspace", "var", "resources", "artifacts")
#: {{...}} dynamic value references the Jobs service fills in at run time.
DYNAMIC_REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
#: Values the CLI fills in at deploy time, for resolving the bundle in the tests.
SAMPLE_USER = "jane.doe@example.com"
SAMPLE_BUILTINS = {
    "workspace.current_user.short_name": "jane_doe",
    "workspace.current_user.userName": SAMPLE_USER,
}
#: Values the Jobs service fills in at run time.
SAMPLE_RUN_VALUES = {"job.run_id": "4711", "job.id": "42"}
#: Data security modes that give Unity Catalog access.
UC_SECURITY_MODES = {
    "SINGLE_USER",
    "USER_ISOLATION",
    "DATA_SECURITY_MODE_DEDICATED",
    "DATA_SECURITY_MODE_STANDARD",
    "DATA_SECURITY_MODE_AUTO",
}
#: Task fields that choose the compute a task runs on (at most one per task).
COMPUTE_FIELDS = ("job_cluster_key", "new_cluster", "existing_cluster_id", "environment_key")
#: Library URIs that are not local paths relative to the YAML file.
REMOTE_PREFIXES = ("/Workspace/", "/Volumes/", "dbfs:", "abfss:", "s3:", "gs:", "${")
_LIB_DIR = "__bundle_file_dir__"  # where a library entry was written, for resolving relative paths
#: Lists the CLI merges item by item when a target overrides a job (MergeJobTasks, MergeJobClusters,
#: MergeJobParameters); every other list is appended to.
KEYED_JOB_LISTS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "parameters": "name"}
#: Keys of a target that the CLI merges into the root of the configuration.
TARGET_ROOT_KEYS = ("bundle", "workspace", "artifacts", "presets", "run_as", "permissions", "sync")
#: The layers a job's Config addresses (<catalog>.<schema_prefix><layer>.<table>).
LAYERS = ("bronze", "silver", "gold", "ops")
BACKLOG_METRICS = {
    "STREAMING_BACKLOG_SECONDS",
    "STREAMING_BACKLOG_RECORDS",
    "STREAMING_BACKLOG_BYTES",
    "STREAMING_BACKLOG_FILES",
}
#: Entry points whose clusters do MERGE / joins / window aggregations, where Photon pays.
PHOTON_ENTRY_POINTS = {"medallion-silver", "medallion-gold"}
#: Databricks Runtime (major, minor) -> the Apache Spark major.minor it ships ("Databricks Runtime
#: release notes versions and compatibility"). A runtime missing here fails the runtime check until
#: it is added from the release notes.
RUNTIME_SPARK = {
    (15, 4): "3.5",
    (16, 4): "3.5",
    (17, 0): "4.0",
    (17, 1): "4.0",
    (17, 2): "4.0",
    (17, 3): "4.0",
    (18, 0): "4.1",
}
#: The runtime the job clusters default to at least: 17.3 LTS (Spark 4.0, Scala 2.13), the Spark the
#: local pyspark pin (and so every local test) runs.
MIN_RUNTIME = (17, 3)
DEFAULT_SCALA = "2.13"
#: A Databricks Runtime key as `spark_version` takes it: 17.3.x-scala2.13, 16.4.x-photon-scala2.12.
RUNTIME_KEY = re.compile(r"(\d+)\.(\d+)\.x-(?:photon-)?scala(2\.1\d)")
#: Maven group:artifact prefix of the azure-eventhubs-spark connector (`--source eventhubs`); it is only
#: built for Scala 2.12 (`..._2.12:<version>`), so its cluster needs a Scala 2.12 runtime.
EVENTHUBS_CONNECTOR = "com.microsoft.azure:azure-eventhubs-spark_"
EVENTHUBS_SCALA = "2.12"
#: Task retry policy fields, which a continuous job must not set.
RETRY_POLICY_FIELDS = ("max_retries", "min_retry_interval_millis", "retry_on_timeout")


# --------------------------------------------------------------------------------------------------
# Loading the bundle
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleFile:
    path: Path
    doc: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Job:
    id: str  # "<target>:<key>"
    key: str
    target: str
    spec: dict[str, Any]  # as the target deploys it: merged, variables and resource references resolved


@dataclass(frozen=True)
class WheelTask:
    job: Job
    task: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.job.id}/{self.task.get('task_key')}"


def load_yaml(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise TypeError(f"{path}: a bundle file must be a YAML mapping, got {type(doc).__name__}")
    return doc


def include_globs(root_doc: dict[str, Any]) -> list[str]:
    return list(root_doc.get("include") or [])


def load_bundle() -> list[BundleFile]:
    """databricks.yml first, then every file its include globs match (each once)."""
    root_doc = load_yaml(BUNDLE_FILE)
    files = [BundleFile(BUNDLE_FILE, root_doc)]
    seen = {BUNDLE_FILE}
    for pattern in include_globs(root_doc):
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and path not in seen:
                seen.add(path)
                files.append(BundleFile(path, load_yaml(path)))
    return files


def _merge(base: Any, override: Any) -> Any:
    """The CLI's configuration merge: mappings recursively, sequences appended, scalars replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(override, list):
        return [*base, *copy.deepcopy(override)]
    return copy.deepcopy(override)


def _merge_by_key(items: list[Any], key: str) -> list[Any]:
    """Entries with the same key (tasks by task_key, clusters by job_cluster_key) merge into one."""
    merged: dict[Any, Any] = {}
    loose: list[Any] = []
    for item in items:
        if isinstance(item, dict) and item.get(key) is not None:
            name = item[key]
            merged[name] = _merge(merged[name], item) if name in merged else item
        else:
            loose.append(item)
    return [*merged.values(), *loose]


def _tag_libraries(doc: dict[str, Any], where: Path) -> dict[str, Any]:
    """A copy of a bundle file whose job libraries remember the folder they were written in."""
    doc = copy.deepcopy(doc)
    job_maps = [(doc.get("resources") or {}).get("jobs") or {}]
    job_maps += [
        ((t or {}).get("resources") or {}).get("jobs") or {} for t in (doc.get("targets") or {}).values()
    ]
    for jobs in job_maps:
        for job in jobs.values():
            for task in (job or {}).get("tasks") or []:
                for library in task.get("libraries") or []:
                    if isinstance(library, dict):
                        library[_LIB_DIR] = str(where.parent)
    return doc


def all_targets(files: list[BundleFile]) -> dict[str, list[tuple[BundleFile, dict[str, Any]]]]:
    targets: dict[str, list[tuple[BundleFile, dict[str, Any]]]] = {}
    for bundle_file in files:
        for name, spec in (bundle_file.doc.get("targets") or {}).items():
            targets.setdefault(name, []).append((bundle_file, spec or {}))
    return targets


def target_spec(files: list[BundleFile], target: str) -> dict[str, Any]:
    """A target as the CLI sees it: its blocks from every file (databricks.yml and includes) merged."""
    spec: dict[str, Any] = {}
    for _, part in all_targets(files).get(target, []):
        spec = _merge(spec, part)
    return spec


def base_jobs(files: list[BundleFile]) -> dict[str, list[tuple[BundleFile, dict[str, Any]]]]:
    """Every job key with each (file, definition) that defines it outside targets."""
    jobs: dict[str, list[tuple[BundleFile, dict[str, Any]]]] = {}
    for bundle_file in files:
        for key, spec in ((bundle_file.doc.get("resources") or {}).get("jobs") or {}).items():
            jobs.setdefault(key, []).append((bundle_file, spec or {}))
    return jobs


def declared_variables(files: list[BundleFile]) -> dict[str, dict[str, Any]]:
    return {name: spec or {} for name, spec in (files[0].doc.get("variables") or {}).items()}


def target_variable_values(files: list[BundleFile], target: str) -> dict[str, Any]:
    """Variable values in a target: defaults, then the target's overrides (None = no value)."""
    values: dict[str, Any] = {}
    for name, spec in declared_variables(files).items():
        values[name] = "<lookup>" if "lookup" in spec else spec.get("default")
    for name, override in (target_spec(files, target).get("variables") or {}).items():
        is_complex = declared_variables(files).get(name, {}).get("type") == "complex"
        if isinstance(override, dict) and not is_complex:
            values[name] = "<lookup>" if "lookup" in override else override.get("default")
        else:
            values[name] = override
    return values


def _substitute(node: Any, lookup: Any) -> Any:
    """``node`` with every ${...} that ``lookup(name)`` knows replaced; a string that is exactly one
    reference takes the value itself (complex variables), otherwise its text."""
    if isinstance(node, dict):
        return {key: _substitute(value, lookup) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, lookup) for value in node]
    if not isinstance(node, str) or "${" not in node:
        return node
    whole = REFERENCE.fullmatch(node)
    if whole:
        found, value = lookup(whole.group(1))
        return copy.deepcopy(value) if found else node

    def one(match: re.Match[str]) -> str:
        found, value = lookup(match.group(1))
        return str(value) if found and not isinstance(value, dict | list) else match.group(0)

    return REFERENCE.sub(one, node)


def sample_builtins(files: list[BundleFile], target: str) -> dict[str, str]:
    """The ${bundle.*} and ${workspace.*} values the CLI fills in for ``target`` (sample user);
    workspace.root_path is the target's, else the CLI default ~/.bundle/<name>/<target>."""
    bundle_name = files[0].doc["bundle"]["name"]
    values = {**SAMPLE_BUILTINS, "bundle.name": bundle_name, "bundle.target": target}
    root_path = (target_spec(files, target).get("workspace") or {}).get("root_path") or (
        "/Workspace/Users/${workspace.current_user.userName}/.bundle/${bundle.name}/${bundle.target}"
    )
    values["workspace.root_path"] = REFERENCE.sub(
        lambda m: str(values.get(m.group(1), m.group(0))), root_path
    )
    return values


def resolved_variables(files: list[BundleFile], target: str) -> dict[str, Any]:
    """Variable values in a target with references between them (and to builtins) resolved.
    Lookups and variables without a value are left out: they stay ${var.*} references."""
    builtins = sample_builtins(files, target)
    values = {k: v for k, v in target_variable_values(files, target).items() if v not in (None, "<lookup>")}

    def lookup(name: str) -> tuple[bool, Any]:
        if name.startswith("var.") and name[4:] in values:
            return True, values[name[4:]]
        return (name in builtins), builtins.get(name)

    for _ in range(10):  # variables may reference variables
        resolved = {name: _substitute(value, lookup) for name, value in values.items()}
        if resolved == values:
            return values
        values = resolved
    raise AssertionError(f"variable reference cycle in target {target}")


def merged_document(files: list[BundleFile], target: str, *, tag_libraries: bool = False) -> dict[str, Any]:
    """The configuration the CLI deploys for ``target``: databricks.yml and every included file merged,
    the target's blocks (from every file) merged in - jobs' tasks, clusters and parameters by key -,
    and every ${var.*}/${bundle.*}/${workspace.*} resolved to the target's values. Lookups, variables
    supplied only at deploy time and ${resources.*} stay references. Development mode's renaming is
    not applied here (see :func:`deployed_document`)."""
    docs = [_tag_libraries(f.doc, f.path) if tag_libraries else f.doc for f in files]
    root: dict[str, Any] = {}
    for doc in docs:
        root = _merge(root, {k: v for k, v in doc.items() if k not in ("targets", "include")})
    root["include"] = include_globs(files[0].doc)
    spec: dict[str, Any] = {}
    for doc in docs:
        spec = _merge(spec, (doc.get("targets") or {}).get(target) or {})
    root["resources"] = _merge(root.get("resources") or {}, spec.get("resources") or {})
    for job in (root["resources"].get("jobs") or {}).values():
        for field, key in KEYED_JOB_LISTS.items():
            if field in job:
                job[field] = _merge_by_key(job[field], key)
    for key in TARGET_ROOT_KEYS:
        if key in spec:
            root[key] = _merge(root.get(key), spec[key])
    values = resolved_variables(files, target)
    variables = copy.deepcopy(root.get("variables") or {})
    for name, override in (spec.get("variables") or {}).items():
        if isinstance(override, dict) and "lookup" in override:
            variables[name] = {**variables.get(name, {}), "lookup": override["lookup"]}
            variables[name].pop("default", None)
    for name, definition in variables.items():
        if name in values and "lookup" not in definition:
            definition["default"] = values[name]
    root["variables"] = variables
    builtins = sample_builtins(files, target)

    def lookup(name: str) -> tuple[bool, Any]:
        if name.startswith("var.") and name[4:] in values and "lookup" not in variables.get(name[4:], {}):
            return True, values[name[4:]]
        return (name in builtins), builtins.get(name)

    resolved = {k: v for k, v in root.items() if k != "variables"}
    return {**_substitute(resolved, lookup), "variables": variables}


def normalize_prefix(prefix: str) -> str:
    """The CLI's normalizePrefix (bundle/config/mutator/resourcemutator/apply_presets.go): the name
    prefix "[dev jane_doe] " becomes "dev_jane_doe_" for Unity Catalog names."""
    text = prefix.replace("[", "").strip(" ")
    suffix = "_" if text.endswith("]") else ""
    lowered = "".join(c if unicodedata.category(c)[0] in "LN" else "_" for c in text.lower())
    return re.sub(r"_+", "_", lowered).strip("_") + suffix


def deployed_document(files: list[BundleFile], target: str, *, tag_libraries: bool = False) -> dict[str, Any]:
    """:func:`merged_document` as deployed: development mode's presets applied (ApplyTargetMode +
    ApplyPresets: "[dev <short_name>] " job names, dev_<short_name>_ schema names, paused triggers;
    volume names are not prefixed), then ${resources.<type>.<key>.<field>} resolved from it."""
    doc = merged_document(files, target, tag_libraries=tag_libraries)
    resources = doc.get("resources") or {}
    if target_spec(files, target).get("mode") == "development":
        prefix = f"[dev {SAMPLE_BUILTINS['workspace.current_user.short_name']}] "
        for job in (resources.get("jobs") or {}).values():
            job["name"] = prefix + str(job.get("name", ""))
            for trigger in ("schedule", "continuous", "trigger"):
                if isinstance(job.get(trigger), dict):
                    job[trigger].setdefault("pause_status", "PAUSED")
        for schema in (resources.get("schemas") or {}).values():
            schema["name"] = normalize_prefix(prefix) + str(schema["name"])

    def lookup(name: str) -> tuple[bool, Any]:
        parts = name.split(".")
        if parts[0] == "resources" and len(parts) == 4:
            value = ((resources.get(parts[1]) or {}).get(parts[2]) or {}).get(parts[3])
            if isinstance(value, str) and "${" not in value:
                return True, value
        return False, None

    for _ in range(5):  # a volume's schema_name refers to a schema, a job's path to both
        doc = _substitute(doc, lookup)
        resources = doc.get("resources") or {}
    return doc


def deployed_jobs(files: list[BundleFile]) -> list[Job]:
    jobs = []
    for target in sorted(all_targets(files)):
        doc = deployed_document(files, target, tag_libraries=True)
        for key, spec in ((doc.get("resources") or {}).get("jobs") or {}).items():
            jobs.append(Job(f"{target}:{key}", key, target, spec))
    return jobs


def wheel_tasks(jobs: list[Job]) -> list[WheelTask]:
    return [
        WheelTask(job, task)
        for job in jobs
        for task in job.spec.get("tasks") or []
        if isinstance(task, dict) and "python_wheel_task" in task
    ]


def strings(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(location, text) of every string (and mapping key) in a YAML tree."""
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            child = f"{where}.{key}" if where else str(key)
            if isinstance(key, str):
                yield child, key
            yield from strings(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, f"{where}[{index}]")


def references(files: list[BundleFile]) -> Iterator[tuple[str, str]]:
    """(``file: location``, reference without ``${}``) of every ${...} in the bundle."""
    for bundle_file in files:
        for where, text in strings(bundle_file.doc):
            for match in REFERENCE.finditer(text):
                yield f"{bundle_file.name}: {where}", match.group(1)


def reference_head(reference: str, prefix: str) -> str:
    """``var.foo.bar[0]`` -> ``foo``; ``resources.jobs.bronze.id`` with prefix resources.jobs -> bronze."""
    rest = reference[len(prefix) + 1 :]
    return re.split(r"[.\[]", rest, maxsplit=1)[0]


def parse_flags(parameters: list[Any]) -> list[tuple[str, str | None]]:
    """``["--a=1", "--b", "2", "--c"]`` -> [("a", "1"), ("b", "2"), ("c", None)]."""
    flags: list[tuple[str, str | None]] = []
    items = [str(p) for p in parameters]
    index = 0
    while index < len(items):
        item = items[index]
        if not item.startswith("--"):
            raise ValueError(f"positional parameter {item!r}: every parameter must be a --flag")
        if "=" in item:
            name, value = item[2:].split("=", 1)
            flags.append((name, value))
        elif index + 1 < len(items) and not items[index + 1].startswith("--"):
            flags.append((item[2:], items[index + 1]))
            index += 1
        else:
            flags.append((item[2:], None))
        index += 1
    return flags


def run_time_values(job: dict[str, Any], text: str) -> str:
    """``text`` with {{job.parameters.<name>}} replaced by the job parameter's default and the other
    dynamic value references by sample run values; unknown references raise KeyError."""
    defaults = {p["name"]: str(p.get("default")) for p in job.get("parameters") or []}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("job.parameters."):
            return defaults[name.removeprefix("job.parameters.")]
        return SAMPLE_RUN_VALUES[name]

    return DYNAMIC_REFERENCE.sub(one, text)


def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def wheel_filename_sample(project: dict[str, Any]) -> str:
    name = re.sub(r"[-_.]+", "_", project["name"]).lower()
    return f"{name}-{project['version']}-py3-none-any.whl"


def entry_point_command(entry_point: str) -> str:
    """The ``medallion`` sub-command behind a wheel entry point (cli._entry names it <command>_entry)."""
    module, _, attr = pyproject()["project"]["scripts"][entry_point].partition(":")
    return getattr(importlib.import_module(module), attr).__name__.removesuffix("_entry")


def parse_task_arguments(wheel_task: WheelTask) -> argparse.Namespace:
    """The task's parameters at run time, parsed by the real CLI parser of its entry point."""
    spec = wheel_task.task["python_wheel_task"]
    argv = [run_time_values(wheel_task.job.spec, str(p)) for p in spec.get("parameters") or []]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return build_parser().parse_args([entry_point_command(spec["entry_point"]), *argv])
    except SystemExit:
        pytest.fail(f"{wheel_task.id}: the entry point rejects its parameters {argv}: {stderr.getvalue()}")


def task_config(wheel_task: WheelTask) -> Config:
    args = parse_task_arguments(wheel_task)
    values = {k: v for k, v in vars(args).items() if k in Config.field_names()}
    try:
        return Config.from_sources(values, env={})
    except ConfigError as exc:
        pytest.fail(f"{wheel_task.id}: {exc} (arguments {values})")


def uc_names(doc: dict[str, Any]) -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
    """(catalog, schema) of every schema and (catalog, schema, volume) of every volume in a document."""
    resources = doc.get("resources") or {}
    schemas = {(s["catalog_name"], s["name"]) for s in (resources.get("schemas") or {}).values()}
    volumes = {
        (v["catalog_name"], v["schema_name"], v["name"]) for v in (resources.get("volumes") or {}).values()
    }
    return schemas, volumes


def storage_problems(files: list[BundleFile]) -> list[str]:
    """Where a job would read or write something this bundle does not deploy, in any target: every
    <catalog>.<schema_prefix><layer> a wheel task's Config addresses must be a deployed schema, and
    every /Volumes/... path it is given must lie in a deployed volume."""
    problems = []
    for target in sorted(all_targets(files)):
        doc = deployed_document(files, target)
        schemas, volumes = uc_names(doc)
        jobs = [
            Job(f"{target}:{k}", k, target, s)
            for k, s in ((doc.get("resources") or {}).get("jobs") or {}).items()
        ]
        for wheel_task in wheel_tasks(jobs):
            config = task_config(wheel_task)
            if config.environment != "databricks":
                continue
            for layer in LAYERS:
                schema = config.table(layer, "t").split(".")[1]
                if (config.catalog, schema) not in schemas:
                    problems.append(
                        f"{wheel_task.id}: writes {config.catalog}.{schema}, which target {target} does "
                        f"not deploy (deployed schemas: {sorted(s for _, s in schemas)})"
                    )
            args = vars(parse_task_arguments(wheel_task))
            for name, value in args.items():
                if isinstance(value, str) and value.startswith("/Volumes/"):
                    parts = value.split("/")
                    if len(parts) < 5 or (parts[2], parts[3], parts[4]) not in volumes:
                        problems.append(
                            f"{wheel_task.id}: --{name} {value} is in no volume of target {target}"
                        )
            checkpoint = config.checkpoint("bronze_events")
            parts = checkpoint.split("/")
            if len(parts) < 5 or (parts[2], parts[3], parts[4]) not in volumes:
                problems.append(
                    f"{wheel_task.id}: checkpoints {checkpoint} are in no volume of target {target}"
                )
    return problems


FILES = load_bundle()
TARGETS = sorted(all_targets(FILES))
JOBS = deployed_jobs(FILES)
WHEEL_TASKS = wheel_tasks(JOBS)
POLICY = load_policy(POLICY_FILE)


def _ids(items: list[Any]) -> list[str]:
    return [item.id if hasattr(item, "id") else str(item) for item in items]


# --------------------------------------------------------------------------------------------------
# Schema validation (skips without a schema)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_validator() -> Any:
    try:
        schema, _origin = load_schema()
    except SchemaUnavailable as exc:
        pytest.skip(str(exc))
    return make_validator(schema)


@pytest.mark.parametrize("bundle_file", FILES, ids=[f.name for f in FILES])
def test_bundle_file_matches_schema(bundle_validator: Any, bundle_file: BundleFile) -> None:
    errors = validation_errors(bundle_validator, bundle_file.doc)
    assert not errors, f"{bundle_file.name} does not match the bundle schema:\n  " + "\n  ".join(errors)


def _sample_job_file() -> tuple[BundleFile, str]:
    for bundle_file in FILES[1:]:
        for key, spec in ((bundle_file.doc.get("resources") or {}).get("jobs") or {}).items():
            if spec.get("tasks") and spec.get("job_clusters"):
                return bundle_file, key
    raise AssertionError("no included file defines a job with tasks and job_clusters")


def _break(mutation: str, doc: dict[str, Any], key: str) -> None:
    job = doc["resources"]["jobs"][key]
    task = job["tasks"][0]
    cluster = job["job_clusters"][0]["new_cluster"]
    if mutation == "unknown-job-key":
        job["max_concurrent_run"] = 1
    elif mutation == "wrong-type":
        job["max_concurrent_runs"] = "one"
    elif mutation == "bad-enum":
        cluster["data_security_mode"] = "UNITY"
    elif mutation == "missing-required":
        task.setdefault("python_wheel_task", {"package_name": "medallion"}).pop("entry_point", None)
    elif mutation == "list-as-string":
        task["libraries"] = "../dist/*.whl"
    elif mutation == "malformed-reference":
        cluster["autoscale"] = {"min_workers": "${var.}", "max_workers": 2}
    elif mutation == "unknown-top-level-key":
        doc["varaibles"] = {}
    elif mutation == "deprecated-key":
        doc["environments"] = {}
    else:  # pragma: no cover
        raise AssertionError(mutation)


BAD_DOCUMENTS = {
    # mutation: (location the message must name, text it must contain)
    "unknown-job-key": ("resources.jobs.{job}", "'max_concurrent_run' was unexpected"),
    "wrong-type": ("resources.jobs.{job}.max_concurrent_runs", "'one' is not of type 'integer'"),
    "bad-enum": (
        "resources.jobs.{job}.job_clusters[0].new_cluster.data_security_mode",
        "'UNITY' is not one of",
    ),
    "missing-required": ("resources.jobs.{job}.tasks[0].python_wheel_task", "'entry_point' is a required"),
    "list-as-string": ("resources.jobs.{job}.tasks[0].libraries", "is not of type 'array'"),
    "malformed-reference": (
        "resources.jobs.{job}.job_clusters[0].new_cluster.autoscale.min_workers",
        "nor a valid ${...} reference",
    ),
    "unknown-top-level-key": ("varaibles", "unknown top-level key"),
    "deprecated-key": ("environments", "deprecated field"),
}


@pytest.mark.parametrize("mutation", sorted(BAD_DOCUMENTS))
def test_schema_validation_rejects_broken_copies(bundle_validator: Any, mutation: str) -> None:
    """A broken copy of a real bundle file fails with a readable message: validation is not vacuous."""
    bundle_file, job = _sample_job_file()
    doc = copy.deepcopy(bundle_file.doc)
    assert not validation_errors(bundle_validator, doc), "the unbroken copy must validate"
    _break(mutation, doc, job)
    errors = validation_errors(bundle_validator, doc)
    where, text = BAD_DOCUMENTS[mutation]
    where = where.format(job=job)
    assert any(e.startswith(f"{where}: ") and text in e for e in errors), (
        f"expected '{where}: ...{text}...' among {errors}"
    )
    assert not any("is not valid under any of the given schemas" in e for e in errors), errors


def test_interpolation_patterns_need_the_regex_module(bundle_validator: Any) -> None:
    """${var.*} in an integer field is valid; the stock validator cannot even compile the pattern."""
    bundle_file, job = _sample_job_file()
    doc = copy.deepcopy(bundle_file.doc)
    doc["resources"]["jobs"][job]["max_concurrent_runs"] = "${var.max_runs}"
    assert validation_errors(bundle_validator, doc) == []
    with pytest.raises(re.error, match=r"bad escape \\p"):
        list(Draft202012Validator(bundle_validator.schema).iter_errors(doc))


@pytest.mark.parametrize("target", TARGETS)
def test_merged_target_document_matches_schema(bundle_validator: Any, target: str) -> None:
    """What the CLI validates for a target: all files merged, the target applied, variables resolved."""
    doc = merged_document(FILES, target)
    assert doc["resources"]["jobs"], "the merged document holds no job"
    errors = validation_errors(bundle_validator, doc)
    assert not errors, (
        f"target {target}: merged document does not match the bundle schema:\n  " + "\n  ".join(errors)
    )


def test_merged_documents_catch_what_a_target_breaks(bundle_validator: Any) -> None:
    """A target value that breaks a job is only visible in the merged document: here a webhook
    destination given as a plain string where the jobs need a list of {id: ...}."""
    files = copy.deepcopy(FILES)
    files[0].doc["targets"]["prod"]["variables"]["failure_webhooks"] = "0d9b1b2c-hook"
    assert not validation_errors(bundle_validator, files[0].doc)  # as a file it still validates ...
    errors = validation_errors(bundle_validator, merged_document(files, "prod"))  # ... merged it does not
    assert any(
        e.startswith("resources.jobs.bronze.webhook_notifications.on_failure: ") and "'array'" in e
        for e in errors
    ), errors


# --------------------------------------------------------------------------------------------------
# The databricks-bundles Python models
# --------------------------------------------------------------------------------------------------

MODELS = {
    "jobs": ("databricks.bundles.jobs", "Job"),
    "schemas": ("databricks.bundles.schemas", "Schema"),
    "volumes": ("databricks.bundles.volumes", "Volume"),
}


def _model(kind: str) -> Any:
    module, name = MODELS[kind]
    return getattr(pytest.importorskip(module, reason="pip install -e '.[dev]' (databricks-bundles)"), name)


@pytest.mark.parametrize("target", TARGETS)
def test_resources_load_through_the_databricks_bundles_models(target: str) -> None:
    resources = merged_document(FILES, target)["resources"]
    loaded = 0
    for kind in MODELS:
        for key, spec in (resources.get(kind) or {}).items():
            try:
                obj = _model(kind).from_dict(copy.deepcopy(spec))
            except (ValueError, TypeError) as exc:
                pytest.fail(f"target {target}: resources.{kind}.{key} does not load: {exc}")
            assert obj.as_dict(), key
            loaded += 1
    assert loaded >= len(resources.get("jobs") or {}) + 4, "expected the jobs, the schemas and the volume"


def _job_with(mutation: str) -> dict[str, Any]:
    job = copy.deepcopy(merged_document(FILES, "prod")["resources"]["jobs"]["bronze"])
    cluster = job["job_clusters"][0]["new_cluster"]
    if mutation == "unknown-job-key":
        job["max_concurrent_run"] = 1
    elif mutation == "unknown-nested-key":
        cluster["azure_attributes"]["first_on_demnd"] = 1
    elif mutation == "bad-security-mode":
        cluster["data_security_mode"] = "UNITY"
    elif mutation == "bad-health-metric":
        job["health"]["rules"][0]["metric"] = "BACKLOG_SECONDS"
    elif mutation == "bad-availability":
        cluster["azure_attributes"]["availability"] = "SPOT"
    else:  # pragma: no cover
        raise AssertionError(mutation)
    return job


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ("unknown-job-key", "Unexpected field 'max_concurrent_run'"),
        ("unknown-nested-key", "Unexpected field 'first_on_demnd'"),
        ("bad-security-mode", "'UNITY' is not a valid DataSecurityMode"),
        ("bad-health-metric", "'BACKLOG_SECONDS' is not a valid JobsHealthMetric"),
        ("bad-availability", "'SPOT' is not a valid AzureAvailability"),
    ],
)
def test_the_models_reject_broken_copies(mutation: str, message: str) -> None:
    job_model = _model("jobs")
    job_model.from_dict(copy.deepcopy(merged_document(FILES, "prod")["resources"]["jobs"]["bronze"]))
    with pytest.raises(ValueError, match=re.escape(message)):
        job_model.from_dict(_job_with(mutation))


# --------------------------------------------------------------------------------------------------
# Cross-references (no schema needed)
# --------------------------------------------------------------------------------------------------


def test_bundle_identity_and_includes() -> None:
    root = FILES[0].doc
    assert (root.get("bundle") or {}).get("name") == "medallion"
    globs = include_globs(root)
    assert "resources/*.yml" in globs
    for pattern in globs:
        assert [p for p in ROOT.glob(pattern) if p.is_file()], f"include glob {pattern!r} matches no file"
    included = {f.path for f in FILES[1:]}
    for path in sorted((ROOT / "resources").glob("*")):
        if path.suffix in (".yml", ".yaml"):
            assert path in included, f"{path.relative_to(ROOT)} is not matched by any include glob {globs}"


def test_included_files_do_not_redefine_bundle_settings() -> None:
    for bundle_file in FILES[1:]:
        for key in ("bundle", "include", "workspace", "variables"):
            assert key not in bundle_file.doc, f"{bundle_file.name}: {key!r} belongs in databricks.yml"
        for name, spec in (bundle_file.doc.get("targets") or {}).items():
            assert set(spec or {}) <= {"resources"}, (
                f"{bundle_file.name}: targets.{name} may only add resources"
            )
    for key, defs in base_jobs(FILES).items():
        assert len(defs) == 1, f"job {key!r} is defined in {[f.name for f, _ in defs]}"


def test_targets() -> None:
    targets = {name: target_spec(FILES, name) for name in TARGETS}
    assert set(targets) == {"dev", "staging", "prod"}, f"targets: {sorted(targets)}"
    defaults = [name for name, spec in targets.items() if spec.get("default") is True]
    assert defaults == ["dev"], f"exactly dev must be the default target, got {defaults}"
    assert targets["dev"].get("mode") == "development"
    dev_prefix = target_variable_values(FILES, "dev")["schema_prefix"]
    assert "${workspace.current_user.short_name}" in str(dev_prefix), "dev tables must be per user"
    for name in ("staging", "prod"):
        spec = targets[name]
        assert spec.get("mode") == "production", name
        assert (spec.get("workspace") or {}).get("root_path"), f"{name} must pin workspace.root_path"
        run_as = spec.get("run_as") or {}
        assert run_as.get("service_principal_name") == "${var.run_as_service_principal}", name
        permissions = spec.get("permissions") or []
        assert {
            "service_principal_name": "${var.run_as_service_principal}",
            "level": "CAN_MANAGE",
        } in permissions
        assert not [p for p in permissions if "user_name" in p], f"{name}: grant groups, not users"
        values = target_variable_values(FILES, name)
        assert values["schema_prefix"] == "" and values["catalog"] == name, name


def test_variables_are_declared_described_and_used() -> None:
    declared = declared_variables(FILES)
    problems = [
        f"variable {name!r} has no description"
        for name, spec in declared.items()
        if not spec.get("description")
    ]
    used: set[str] = set()
    for where, ref in references(FILES):
        if ref.startswith("var."):
            name = reference_head(ref, "var")
            used.add(name)
            if name not in declared:
                problems.append(f"{where}: ${{{ref}}} uses undeclared variable {name!r}")
    for target, defs in all_targets(FILES).items():
        for bundle_file, spec in defs:
            for name in spec.get("variables") or {}:
                if name not in declared:
                    problems.append(f"{bundle_file.name}: targets.{target} sets undeclared variable {name!r}")
    problems += [f"variable {name!r} is declared but never used" for name in sorted(set(declared) - used)]
    assert not problems, "\n".join(problems)


def test_default_target_needs_no_extra_variables() -> None:
    """`databricks bundle validate` without --var works: every variable has a value in the default target."""
    default = next((name for name in TARGETS if target_spec(FILES, name).get("default") is True), None)
    assert default is not None, "no default target"
    values = target_variable_values(FILES, default)
    missing = sorted(name for name, value in values.items() if value is None)
    assert not missing, f"no value for {missing} in target {default!r}"


@pytest.mark.parametrize("target", TARGETS)
def test_only_deploy_time_variables_stay_unresolved(target: str) -> None:
    """After merging, the only ${var.*} left are lookups and variables declared without a default
    (supplied with --var when deploying); every ${bundle.*} and ${workspace.*} is resolved."""
    declared = declared_variables(FILES)
    values = target_variable_values(FILES, target)
    allowed = {n for n, v in values.items() if v in (None, "<lookup>")}
    assert all("default" not in declared[n] for n in allowed if values[n] is None), allowed
    doc = merged_document(FILES, target)
    left = {
        ref
        for _, text in strings({k: v for k, v in doc.items() if k != "variables"})
        for ref in REFERENCE.findall(text)
    }
    unexpected = {
        ref for ref in left if not ref.startswith("resources.") and reference_head(ref, "var") not in allowed
    }
    assert not unexpected, f"target {target}: unresolved {sorted(unexpected)}"


def test_references_resolve() -> None:
    resources: dict[str, dict[str, Any]] = {}
    for bundle_file in FILES:
        blocks = [bundle_file.doc.get("resources") or {}]
        blocks += [(t or {}).get("resources") or {} for t in (bundle_file.doc.get("targets") or {}).values()]
        for block in blocks:
            for kind, entries in block.items():
                resources.setdefault(kind, {}).update(entries or {})
    artifacts = set(FILES[0].doc.get("artifacts") or {})
    problems = []
    for where, ref in references(FILES):
        head = ref.split(".", 1)[0]
        if head not in REFERENCE_PREFIXES:
            problems.append(f"{where}: ${{{ref}}} does not start with one of {REFERENCE_PREFIXES}")
        elif head == "resources":
            parts = ref.split(".")
            if len(parts) < 3 or parts[2] not in resources.get(parts[1], {}):
                problems.append(f"{where}: ${{{ref}}} names no resource of this bundle")
            elif len(parts) == 4 and parts[3] != "id" and parts[3] not in resources[parts[1]][parts[2]]:
                problems.append(f"{where}: ${{{ref}}}: resource {parts[2]} sets no {parts[3]!r}")
        elif head == "artifacts" and reference_head(ref, "artifacts") not in artifacts:
            problems.append(f"{where}: ${{{ref}}} names no artifact of this bundle")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", TARGETS)
def test_unity_catalog_resources(target: str) -> None:
    """Every layer has a schema with grants, in the target's catalog; the checkpoints volume is in ops."""
    doc = merged_document(FILES, target)
    catalog = target_variable_values(FILES, target)["catalog"]
    schemas = doc["resources"].get("schemas") or {}
    for layer in LAYERS:
        assert layer in schemas, f"target {target}: no `schemas.{layer}` resource"
        schema = schemas[layer]
        assert schema["catalog_name"] == catalog, (target, layer)
        assert schema.get("grants"), f"target {target}: schema {layer} has no grants"
        for grant in schema["grants"]:
            assert grant.get("principal") and "USE_SCHEMA" in grant.get("privileges", []), grant
    volume = doc["resources"]["volumes"]["checkpoints"]
    assert volume["schema_name"] == "${resources.schemas.ops.name}"  # the deployed name, whatever the mode
    assert volume["volume_type"] == "MANAGED"


def test_every_table_a_job_writes_lands_in_a_deployed_schema() -> None:
    """The schema-name decision, checked: in every target (development mode's dev_<user>_ renaming
    applied) each <catalog>.<schema_prefix><layer> a job addresses is a schema the bundle deploys."""
    assert storage_problems(FILES) == []
    dev = deployed_document(FILES, "dev")
    assert {s["name"] for s in dev["resources"]["schemas"].values()} >= {
        f"dev_jane_doe_{layer}" for layer in LAYERS
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # naming the schemas like the jobs' prefix doubles it: development mode prefixes them again
        ({"schema_resource_prefix": "${var.schema_prefix}"}, "writes dev.dev_jane_doe_bronze"),
        # jobs without the per-user prefix would write to schemas that dev does not deploy
        ({"schema_prefix": ""}, "writes dev.bronze"),
    ],
)
def test_a_schema_name_mismatch_is_caught(change: dict[str, str], expected: str) -> None:
    files = copy.deepcopy(FILES)
    files[0].doc["targets"]["dev"]["variables"].update(change)
    problems = storage_problems(files)
    assert any(expected in p for p in problems), problems


def test_normalize_prefix_matches_the_cli() -> None:
    assert normalize_prefix("[dev jane_doe] ") == "dev_jane_doe_"
    assert normalize_prefix("[dev Jane.Doe] ") == "dev_jane_doe_"
    assert normalize_prefix("dev_x_") == "dev_x"  # no "]": no trailing underscore


def test_there_are_jobs_with_wheel_tasks() -> None:
    """The per-job checks below are parametrized over what the bundle holds; it must hold something."""
    assert JOBS, "the bundle defines no jobs"
    assert WHEEL_TASKS, "the bundle defines no python_wheel_task"
    keys = {target: {job.key for job in JOBS if job.target == target} for target in TARGETS}
    assert {"bronze", "medallion_pipeline", "maintenance"} <= keys["prod"]
    # the integration test runs in dev and staging, never in prod
    assert "integration_test" in keys["dev"] and "integration_test" in keys["staging"]
    assert "integration_test" not in keys["prod"]


@pytest.mark.parametrize("job", JOBS, ids=_ids(JOBS))
def test_task_keys_and_dependencies(job: Job) -> None:
    tasks = job.spec.get("tasks") or []
    assert tasks, f"job {job.id} has no tasks"
    keys = [task.get("task_key") for task in tasks]
    assert len(keys) == len(set(keys)), f"job {job.id}: duplicate task_key in {keys}"
    graph: dict[str, list[str]] = {}
    for task in tasks:
        deps = [dep.get("task_key") for dep in task.get("depends_on") or []]
        for dep in deps:
            assert dep in keys, f"job {job.id}: task {task['task_key']!r} depends on unknown task {dep!r}"
            assert dep != task["task_key"], f"job {job.id}: task {dep!r} depends on itself"
        graph[task["task_key"]] = deps
    # Kahn's algorithm: every task must become runnable.
    remaining = {key: set(deps) for key, deps in graph.items()}
    while remaining:
        ready = [key for key, deps in remaining.items() if not deps]
        assert ready, f"job {job.id}: depends_on cycle among {sorted(remaining)}"
        for key in ready:
            del remaining[key]
        for deps in remaining.values():
            deps.difference_update(ready)


@pytest.mark.parametrize("job", JOBS, ids=_ids(JOBS))
def test_job_clusters_resolve(job: Job) -> None:
    clusters = [c.get("job_cluster_key") for c in job.spec.get("job_clusters") or []]
    assert len(clusters) == len(set(clusters)), f"job {job.id}: duplicate job_cluster_key in {clusters}"
    used = set()
    for task in job.spec.get("tasks") or []:
        compute = [name for name in COMPUTE_FIELDS if task.get(name)]
        assert len(compute) <= 1, f"job {job.id}: task {task.get('task_key')!r} sets {compute}"
        if "python_wheel_task" in task:
            assert compute == ["job_cluster_key"], (
                f"job {job.id}: wheel task {task.get('task_key')!r} must use a job cluster"
            )
        key = task.get("job_cluster_key")
        if key is not None:
            assert key in clusters, (
                f"job {job.id}: task {task.get('task_key')!r} uses job_cluster_key {key!r}, "
                f"not one of the job's job_clusters {clusters}"
            )
            used.add(key)
    assert not set(clusters) - used, f"job {job.id}: unused job_clusters {sorted(set(clusters) - used)}"


@pytest.mark.parametrize("job", JOBS, ids=_ids(JOBS))
def test_job_operational_settings(job: Job) -> None:
    """Production guard rails every medallion job keeps, as each target deploys it."""
    spec = job.spec
    assert (spec.get("email_notifications") or {}).get("on_failure"), f"job {job.id}: no on_failure email"
    webhooks = spec.get("webhook_notifications") or {}
    assert "on_failure" in webhooks, f"job {job.id}: no webhook_notifications.on_failure"
    expected_hooks = target_variable_values(FILES, job.target)["failure_webhooks"]
    assert webhooks["on_failure"] == expected_hooks, f"job {job.id}: webhooks {webhooks['on_failure']}"
    if job.target != "dev":
        assert expected_hooks, f"target {job.target}: failures must reach the webhook destination"
    # Two concurrent runs of one job would share checkpoints / write the same tables.
    assert spec.get("max_concurrent_runs") == 1, f"job {job.id}: max_concurrent_runs must be 1"
    assert isinstance((spec.get("queue") or {}).get("enabled"), bool), f"job {job.id}: say whether runs queue"
    tags = spec.get("tags") or {}
    assert tags.get("project") == "medallion" and tags.get("target") == job.target, (
        f"job {job.id}: tags {tags}"
    )
    assert not [t for _, t in strings(spec) if "${bundle." in t or "${workspace." in t], job.id
    # exactly one way to start: a quartz schedule, or continuous
    assert ("schedule" in spec) != ("continuous" in spec), f"job {job.id}: schedule xor continuous"
    rules = (spec.get("health") or {}).get("rules") or []
    metrics = {rule["metric"] for rule in rules}
    if "schedule" in spec:
        schedule = spec["schedule"]
        assert len(schedule["quartz_cron_expression"].split()) in (6, 7) and schedule.get("timezone_id"), (
            job.id
        )
        timeout = int(spec.get("timeout_seconds") or 0)
        assert timeout > 0, f"job {job.id}: a scheduled job needs timeout_seconds > 0"
        duration = [int(r["value"]) for r in rules if r["metric"] == "RUN_DURATION_SECONDS"]
        assert duration and duration[0] < timeout, f"job {job.id}: warn on run duration before the timeout"
        assert (spec.get("email_notifications") or {}).get("on_duration_warning_threshold_exceeded"), job.id
    else:
        assert spec["continuous"].get("pause_status") == "UNPAUSED", f"job {job.id}"
        assert not int(spec.get("timeout_seconds") or 0), f"job {job.id}: a stream must not time out"
        assert metrics & BACKLOG_METRICS and "RUN_DURATION_SECONDS" not in metrics, f"job {job.id}: {metrics}"
        assert (spec.get("email_notifications") or {}).get("on_streaming_backlog_exceeded"), job.id
        assert "on_streaming_backlog_exceeded" in webhooks, job.id
    if target_spec(FILES, job.target).get("mode") == "development":  # what the deployed copy gets
        assert spec["name"].startswith("[dev jane_doe] ")
        assert (spec.get("schedule") or spec.get("continuous"))["pause_status"] == "PAUSED"


@pytest.mark.parametrize("job", JOBS, ids=_ids(JOBS))
def test_job_parameters_are_passed_into_every_task(job: Job) -> None:
    parameters = [p["name"] for p in job.spec.get("parameters") or []]
    assert parameters, f"job {job.id}: no job-level parameters"
    assert len(parameters) == len(set(parameters)), f"job {job.id}: repeated parameters {parameters}"
    for task in job.spec.get("tasks") or []:
        texts = [text for _, text in strings(task)]
        used = {m.removeprefix("job.parameters.") for t in texts for m in DYNAMIC_REFERENCE.findall(t)}
        used = {name for name in used if "." not in name}
        known = {m for t in texts for m in DYNAMIC_REFERENCE.findall(t)} - {
            f"job.parameters.{n}" for n in used
        }
        assert set(parameters) <= used, (
            f"job {job.id}: task {task['task_key']} misses {set(parameters) - used}"
        )
        assert used <= set(parameters), (
            f"job {job.id}: task {task['task_key']} uses undefined {used - set(parameters)}"
        )
        assert known <= set(SAMPLE_RUN_VALUES), f"job {job.id}: unknown dynamic references {known}"


@pytest.mark.parametrize("job", JOBS, ids=_ids(JOBS))
def test_retries_are_explicit(job: Job) -> None:
    """Every task of a scheduled job says whether it retries; retries wait at least a minute (spot
    capacity, Event Hubs throttling) and never retry a timeout. A continuous job has no task retry
    policy (test_continuous_jobs_have_no_task_retry_policy) and says how failed tasks are retried."""
    if "continuous" in job.spec:
        assert job.spec["continuous"].get("task_retry_mode") == "ON_FAILURE", job.id
        return
    for task in job.spec.get("tasks") or []:
        name = f"job {job.id} task {task['task_key']}"
        assert "max_retries" in task, f"{name}: say whether it retries (0 for non-idempotent steps)"
        if int(task["max_retries"]) > 0:
            assert int(task.get("min_retry_interval_millis") or 0) >= 60_000, name
            assert task.get("retry_on_timeout") is False, name


def continuous_retry_problems(doc: dict[str, Any]) -> list[str]:
    """Tasks of continuous jobs that set a retry policy: Databricks does not allow retry policies on
    a continuous job (it restarts the job with exponential backoff, and task_retry_mode re-runs a
    failed task)."""
    problems = []
    for key, job in ((doc.get("resources") or {}).get("jobs") or {}).items():
        if "continuous" not in job:
            continue
        for task in job.get("tasks") or []:
            fields = [field for field in RETRY_POLICY_FIELDS if field in task]
            if fields:
                problems.append(f"continuous job {key}: task {task.get('task_key')} sets {fields}")
    return problems


def test_continuous_jobs_have_no_task_retry_policy() -> None:
    """In every target's merged document, no task of a continuous job has max_retries,
    min_retry_interval_millis or retry_on_timeout; the scheduled bronze runs keep their retries."""
    continuous = []
    for target in TARGETS:
        doc = merged_document(FILES, target)
        assert continuous_retry_problems(doc) == [], f"target {target}"
        jobs = doc["resources"]["jobs"]
        continuous += [f"{target}:{key}" for key, job in jobs.items() if "continuous" in job]
        if "schedule" in jobs["bronze"]:
            (task,) = jobs["bronze"]["tasks"]
            assert int(task.get("max_retries") or 0) > 0, f"target {target}: scheduled bronze retries"
    assert "prod:bronze" in continuous, continuous


def test_a_retry_policy_on_a_continuous_job_is_caught() -> None:
    """What the prod bronze override could get wrong: a retry policy on its (continuous) task."""
    files = copy.deepcopy(FILES)
    prod_bronze = files[0].doc["targets"]["prod"]["resources"]["jobs"]["bronze"]
    prod_bronze["tasks"] = [{"task_key": "bronze", "max_retries": 0, "retry_on_timeout": False}]
    assert continuous_retry_problems(merged_document(files, "prod")) == [
        "continuous job bronze: task bronze sets ['max_retries', 'retry_on_timeout']"
    ]


@pytest.mark.parametrize("job", JOBS, ids=_ids(JOBS))
def test_job_clusters_are_spot_with_fallback_under_the_policy(job: Job) -> None:
    entry_points: dict[str, set[str]] = {}  # cluster key -> entry points of the tasks it runs
    for t in job.spec.get("tasks") or []:
        entry = (t.get("python_wheel_task") or {}).get("entry_point")
        entry_points.setdefault(t.get("job_cluster_key"), set()).add(entry)
    policy_variable = declared_variables(FILES)["cluster_policy_id"]
    assert policy_variable.get("lookup") == {"cluster_policy": POLICY_NAME}
    for cluster in job.spec.get("job_clusters") or []:
        key = cluster.get("job_cluster_key")
        new_cluster = cluster.get("new_cluster") or {}
        name = f"job {job.id} cluster {key!r}"
        assert new_cluster.get("policy_id") == "${var.cluster_policy_id}", (
            f"{name}: policy_id from the lookup"
        )
        assert new_cluster.get("data_security_mode") in UC_SECURITY_MODES, f"{name}: not a UC access mode"
        azure = new_cluster.get("azure_attributes") or {}
        assert azure.get("availability") == "SPOT_WITH_FALLBACK_AZURE", f"{name}: spot with fallback"
        assert azure.get("spot_bid_max_price") == -1, name
        floor = 1 + int(new_cluster["autoscale"]["min_workers"]) if "continuous" in job.spec else 1
        assert int(azure.get("first_on_demand") or 0) >= floor, f"{name}: on-demand driver (+ min workers)"
        scale = new_cluster.get("autoscale") or {}
        assert 1 <= int(scale["min_workers"]) <= int(scale["max_workers"]), f"{name}: autoscale range"
        tags = new_cluster.get("custom_tags") or {}
        assert tags.get("project") == "medallion" and tags.get("layer"), f"{name}: custom_tags project/layer"
        assert tags.get("target") == job.target, f"{name}: custom_tags.target"
        photon = new_cluster.get("runtime_engine") == "PHOTON"
        wants_photon = bool(entry_points.get(key, set()) & PHOTON_ENTRY_POINTS)
        assert photon == wants_photon, f"{name}: Photon where it pays (silver/gold) and nowhere else"
        check = evaluate_cluster(POLICY, new_cluster)
        assert check.ok, f"{name} breaks {POLICY_NAME}: {check.violations}"


# --------------------------------------------------------------------------------------------------
# Runtime: the job clusters run the Spark the local tests run
# --------------------------------------------------------------------------------------------------


def local_spark_version() -> str:
    """major.minor of the installed pyspark (the pin in pyproject.toml)."""
    import pyspark

    return ".".join(pyspark.__version__.split(".")[:2])


def parse_runtime(spark_version: Any) -> tuple[int, int, str] | None:
    """``17.3.x-scala2.13`` -> (17, 3, "2.13"); None for anything that is not a runtime key."""
    match = RUNTIME_KEY.fullmatch(str(spark_version))
    return (int(match[1]), int(match[2]), match[3]) if match else None


def maven_coordinates(task: dict[str, Any]) -> list[str]:
    return [
        str(lib["maven"].get("coordinates", ""))
        for lib in task.get("libraries") or []
        if isinstance(lib, dict) and isinstance(lib.get("maven"), dict)
    ]


def task_source(task: dict[str, Any]) -> str | None:
    """The bronze source a wheel task passes (--source=...), if any."""
    parameters = (task.get("python_wheel_task") or {}).get("parameters") or []
    return dict(parse_flags(parameters)).get("source")


def runtime_problems(jobs: list[Job], local_spark: str) -> list[str]:
    """Every job cluster runs a known runtime whose Scala matches its Maven libraries. A cluster that
    runs a ``--source eventhubs`` task needs a Scala 2.12 runtime and the connector library; every
    other cluster runs a Scala 2.13 runtime >= 17.3 LTS whose Spark is the local pyspark's."""
    problems = []
    for job in jobs:
        tasks: dict[Any, list[dict[str, Any]]] = {}
        for task in job.spec.get("tasks") or []:
            tasks.setdefault(task.get("job_cluster_key"), []).append(task)
        for cluster in job.spec.get("job_clusters") or []:
            key = cluster.get("job_cluster_key")
            name = f"job {job.id} cluster {key!r}"
            version = (cluster.get("new_cluster") or {}).get("spark_version")
            runtime = parse_runtime(version)
            if runtime is None:
                problems.append(f"{name}: spark_version {version!r} is not a runtime key (17.3.x-scala2.13)")
                continue
            major, minor, scala = runtime
            for task in tasks.get(key, []):
                for coordinates in maven_coordinates(task):
                    artifact = coordinates.split(":")[1] if ":" in coordinates else ""
                    built_for = re.search(r"_(2\.1\d)$", artifact)
                    if built_for and built_for[1] != scala:
                        problems.append(
                            f"{name}: task {task['task_key']} library {coordinates} is built for Scala "
                            f"{built_for[1]}, runtime {version} is Scala {scala}"
                        )
            eventhubs = [t["task_key"] for t in tasks.get(key, []) if task_source(t) == "eventhubs"]
            if eventhubs:
                if scala != EVENTHUBS_SCALA:
                    problems.append(
                        f"{name}: {eventhubs} use --source=eventhubs, whose connector has no Scala {scala} "
                        f"build: run this cluster on a Scala {EVENTHUBS_SCALA} runtime (16.4.x-scala2.12)"
                    )
                connector = f"{EVENTHUBS_CONNECTOR}{EVENTHUBS_SCALA}:"
                for task in tasks[key]:
                    libraries = maven_coordinates(task)
                    if task["task_key"] in eventhubs and not any(c.startswith(connector) for c in libraries):
                        problems.append(
                            f"{name}: task {task['task_key']} has no maven library {connector}<v>"
                        )
                continue
            if scala != DEFAULT_SCALA or (major, minor) < MIN_RUNTIME:
                problems.append(f"{name}: {version} is not a Scala {DEFAULT_SCALA} runtime >= 17.3 LTS")
            spark = RUNTIME_SPARK.get((major, minor))
            if spark is None:
                problems.append(f"{name}: Spark version of Databricks Runtime {major}.{minor} unknown")
            elif spark != local_spark:
                problems.append(
                    f"{name}: Databricks Runtime {major}.{minor} runs Spark {spark}, the local pyspark is "
                    f"{local_spark}"
                )
    return problems


def test_spark_version_default_is_the_runtime_of_the_local_pyspark() -> None:
    """The bundle defaults to 17.3 LTS (Scala 2.13), and that runtime's Spark is the local pyspark's:
    what the tests run is what the clusters run."""
    default = declared_variables(FILES)["spark_version"].get("default")
    runtime = parse_runtime(default)
    assert runtime is not None, f"spark_version default {default!r} is not a runtime key"
    major, minor, scala = runtime
    assert scala == DEFAULT_SCALA and (major, minor) >= MIN_RUNTIME, default
    assert RUNTIME_SPARK.get((major, minor)) == local_spark_version(), (
        f"{default} runs Spark {RUNTIME_SPARK.get((major, minor))}, pyspark is {local_spark_version()}"
    )


def test_every_job_cluster_runs_the_local_spark() -> None:
    """Every job cluster of every target, as deployed, resolves to a Scala 2.13 runtime >= 17.3 LTS
    whose Spark is the local pyspark's (only an eventhubs cluster may differ, see below)."""
    clusters = [c for job in JOBS for c in job.spec.get("job_clusters") or []]
    assert clusters, "no job clusters"
    assert runtime_problems(JOBS, local_spark_version()) == []


def _documented_eventhubs_override() -> dict[str, Any]:
    """The YAML block docs/deploy.md gives for running bronze with --source eventhubs."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if EVENTHUBS_CONNECTOR in b]
    assert len(blocks) == 1, "docs/deploy.md must show one yaml block that adds the eventhubs connector"
    return yaml.safe_load(blocks[0])


def _with_override(override: dict[str, Any]) -> list[BundleFile]:
    files = copy.deepcopy(FILES)
    files[0] = BundleFile(files[0].path, _merge(files[0].doc, override))
    return files


def test_documented_eventhubs_override_runs_bronze_on_scala_212() -> None:
    """The documented eventhubs recipe: only the bronze cluster moves to a Scala 2.12 runtime (and the
    policy allows it), it gets the connector, and every other cluster stays on the default runtime."""
    override = _documented_eventhubs_override()
    (target,) = override["targets"]
    jobs = [job for job in deployed_jobs(_with_override(override)) if job.target == target]
    eventhubs = [t for job in jobs for t in job.spec["tasks"] if task_source(t) == "eventhubs"]
    assert eventhubs, "the documented override does not switch a task to --source=eventhubs"
    assert runtime_problems(jobs, local_spark_version()) == []
    bronze = next(job for job in jobs if job.key == "bronze")
    for cluster in bronze.spec["job_clusters"]:
        assert parse_runtime(cluster["new_cluster"]["spark_version"])[2] == EVENTHUBS_SCALA
        check = evaluate_cluster(POLICY, cluster["new_cluster"])
        assert check.ok, f"{POLICY_NAME} rejects the eventhubs bronze cluster: {check.violations}"


def test_documented_eventhubs_override_matches_schema(bundle_validator: Any) -> None:
    override = _documented_eventhubs_override()
    (target,) = override["targets"]
    files = _with_override(override)
    assert not validation_errors(bundle_validator, files[0].doc)
    assert not validation_errors(bundle_validator, merged_document(files, target))


BROKEN_RUNTIMES = {
    # the old default: Spark 3.5 on Scala 2.12, not what the local pyspark 4.0 runs
    "old-default": (
        {"variables": {"spark_version": {"default": "15.4.x-scala2.12"}}},
        "15.4.x-scala2.12 is not a Scala 2.13 runtime >= 17.3 LTS",
    ),
    "not-a-runtime-key": (
        {"variables": {"spark_version": {"default": "17.3 LTS"}}},
        "'17.3 LTS' is not a runtime key",
    ),
    # the connector on the Scala 2.13 default runtime
    "eventhubs-on-scala-213": (
        {
            "targets": {
                "prod": {
                    "variables": {"source": "eventhubs"},
                    "resources": {
                        "jobs": {
                            "bronze": {
                                "tasks": [
                                    {
                                        "task_key": "bronze",
                                        "libraries": [
                                            {"maven": {"coordinates": f"{EVENTHUBS_CONNECTOR}2.12:2.3.22"}}
                                        ],
                                    }
                                ]
                            }
                        }
                    },
                }
            }
        },
        "whose connector has no Scala 2.13 build",
    ),
    # a Scala 2.12 runtime, but nobody installs the connector
    "eventhubs-without-connector": (
        {
            "targets": {
                "prod": {
                    "variables": {"source": "eventhubs"},
                    "resources": {
                        "jobs": {
                            "bronze": {
                                "job_clusters": [
                                    {
                                        "job_cluster_key": "bronze_cluster",
                                        "new_cluster": {"spark_version": "16.4.x-scala2.12"},
                                    }
                                ]
                            }
                        }
                    },
                }
            }
        },
        "has no maven library com.microsoft.azure:azure-eventhubs-spark_2.12:",
    ),
}


@pytest.mark.parametrize("mutation", sorted(BROKEN_RUNTIMES))
def test_runtime_check_rejects_broken_copies(mutation: str) -> None:
    override, expected = BROKEN_RUNTIMES[mutation]
    problems = runtime_problems(deployed_jobs(_with_override(override)), local_spark_version())
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("wheel_task", WHEEL_TASKS, ids=_ids(WHEEL_TASKS))
def test_wheel_task_entry_point_is_declared(wheel_task: WheelTask) -> None:
    project = pyproject()["project"]
    spec = wheel_task.task["python_wheel_task"]
    assert spec.get("package_name") == project["name"] == "medallion", wheel_task.id
    scripts = project.get("scripts") or {}
    assert spec.get("entry_point") in scripts, (
        f"{wheel_task.id}: entry_point {spec.get('entry_point')!r} is not in pyproject.toml "
        f"[project.scripts] {sorted(scripts)}"
    )
    assert entry_point_command(spec["entry_point"]) in build_parser()._subparsers._group_actions[0].choices


def _artifact_wheel_globs() -> list[Path]:
    globs = []
    for artifact in (FILES[0].doc.get("artifacts") or {}).values():
        if artifact.get("type") != "whl":
            continue
        base = (ROOT / artifact.get("path", ".")).resolve()
        sources = [f.get("source") for f in artifact.get("files") or []] or ["dist/*.whl"]
        globs += [(base / source).resolve() for source in sources if source]
    return globs


def test_wheel_artifact_builds_this_project() -> None:
    artifacts = {k: a for k, a in (FILES[0].doc.get("artifacts") or {}).items() if a.get("type") == "whl"}
    assert artifacts, "databricks.yml declares no `type: whl` artifact"
    for name, artifact in artifacts.items():
        base = ROOT / artifact.get("path", ".")
        assert (base / "pyproject.toml").is_file(), f"artifact {name}: {base} has no pyproject.toml"
        assert "--wheel" in str(artifact.get("build", "")), f"artifact {name}: build must build a wheel"
    sample = wheel_filename_sample(pyproject()["project"])
    assert any(fnmatch(sample, glob.name) for glob in _artifact_wheel_globs()), sample


@pytest.mark.parametrize("wheel_task", WHEEL_TASKS, ids=_ids(WHEEL_TASKS))
def test_wheel_task_installs_the_bundle_wheel(wheel_task: WheelTask) -> None:
    wheels = [lib for lib in wheel_task.task.get("libraries") or [] if isinstance(lib, dict) and "whl" in lib]
    assert wheels, f"{wheel_task.id}: no `whl` library, the entry point would not be installed"
    sample = wheel_filename_sample(pyproject()["project"])
    artifact_globs = _artifact_wheel_globs()
    for lib in wheels:
        path = str(lib["whl"])
        assert path.endswith(".whl"), f"{wheel_task.id}: {path!r} is not a wheel"
        if path.startswith(REMOTE_PREFIXES):
            continue
        resolved = (Path(lib[_LIB_DIR]) / path).resolve()
        assert fnmatch(sample, resolved.name), f"{wheel_task.id}: {path!r} would not match {sample}"
        assert any(resolved.parent == glob.parent for glob in artifact_globs), (
            f"{wheel_task.id}: {path!r} resolves to {resolved.parent}, not where the whl artifact is "
            f"built ({sorted({str(g.parent) for g in artifact_globs})})"
        )


@pytest.mark.parametrize("wheel_task", WHEEL_TASKS, ids=_ids(WHEEL_TASKS))
def test_wheel_task_parameters_build_a_valid_config(wheel_task: WheelTask) -> None:
    """The entry point's own parser accepts the task's parameters as they arrive at run time (job
    parameters and {{job.run_id}} filled in), and they make a valid Config on Databricks."""
    spec = wheel_task.task["python_wheel_task"]
    assert not spec.get("named_parameters"), f"{wheel_task.id}: use `parameters` (--flags) only"
    flags = parse_flags(spec.get("parameters") or [])
    names = [name for name, _ in flags]
    assert len(names) == len(set(names)), f"{wheel_task.id}: repeated flags {names}"
    assert dict(flags).get("environment") == "databricks", f"{wheel_task.id}: pass --environment=databricks"
    # spelled out exactly (argparse would also take an abbreviation such as --day for --days)
    command = entry_point_command(spec["entry_point"])
    options = build_parser()._subparsers._group_actions[0].choices[command]._option_string_actions
    unknown = [name for name in names if f"--{name}" not in options]
    assert not unknown, f"{wheel_task.id}: {unknown} are not options of `medallion {command}`"
    config = task_config(wheel_task)
    assert config.environment == "databricks"
    assert config.catalog == target_variable_values(FILES, wheel_task.job.target)["catalog"]
    if "secret_scope" in dict(flags).keys() | {n.replace("-", "_") for n in names}:
        assert config.secret_scope == target_variable_values(FILES, wheel_task.job.target)["secret_scope"]
