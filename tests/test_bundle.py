"""Checks of the Databricks Asset Bundle: databricks.yml and every file it includes (resources/*.yml).

Two kinds of checks:

- schema: every bundle file validates against the Databricks CLI's bundle JSON schema. The schema is
  read from BUNDLE_SCHEMA, else from `databricks bundle schema`; without either these tests skip.
- cross-references the schema cannot see (job_cluster_key, depends_on, wheel entry points, ${var.*},
  include globs, targets, wheel parameters vs medallion.config.Config). They need no schema and run
  everywhere.

Everything is data-driven: the jobs and tasks are discovered from the bundle, so a new
resources/<layer>.yml is checked without touching this file.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from bundle_schema import SchemaUnavailable, load_schema, make_validator, validation_errors
from medallion.config import Config, ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_FILE = ROOT / "databricks.yml"
PYPROJECT = ROOT / "pyproject.toml"

#: ${...} references; the CLI resolves these prefixes (anything else is a typo).
REFERENCE = re.compile(r"\$\{([^{}]*)\}")
REFERENCE_PREFIXES = ("bundle", "workspace", "var", "resources", "artifacts")
#: Values the CLI fills in at deploy time, for resolving job parameters in the tests.
SAMPLE_BUILTINS = {
    "workspace.current_user.short_name": "jane_doe",
    "workspace.current_user.userName": "jane.doe@example.com",
}
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
    id: str  # "<key>" for a job as written, "<target>:<key>" for a job merged with a target override
    key: str
    spec: dict[str, Any]


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


def _tag_libraries(job: dict[str, Any], where: Path) -> dict[str, Any]:
    job = copy.deepcopy(job)
    for task in job.get("tasks") or []:
        for library in task.get("libraries") or []:
            if isinstance(library, dict):
                library[_LIB_DIR] = str(where.parent)
    return job


def _merge(base: Any, override: Any) -> Any:
    """The CLI's target override merge: mappings recursively, sequences appended, scalars replaced."""
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


def _merge_job(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    job = _merge(base, override)
    job["tasks"] = _merge_by_key(job.get("tasks") or [], "task_key")
    job["job_clusters"] = _merge_by_key(job.get("job_clusters") or [], "job_cluster_key")
    return job


def base_jobs(files: list[BundleFile]) -> dict[str, list[tuple[BundleFile, dict[str, Any]]]]:
    """Every job key with each (file, definition) that defines it outside targets."""
    jobs: dict[str, list[tuple[BundleFile, dict[str, Any]]]] = {}
    for bundle_file in files:
        for key, spec in ((bundle_file.doc.get("resources") or {}).get("jobs") or {}).items():
            jobs.setdefault(key, []).append((bundle_file, spec or {}))
    return jobs


def all_targets(files: list[BundleFile]) -> dict[str, list[tuple[BundleFile, dict[str, Any]]]]:
    targets: dict[str, list[tuple[BundleFile, dict[str, Any]]]] = {}
    for bundle_file in files:
        for name, spec in (bundle_file.doc.get("targets") or {}).items():
            targets.setdefault(name, []).append((bundle_file, spec or {}))
    return targets


def all_jobs(files: list[BundleFile]) -> list[Job]:
    """Each job as written, plus each job as a target that overrides it deploys it."""
    written = {key: _tag_libraries(defs[0][1], defs[0][0].path) for key, defs in base_jobs(files).items()}
    jobs = [Job(key, key, spec) for key, spec in written.items()]
    for target, defs in all_targets(files).items():
        for bundle_file, spec in defs:
            for key, override in ((spec.get("resources") or {}).get("jobs") or {}).items():
                merged = _merge_job(written.get(key, {}), _tag_libraries(override or {}, bundle_file.path))
                jobs.append(Job(f"{target}:{key}", key, merged))
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


def declared_variables(files: list[BundleFile]) -> dict[str, dict[str, Any]]:
    return {name: spec or {} for name, spec in (files[0].doc.get("variables") or {}).items()}


def target_variable_values(files: list[BundleFile], target: str) -> dict[str, Any]:
    """Variable values in a target: defaults, then the target's overrides (None = no value)."""
    values: dict[str, Any] = {}
    for name, spec in declared_variables(files).items():
        values[name] = "<lookup>" if "lookup" in spec else spec.get("default")
    for _, spec in all_targets(files).get(target, []):
        for name, override in (spec.get("variables") or {}).items():
            if isinstance(override, dict):
                values[name] = "<lookup>" if "lookup" in override else override.get("default")
            else:
                values[name] = override
    return values


def resolve(text: str, values: dict[str, Any], builtins: dict[str, str], depth: int = 0) -> str | None:
    """``text`` with ${var.*}/${bundle.*}/${workspace.*} resolved; None if some value is unknown."""
    if depth > 10:
        raise ValueError(f"reference cycle while resolving {text!r}")
    unresolved = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal unresolved
        name = match.group(1)
        if name.startswith("var."):
            value = values.get(reference_head(name, "var"))
            if value is None:
                unresolved = True
                return ""
            inner = resolve(str(value), values, builtins, depth + 1)
            if inner is None:
                unresolved = True
                return ""
            return inner
        if name in builtins:
            return builtins[name]
        unresolved = True
        return ""

    result = REFERENCE.sub(substitute, text)
    return None if unresolved else result


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


def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def wheel_filename_sample(project: dict[str, Any]) -> str:
    name = re.sub(r"[-_.]+", "_", project["name"]).lower()
    return f"{name}-{project['version']}-py3-none-any.whl"


FILES = load_bundle()
JOBS = all_jobs(FILES)
WHEEL_TASKS = wheel_tasks(JOBS)
TARGETS = sorted(all_targets(FILES))


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
        for key in ("bundle", "include", "workspace"):
            assert key not in bundle_file.doc, f"{bundle_file.name}: {key!r} belongs in databricks.yml"
    for key, defs in base_jobs(FILES).items():
        assert len(defs) == 1, f"job {key!r} is defined in {[f.name for f, _ in defs]}"


def test_targets() -> None:
    targets = {name: defs[-1][1] for name, defs in all_targets(FILES).items()}
    assert {"dev", "prod"} <= set(targets), f"targets: {sorted(targets)}"
    defaults = [name for name, spec in targets.items() if spec.get("default") is True]
    assert defaults == ["dev"], f"exactly dev must be the default target, got {defaults}"
    assert targets["dev"].get("mode") == "development"
    prod = targets["prod"]
    assert prod.get("mode") == "production"
    assert (prod.get("workspace") or {}).get("root_path"), "prod must pin workspace.root_path (one copy)"
    run_as = prod.get("run_as") or {}
    assert run_as.get("service_principal_name") or run_as.get("user_name"), "prod must set run_as"
    dev_prefix = target_variable_values(FILES, "dev")["schema_prefix"]
    assert "${workspace.current_user.short_name}" in str(dev_prefix), "dev tables must be per user"


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
    default = next(
        (name for name, defs in all_targets(FILES).items() if defs[-1][1].get("default") is True), None
    )
    assert default is not None, "no default target"
    values = target_variable_values(FILES, default)
    missing = sorted(name for name, value in values.items() if value is None)
    assert not missing, f"no value for {missing} in target {default!r}"


def test_references_resolve() -> None:
    resources: dict[str, set[str]] = {}
    for bundle_file in FILES:
        for kind, entries in (bundle_file.doc.get("resources") or {}).items():
            resources.setdefault(kind, set()).update(entries or {})
    artifacts = set(FILES[0].doc.get("artifacts") or {})
    problems = []
    for where, ref in references(FILES):
        head = ref.split(".", 1)[0]
        if head not in REFERENCE_PREFIXES:
            problems.append(f"{where}: ${{{ref}}} does not start with one of {REFERENCE_PREFIXES}")
        elif head == "resources":
            parts = ref.split(".")
            if len(parts) < 3 or parts[2] not in resources.get(parts[1], set()):
                problems.append(f"{where}: ${{{ref}}} names no resource of this bundle")
        elif head == "artifacts" and reference_head(ref, "artifacts") not in artifacts:
            problems.append(f"{where}: ${{{ref}}} names no artifact of this bundle")
    assert not problems, "\n".join(problems)


def test_there_are_jobs_with_wheel_tasks() -> None:
    """The per-job checks below are parametrized over what the bundle holds; it must hold something."""
    assert JOBS, "the bundle defines no jobs"
    assert WHEEL_TASKS, "the bundle defines no python_wheel_task"
    assert any(job.key == "bronze" for job in JOBS)


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
            assert compute, f"job {job.id}: wheel task {task.get('task_key')!r} has no compute"
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
    """Production guard rails every medallion job keeps."""
    spec = job.spec
    assert (spec.get("email_notifications") or {}).get("on_failure"), f"job {job.id}: no on_failure email"
    assert int(spec.get("timeout_seconds") or 0) > 0, f"job {job.id}: timeout_seconds must be > 0"
    # Two concurrent runs of one job would share checkpoints / write the same tables.
    assert spec.get("max_concurrent_runs") == 1, f"job {job.id}: max_concurrent_runs must be 1"
    assert (spec.get("tags") or {}).get("project") == "medallion", f"job {job.id}: tags.project"
    for cluster in spec.get("job_clusters") or []:
        new_cluster = cluster.get("new_cluster") or {}
        name = f"job {job.id} cluster {cluster.get('job_cluster_key')!r}"
        assert new_cluster.get("data_security_mode") in UC_SECURITY_MODES, f"{name}: not a UC access mode"
        azure = new_cluster.get("azure_attributes") or {}
        assert azure.get("availability") == "SPOT_WITH_FALLBACK_AZURE", f"{name}: spot with fallback"
        assert int(azure.get("first_on_demand") or 0) >= 1, f"{name}: the driver must be on-demand"
        tags = new_cluster.get("custom_tags") or {}
        assert tags.get("project") == "medallion" and tags.get("layer"), f"{name}: custom_tags project/layer"
        assert new_cluster.get("spark_version") and new_cluster.get("node_type_id"), name


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
    """Every parameter is a medallion.config.Config flag, and in every target they make a valid Config."""
    spec = wheel_task.task["python_wheel_task"]
    assert not spec.get("named_parameters"), f"{wheel_task.id}: use `parameters` (--flags) only"
    flags = parse_flags(spec.get("parameters") or [])
    names = [name for name, _ in flags]
    assert len(names) == len(set(names)), f"{wheel_task.id}: repeated flags {names}"
    fields = Config.field_names()
    unknown = [name for name in names if name.replace("-", "_") not in fields]
    assert not unknown, f"{wheel_task.id}: {unknown} are not medallion.config.Config fields"
    assert dict(flags).get("environment") == "databricks", f"{wheel_task.id}: pass --environment=databricks"
    bundle_name = FILES[0].doc["bundle"]["name"]
    for target in TARGETS:
        values = target_variable_values(FILES, target)
        builtins = {**SAMPLE_BUILTINS, "bundle.name": bundle_name, "bundle.target": target}
        args: dict[str, Any] = {}
        for name, raw in flags:
            value = True if raw is None else resolve(raw, values, builtins)
            if value is not None:  # a value supplied only at deploy time (--var) cannot be checked here
                args[name.replace("-", "_")] = value
        try:
            Config.from_sources(args, env={})
        except ConfigError as exc:
            pytest.fail(f"{wheel_task.id} in target {target!r}: {exc} (arguments {args})")
