"""The spot cluster policy (policies/medallion-jobs-spot.json), its sync to a workspace, and the
repository secret scan.

- the policy is a valid definition and every rule does what it claims (a compliant cluster passes,
  each broken rule yields exactly its violation);
- every job cluster the bundle declares (resources/*.yml, every target) complies, so adding a
  non-spot cluster fails this suite;
- ``medallion policies sync`` runs the real Databricks SDK over real HTTP against a local server that
  speaks the cluster-policies REST API (in-memory store, records every request);
- no credential literal is in any file git would commit.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from medallion.deploy import policies, secret_scan
from medallion.deploy.policies import (
    POLICY_NAME,
    PolicyError,
    check_bundle,
    check_cluster,
    evaluate_cluster,
    load_policy,
    sync_policy,
    validate_definition,
)

ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = ROOT / "policies" / f"{POLICY_NAME}.json"
POLICY = load_policy(POLICY_FILE)
TOKEN = "test-token-" + uuid.uuid4().hex  # unique, so "never printed" is a real assertion
API = "/api/2.0/policies/clusters"

#: A job cluster that follows every rule (the shape of the bundle's clusters).
COMPLIANT: dict[str, Any] = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "Standard_D4ds_v5",
    "autoscale": {"min_workers": 1, "max_workers": 4},
    "data_security_mode": "SINGLE_USER",
    "azure_attributes": {
        "availability": "SPOT_WITH_FALLBACK_AZURE",
        "first_on_demand": 1,
        "spot_bid_max_price": -1,
    },
    "custom_tags": {"project": "medallion", "layer": "bronze"},
}


def _cluster(**changes: Any) -> dict[str, Any]:
    """COMPLIANT with dotted-path changes; a value of ``...`` removes the attribute."""
    spec = copy.deepcopy(COMPLIANT)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return spec


def _paths(violations: list[str]) -> set[str]:
    return {v.split(":", 1)[0] for v in violations}


# --------------------------------------------------------------------------------------------------
# The policy file and the validator
# --------------------------------------------------------------------------------------------------


def test_policy_file_is_a_valid_definition():
    assert validate_definition(json.loads(POLICY_FILE.read_text())) == []


def test_policy_holds_the_rules_the_docs_promise():
    assert POLICY["cluster_type"] == {"type": "fixed", "value": "job"}
    assert POLICY["azure_attributes.availability"] == {"type": "fixed", "value": "SPOT_WITH_FALLBACK_AZURE"}
    assert POLICY["azure_attributes.spot_bid_max_price"] == {"type": "fixed", "value": -1}
    first = POLICY["azure_attributes.first_on_demand"]
    assert first["type"] == "range" and first["minValue"] == 1 and first["defaultValue"] == 1
    assert POLICY["autoscale.max_workers"]["maxValue"] == 8
    assert POLICY["num_workers"]["maxValue"] == 8
    allowed = {"Standard_D4ds_v5", "Standard_D8ds_v5", "Standard_E4ds_v5", "Standard_E8ds_v5"}
    assert set(POLICY["node_type_id"]["values"]) == allowed
    assert set(POLICY["driver_node_type_id"]["values"]) == allowed
    assert set(POLICY["data_security_mode"]["values"]) == {"SINGLE_USER", "USER_ISOLATION"}
    assert POLICY["custom_tags.project"] == {"type": "fixed", "value": "medallion"}
    layer = POLICY["custom_tags.layer"]
    assert set(layer["values"]) == {"bronze", "silver", "gold", "maintenance", "test"}
    assert not layer.get("isOptional") and "defaultValue" not in layer  # required, never guessed
    engine = POLICY["runtime_engine"]
    assert set(engine["values"]) == {"STANDARD", "PHOTON"} and engine["isOptional"] is True


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ([], "JSON object of rules"),
        ({}, "no rule"),
        ({"x": {"type": "required"}}, "unknown type 'required'"),
        ({"x": "fixed"}, "a rule is a JSON object"),
        ({"$comment": {"type": "unlimited"}}, "not an attribute path"),
        ({"x": {"type": "fixed"}}, "type fixed needs 'value'"),
        ({"x": {"type": "fixed", "value": 1, "isOptional": True}}, "does not take 'isOptional'"),
        ({"x": {"type": "fixed", "value": [1]}}, "value must be a string, number or boolean"),
        ({"x": {"type": "allowlist", "values": []}}, "non-empty list"),
        ({"x": {"type": "allowlist", "values": ["a", "a"]}}, "duplicates"),
        ({"x": {"type": "allowlist", "values": ["a"], "defaultValue": "b"}}, "breaks its own rule"),
        ({"x": {"type": "regex", "pattern": "("}}, "does not compile"),
        ({"x": {"type": "regex", "pattern": "a+", "defaultValue": "b"}}, "breaks its own rule"),
        ({"x": {"type": "range"}}, "needs 'minValue' and/or 'maxValue'"),
        ({"x": {"type": "range", "minValue": "1"}}, "minValue must be a number"),
        ({"x": {"type": "range", "minValue": 5, "maxValue": 1}}, "greater than maxValue"),
        ({"x": {"type": "range", "maxValue": 8, "defaultValue": 9}}, "above the maximum"),
        ({"x": {"type": "unlimited", "isOptional": "yes"}}, "isOptional must be true or false"),
        ({"x": {"type": "forbidden", "value": 1}}, "does not take 'value'"),
        ({"cluster_type": {"type": "fixed", "value": "jobs"}}, "not one of all-purpose, job, dlt"),
        ({"cluster_type": {"type": "regex", "pattern": "job"}}, "takes a fixed, allowlist or blocklist"),
    ],
)
def test_validator_rejects(definition, expected):
    errors = validate_definition(definition)
    assert any(expected in e for e in errors), errors


def test_load_policy_reports_bad_files(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_policy(tmp_path / "bad.json")
    (tmp_path / "invalid.json").write_text(json.dumps({"x": {"type": "range"}}))
    with pytest.raises(PolicyError, match="not a valid cluster policy definition"):
        load_policy(tmp_path / "invalid.json")


# --------------------------------------------------------------------------------------------------
# Every rule does what it claims
# --------------------------------------------------------------------------------------------------


def test_a_compliant_job_cluster_passes():
    assert check_cluster(POLICY, COMPLIANT) == []


@pytest.mark.parametrize(
    "spec",
    [
        _cluster(autoscale=..., num_workers=2),  # fixed size instead of autoscaling
        _cluster(driver_node_type_id="Standard_E8ds_v5", node_type_id="Standard_D8ds_v5"),
        _cluster(data_security_mode="USER_ISOLATION", custom_tags__layer="maintenance"),
        _cluster(azure_attributes__first_on_demand=3, spark_version="16.4.x-photon-scala2.12"),
        _cluster(spark_version="17.3.x-scala2.13", autotermination_minutes=30),
        _cluster(runtime_engine="PHOTON", node_type_id="Standard_E4ds_v5"),
        _cluster(runtime_engine="STANDARD", policy_id="ABC123", apply_policy_default_values=True),
    ],
)
def test_compliant_variants_pass(spec):
    assert check_cluster(POLICY, spec) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"azure_attributes__availability": "ON_DEMAND_AZURE"}, {"azure_attributes.availability"}),
        ({"azure_attributes__availability": "SPOT_AZURE"}, {"azure_attributes.availability"}),
        ({"azure_attributes__first_on_demand": 0}, {"azure_attributes.first_on_demand"}),
        ({"azure_attributes__spot_bid_max_price": 0.25}, {"azure_attributes.spot_bid_max_price"}),
        (
            {"azure_attributes": ...},
            {
                "azure_attributes.availability",
                "azure_attributes.first_on_demand",
                "azure_attributes.spot_bid_max_price",
            },
        ),
        ({"autoscale__max_workers": 9}, {"autoscale.max_workers"}),
        ({"autoscale__min_workers": 0}, {"autoscale.min_workers"}),
        ({"autoscale": ..., "num_workers": 12}, {"num_workers"}),
        ({"node_type_id": "Standard_NC24ads_A100_v4"}, {"node_type_id"}),
        ({"node_type_id": ...}, {"node_type_id"}),
        ({"driver_node_type_id": "Standard_E64ds_v5"}, {"driver_node_type_id"}),
        ({"instance_pool_id": "0101-120000-pool1"}, {"instance_pool_id"}),
        ({"driver_instance_pool_id": "0101-120000-pool1"}, {"driver_instance_pool_id"}),
        ({"custom_tags__project": ...}, {"custom_tags.project"}),
        ({"custom_tags__project": "other"}, {"custom_tags.project"}),
        ({"custom_tags__layer": ...}, {"custom_tags.layer"}),
        ({"custom_tags__layer": "adhoc"}, {"custom_tags.layer"}),
        ({"custom_tags": ...}, {"custom_tags.project", "custom_tags.layer"}),
        ({"data_security_mode": "NONE"}, {"data_security_mode"}),
        ({"data_security_mode": ...}, {"data_security_mode"}),
        ({"spark_version": "13.3.x-scala2.12"}, {"spark_version"}),
        ({"spark_version": "15.4.x-cpu-ml-scala2.12"}, {"spark_version"}),
        ({"spark_version": "x15.4.x-scala2.12"}, {"spark_version"}),  # the pattern is anchored
        ({"autotermination_minutes": 600}, {"autotermination_minutes"}),
        ({"runtime_engine": "NULL"}, {"runtime_engine"}),
    ],
)
def test_each_broken_rule_yields_exactly_its_violation(changes, expected):
    violations = check_cluster(POLICY, _cluster(**changes))
    assert _paths(violations) == expected, violations


def test_the_policy_is_for_job_clusters_only():
    assert check_cluster(POLICY, COMPLIANT, cluster_type="job") == []
    violations = check_cluster(POLICY, COMPLIANT, cluster_type="all-purpose")
    assert _paths(violations) == {"cluster_type"}


def test_violation_messages_say_what_is_wrong():
    (message,) = check_cluster(POLICY, _cluster(azure_attributes__availability="ON_DEMAND_AZURE"))
    assert "ON_DEMAND_AZURE" in message and "SPOT_WITH_FALLBACK_AZURE" in message
    (message,) = check_cluster(POLICY, _cluster(autoscale__max_workers=20))
    assert "above the maximum 8" in message


def test_apply_policy_values_fills_fixed_and_default_values_but_never_overrides():
    """Like apply_policy_default_values: omitted attributes get the policy's fixed/default values;
    a value that is set is judged as it is, and a required attribute without a default stays missing."""
    sparse = _cluster(azure_attributes=..., data_security_mode=..., custom_tags__project=...)
    assert _paths(check_cluster(POLICY, sparse)) == {
        "azure_attributes.availability",
        "azure_attributes.first_on_demand",
        "azure_attributes.spot_bid_max_price",
        "data_security_mode",
        "custom_tags.project",
    }
    assert check_cluster(POLICY, sparse, apply_policy_values=True) == []
    on_demand = _cluster(azure_attributes={"availability": "ON_DEMAND_AZURE"})
    assert _paths(check_cluster(POLICY, on_demand, apply_policy_values=True)) == {
        "azure_attributes.availability"
    }
    no_layer = _cluster(custom_tags__layer=...)
    assert _paths(check_cluster(POLICY, no_layer, apply_policy_values=True)) == {"custom_tags.layer"}


def test_unresolved_references_are_notes_not_violations():
    check = evaluate_cluster(POLICY, _cluster(node_type_id="${var.node_type_id}"))
    assert check.ok and check.violations == []
    assert any(n.startswith("node_type_id:") and "unresolved" in n for n in check.notes)


def test_wildcard_paths_match_list_items():
    definition = {"init_scripts.*.workspace.destination": {"type": "regex", "pattern": "/Shared/.*"}}
    ok = {"init_scripts": [{"workspace": {"destination": "/Shared/init.sh"}}]}
    bad = {"init_scripts": [ok["init_scripts"][0], {"workspace": {"destination": "/Users/me/x.sh"}}]}
    assert check_cluster(definition, ok) == []
    assert _paths(check_cluster(definition, bad)) == {"init_scripts.1.workspace.destination"}
    assert check_cluster(definition, {}) == []  # wildcard rules constrain present items only


def test_fixed_numbers_compare_numerically():
    assert check_cluster(POLICY, _cluster(azure_attributes__spot_bid_max_price=-1.0)) == []


# --------------------------------------------------------------------------------------------------
# The bundle's job clusters comply
# --------------------------------------------------------------------------------------------------


def test_every_job_cluster_of_the_bundle_complies():
    results = check_bundle(POLICY, ROOT)
    labels = [r.cluster.label for r in results]
    # non-vacuous: the bronze and pipeline clusters are found, for every target
    assert any("jobs.bronze." in label and "(target prod)" in label for label in labels), labels
    assert any("jobs.medallion_pipeline." in label for label in labels), labels
    assert {r.cluster.target for r in results} == {"dev", "staging", "prod"}
    # the prod override of the continuous bronze job is what was checked (driver + min workers on-demand)
    (prod_bronze,) = [r for r in results if r.cluster.job == "bronze" and r.cluster.target == "prod"]
    assert prod_bronze.cluster.new_cluster["azure_attributes"]["first_on_demand"] == 3
    assert prod_bronze.cluster.new_cluster["autoscale"]["min_workers"] == 2
    failures = {r.cluster.label: r.check.violations for r in results if not r.check.ok}
    assert failures == {}, "job clusters break the spot cluster policy:\n" + json.dumps(failures, indent=2)
    for result in results:  # variables were resolved: the spec is judged on real values
        flat = policies.flatten(result.cluster.new_cluster)
        left = {path: v for path, v in flat.items() if isinstance(v, str) and "${" in v}
        # only what exists at deploy time is left: the policy's id (a lookup) and the target name;
        # no rule of the policy governs either
        assert left == {"policy_id": "${var.cluster_policy_id}", "custom_tags.target": "${bundle.target}"}, (
            result.cluster.label
        )
        assert not set(left) & set(POLICY)


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    root.mkdir()
    shutil.copy(ROOT / "databricks.yml", root / "databricks.yml")
    shutil.copytree(ROOT / "resources", root / "resources")
    return root


def _write_yaml(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_non_spot_cluster_added_to_the_bundle_is_caught(bundle_copy):
    spec = _cluster(azure_attributes__availability="ON_DEMAND_AZURE", custom_tags__layer="gold")
    spec["node_type_id"] = "${var.node_type_id}"
    job = {"name": "adhoc", "tasks": [{"task_key": "t", "new_cluster": spec}]}
    _write_yaml(bundle_copy / "resources" / "adhoc.yml", {"resources": {"jobs": {"adhoc": job}}})
    bad = [r for r in check_bundle(POLICY, bundle_copy) if not r.check.ok]
    assert {r.cluster.label for r in bad} == {
        "resources/adhoc.yml jobs.adhoc.tasks[t].new_cluster (target dev)",
        "resources/adhoc.yml jobs.adhoc.tasks[t].new_cluster (target staging)",
        "resources/adhoc.yml jobs.adhoc.tasks[t].new_cluster (target prod)",
    }
    assert all(_paths(r.check.violations) == {"azure_attributes.availability"} for r in bad)


def test_target_variables_and_overrides_are_applied(bundle_copy):
    bundle = yaml.safe_load((bundle_copy / "databricks.yml").read_text())
    prod = bundle["targets"]["prod"]
    prod.setdefault("variables", {})["node_type_id"] = "Standard_F4s_v2"
    prod["resources"] = {
        "jobs": {
            "bronze": {
                "job_clusters": [
                    {"job_cluster_key": "bronze_cluster", "new_cluster": {"autoscale": {"max_workers": 16}}}
                ]
            }
        }
    }
    _write_yaml(bundle_copy / "databricks.yml", bundle)
    results = {(r.cluster.job, r.cluster.target): r.check for r in check_bundle(POLICY, bundle_copy)}
    assert all(check.ok for (job, target), check in results.items() if target == "dev")
    assert _paths(results[("bronze", "prod")].violations) == {"node_type_id", "autoscale.max_workers"}
    # the override merged into the cluster instead of replacing it
    assert _paths(results[("maintenance", "prod")].violations) == {"node_type_id"}
    only_dev = check_bundle(POLICY, bundle_copy, targets=["dev"])
    assert {r.cluster.target for r in only_dev} == {"dev"} and all(r.check.ok for r in only_dev)
    with pytest.raises(PolicyError, match="unknown target"):
        check_bundle(POLICY, bundle_copy, targets=["qa"])


def _medallion(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("medallion") or str(Path(sys.executable).parent / "medallion")
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=180, check=False, env=env, cwd=ROOT
    )


def test_cli_check_passes_on_the_bundle_and_fails_on_a_violation(bundle_copy):
    proc = _medallion("policies", "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid cluster policy definition" in proc.stdout and "0 break the policy" in proc.stdout

    bundle = yaml.safe_load((bundle_copy / "databricks.yml").read_text())
    bundle["targets"]["prod"].setdefault("variables", {})["spark_version"] = "13.3.x-scala2.12"
    _write_yaml(bundle_copy / "databricks.yml", bundle)
    proc = _medallion(
        "policies", "check", "--bundle-root", str(bundle_copy), "--policy-file", str(POLICY_FILE)
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL resources/bronze.yml jobs.bronze.job_clusters[bronze_cluster].new_cluster (target prod)" in (
        proc.stdout
    )
    assert "violation: spark_version: '13.3.x-scala2.12' does not match" in proc.stdout
    assert "FAILED" in proc.stderr


def test_cli_check_rejects_an_invalid_policy_and_a_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"custom_tags.layer": {"type": "required"}}))
    proc = _medallion("policies", "check", "--policy-file", str(bad))
    assert proc.returncode == 1 and "unknown type 'required'" in proc.stderr
    proc = _medallion("policies", "check", "--policy-file", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_policies_command_does_not_import_pyspark():
    code = (
        "import sys; from medallion.cli import main; rc = main(['policies', 'check']); "
        "sys.exit(rc or (3 if 'pyspark' in sys.modules else 0))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------------
# A local workspace that speaks the cluster-policies REST API
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None
    authorization: str | None


class FakeWorkspace:
    """http.server on 127.0.0.1 (ephemeral port) with an in-memory policy store.

    Implements what the SDK's ClusterPoliciesAPI sends (databricks/sdk/service/compute.py):
    GET list, GET get?policy_id=, POST create {name, definition, description}, POST edit
    {policy_id, name, definition, ...}; plus the SDK's host-metadata probe. Every /api call must
    carry ``Authorization: Bearer <token>``; ``definition`` must be a JSON document in a string.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.policies: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # shutdown() waits for the loop's next poll: 0.05 s instead of the default 0.5 s per test
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def seed(self, name: str, definition: str, **extra: Any) -> str:
        policy_id = uuid.uuid4().hex[:16].upper()
        self.policies[policy_id] = {"policy_id": policy_id, "name": name, "definition": definition, **extra}
        return policy_id

    def by_name(self, name: str) -> dict[str, Any]:
        (policy,) = [p for p in self.policies.values() if p["name"] == name]
        return policy

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests if r.path.startswith("/api/")]

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/api/") and r.method != "GET"]

    def _handle(
        self, method: str, raw_path: str, headers: Any, raw_body: bytes
    ) -> tuple[int, dict[str, Any]]:
        url = urlsplit(raw_path)
        body = json.loads(raw_body) if raw_body else None
        with self._lock:
            self.requests.append(
                Request(method, url.path, parse_qs(url.query), body, headers.get("Authorization"))
            )
            if url.path == "/.well-known/databricks-config" and method == "GET":
                return 200, {"workspace_id": "1234567890123456"}
            if not url.path.startswith("/api/"):
                return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no {url.path}"}
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
            route = (method, url.path)
            if route == ("GET", f"{API}/list"):
                listed = sorted(self.policies.values(), key=lambda p: p["name"])
                return 200, ({"policies": listed} if listed else {})
            if route == ("GET", f"{API}/get"):
                policy_id = parse_qs(url.query).get("policy_id", [""])[0]
                if policy_id not in self.policies:
                    return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{policy_id} not found"}
                return 200, self.policies[policy_id]
            if route == ("POST", f"{API}/create"):
                problem = self._invalid(body)
                if problem:
                    return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": problem}
                if any(p["name"] == body["name"] for p in self.policies.values()):
                    return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "name already exists"}
                extra = {"description": body["description"]} if "description" in body else {}
                return 200, {"policy_id": self.seed(body["name"], body["definition"], **extra)}
            if route == ("POST", f"{API}/edit"):
                problem = self._invalid(body)
                if problem:
                    return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": problem}
                if body.get("policy_id") not in self.policies:
                    return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such policy"}
                # edit replaces the policy's settings with the request's
                self.policies[body["policy_id"]] = dict(body)
                return 200, {}
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no {method} {url.path}"}

    @staticmethod
    def _invalid(body: dict[str, Any] | None) -> str | None:
        if not body or not isinstance(body.get("name"), str) or not body["name"]:
            return "name is required"
        if not isinstance(body.get("definition"), str):
            return "definition must be a JSON document in a string"
        try:
            parsed = json.loads(body["definition"])
        except json.JSONDecodeError:
            return "definition is not valid JSON"
        return None if isinstance(parsed, dict) else "definition must be a JSON object"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        workspace = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = workspace._handle(
                    self.command, self.path, self.headers, self.rfile.read(length) if length else b""
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler


@pytest.fixture
def workspace() -> Iterator[FakeWorkspace]:
    fake = FakeWorkspace(TOKEN)
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def _clean_env(home: Path) -> dict[str, str]:
    """The environment minus any Databricks/Azure credentials of the machine running the tests."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABRICKS_", "ARM_", "AZURE_", "MSI_", "IDENTITY_"))
    }
    env["HOME"] = str(home)
    env["DATABRICKS_CONFIG_FILE"] = str(home / "no-databrickscfg")
    return env


@pytest.fixture
def client(workspace, tmp_path, monkeypatch):
    clean = _clean_env(tmp_path)
    for key in set(os.environ) - set(clean):
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", clean["HOME"])
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", clean["DATABRICKS_CONFIG_FILE"])
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=workspace.url, token=TOKEN)


def test_first_sync_creates_the_policy(workspace, client):
    result = sync_policy(client, POLICY_NAME, POLICY)
    assert result.action == "created" and not result.dry_run
    assert workspace.calls() == [("GET", f"{API}/list"), ("POST", f"{API}/create")]
    (create,) = workspace.writes()
    assert create.body is not None and set(create.body) == {"name", "definition", "description"}
    assert create.body["name"] == POLICY_NAME
    assert isinstance(create.body["definition"], str) and json.loads(create.body["definition"]) == POLICY
    stored = workspace.by_name(POLICY_NAME)
    assert result.policy_id == stored["policy_id"] and json.loads(stored["definition"]) == POLICY
    assert all(r.authorization == f"Bearer {TOKEN}" for r in workspace.requests if r.path.startswith("/api/"))


def test_second_sync_is_unchanged_and_writes_nothing(workspace, client):
    first = sync_policy(client, POLICY_NAME, POLICY)
    workspace.requests.clear()
    second = sync_policy(client, POLICY_NAME, POLICY)
    assert (second.action, second.policy_id) == ("unchanged", first.policy_id)
    assert workspace.calls() == [("GET", f"{API}/list"), ("GET", f"{API}/get")]
    assert workspace.requests[-1].query == {"policy_id": [first.policy_id]}
    assert workspace.writes() == []


def test_definitions_compare_as_parsed_json(workspace, client):
    reordered = json.dumps(dict(reversed(list(POLICY.items()))), separators=(",", ":"))
    workspace.seed(POLICY_NAME, reordered, description=policies.DEFAULT_DESCRIPTION)
    assert sync_policy(client, POLICY_NAME, POLICY).action == "unchanged"
    assert workspace.writes() == []


def test_a_changed_definition_is_updated_with_an_edit(workspace, client):
    other = workspace.seed("Job Compute", json.dumps({"cluster_type": {"type": "fixed", "value": "job"}}))
    untouched = dict(workspace.policies[other])
    first = sync_policy(client, POLICY_NAME, POLICY)
    changed = copy.deepcopy(POLICY)
    changed["autoscale.max_workers"]["maxValue"] = 6
    workspace.requests.clear()

    result = sync_policy(client, POLICY_NAME, changed)
    assert (result.action, result.policy_id) == ("updated", first.policy_id)
    assert result.changed_rules == ("autoscale.max_workers",)
    assert workspace.calls() == [("GET", f"{API}/list"), ("GET", f"{API}/get"), ("POST", f"{API}/edit")]
    (edit,) = workspace.writes()
    assert edit.body["policy_id"] == first.policy_id and edit.body["name"] == POLICY_NAME
    assert json.loads(edit.body["definition"]) == changed
    assert edit.body["description"] == policies.DEFAULT_DESCRIPTION  # kept, not wiped by the edit
    assert json.loads(workspace.policies[first.policy_id]["definition"]) == changed
    assert workspace.policies[other] == untouched  # other policies are never touched
    assert sync_policy(client, POLICY_NAME, changed).action == "unchanged"


def test_dry_run_makes_no_write_calls(workspace, client):
    planned = sync_policy(client, POLICY_NAME, POLICY, dry_run=True)
    assert (planned.action, planned.policy_id, planned.dry_run) == ("created", None, True)
    assert workspace.writes() == [] and workspace.policies == {}

    created = sync_policy(client, POLICY_NAME, POLICY)
    changed = copy.deepcopy(POLICY)
    changed["custom_tags.layer"]["values"].append("sandbox")
    workspace.requests.clear()
    planned = sync_policy(client, POLICY_NAME, changed, dry_run=True)
    assert (planned.action, planned.policy_id) == ("updated", created.policy_id)
    assert planned.changed_rules == ("custom_tags.layer",)
    assert "would update" in planned.summary()
    assert workspace.writes() == []
    assert json.loads(workspace.policies[created.policy_id]["definition"]) == POLICY


def test_an_invalid_definition_is_never_sent(workspace, client):
    with pytest.raises(PolicyError, match="refusing to sync"):
        sync_policy(client, POLICY_NAME, {"num_workers": {"type": "range"}})
    assert workspace.calls() == []


@pytest.mark.slow
def test_cli_sync_authenticates_from_the_environment(workspace, tmp_path):
    env = _clean_env(tmp_path) | {"DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": TOKEN}
    proc = _medallion("policies", "sync", "--dry-run", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run: would create cluster policy 'medallion-jobs-spot'" in proc.stdout
    assert workspace.writes() == []

    proc = _medallion("policies", "sync", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    policy_id = workspace.by_name(POLICY_NAME)["policy_id"]
    assert f"created cluster policy 'medallion-jobs-spot' (policy_id {policy_id})" in proc.stdout
    assert f"workspace {workspace.url} (pat auth)" in proc.stdout

    proc = _medallion("policies", "sync", env=env)
    assert proc.returncode == 0 and "unchanged cluster policy 'medallion-jobs-spot'" in proc.stdout
    assert [m for m, _ in workspace.calls()].count("POST") == 1  # the one create
    api = [r for r in workspace.requests if r.path.startswith("/api/")]
    assert api and all(r.authorization == f"Bearer {TOKEN}" for r in api)
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_cli_sync_host_flag_and_a_changed_policy_file(workspace, tmp_path):
    changed = copy.deepcopy(POLICY)
    changed["azure_attributes.first_on_demand"]["defaultValue"] = 2
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(changed))
    policy_id = workspace.seed(POLICY_NAME, json.dumps(POLICY))
    env = _clean_env(tmp_path) | {"DATABRICKS_TOKEN": TOKEN}
    proc = _medallion("policies", "sync", "--host", workspace.url, "--policy-file", str(policy_file), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "updated cluster policy 'medallion-jobs-spot'" in proc.stdout
    assert "rules changed: azure_attributes.first_on_demand" in proc.stdout
    assert json.loads(workspace.policies[policy_id]["definition"]) == changed
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_cli_sync_fails_cleanly_on_a_rejected_token(workspace, tmp_path):
    wrong = "wrong-" + uuid.uuid4().hex
    env = _clean_env(tmp_path) | {"DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": wrong}
    proc = _medallion("policies", "sync", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED" in proc.stderr and "Invalid access token" in proc.stderr
    assert wrong not in proc.stdout + proc.stderr
    assert workspace.policies == {} and workspace.writes() == []


def test_cli_sync_without_credentials_is_a_configuration_error(tmp_path):
    proc = _medallion("policies", "sync", "--dry-run", env=_clean_env(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot authenticate to the Databricks workspace" in proc.stderr


# --------------------------------------------------------------------------------------------------
# Secret scan
# --------------------------------------------------------------------------------------------------


def _planted() -> dict[str, str]:
    """Credential-shaped lines built at runtime (no literal in this file), by expected kind."""
    key = secrets.token_urlsafe(33).replace("-", "+").replace("_", "/")
    return {
        "event-hubs/service-bus SAS key": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;"
        + "SharedAccessKey="
        + key,
        "storage account key": "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + key + key,
        "SAS token signature": "https://x.blob.core.windows.net/c?sv=2022-11-02&sig=" + key,
        "Databricks personal access token": "token: " + "dapi" + secrets.token_hex(16),
        "Entra ID client secret": "secret " + "abc" + "8Q~" + secrets.token_hex(16)[:32],
        "private key": "-----BEGIN " + "RSA PRIVATE" + " KEY-----",
        "AWS access key id": "aws = " + "AKIA" + "Q3" + "ZZ7" * 4 + "KP",
        "hard-coded password/secret": "password = " + '"' + "Tr0ub4dor" + secrets.token_hex(4) + '"',
    }


def test_the_repository_holds_no_credential_literal():
    files = secret_scan.repo_files(ROOT)
    assert (
        "src/medallion/deploy/secret_scan.py" in files and "tests/test_policies.py" in files
    )  # untracked too
    findings = secret_scan.scan_paths(ROOT, files)
    assert findings == [], "credential literals found:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize("kind", sorted(_planted()))
def test_the_scanner_flags_a_planted_credential(kind, tmp_path):
    line = _planted()[kind]
    planted = tmp_path / "settings.env"
    planted.write_text(f"# config\n{line}\n")
    findings = secret_scan.scan_file(planted, "settings.env")
    assert [(f.path, f.line, f.kind) for f in findings] == [("settings.env", 2, kind)]
    secret_part = line.split("=", 1)[-1].strip('"')[-12:]
    assert secret_part not in str(findings[0])  # the finding is redacted


@pytest.mark.parametrize(
    "line",
    [
        "CONN = 'Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc+/='",
        "SharedAccessKey=<your-key-here>",
        'f\'username="$ConnectionString" password="{connection_string}";\'',
        'password: "${EVENTHUBS_PASSWORD}"',
        'password = "changeme-please"',
        "client_secret = secrets.get(config.client_secret_key)",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "dapi_token_name = 'databricks-pat'",
    ],
)
def test_the_scanner_ignores_placeholders(line):
    assert secret_scan.scan_text(line) == []


def test_scan_repo_covers_tracked_and_untracked_but_not_ignored_files(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    lines = _planted()
    (repo / ".gitignore").write_text("local.env\n")
    (repo / "tracked.yml").write_text(lines["Databricks personal access token"] + "\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=repo, check=True)
    (repo / "new.py").write_text(lines["AWS access key id"] + "\n")  # untracked, not ignored
    (repo / "local.env").write_text(lines["private key"] + "\n")  # ignored: never committed
    found = {(f.path, f.kind) for f in secret_scan.scan_repo(repo)}
    assert found == {
        ("tracked.yml", "Databricks personal access token"),
        ("new.py", "AWS access key id"),
    }

    proc = subprocess.run(
        [sys.executable, "-m", "medallion.deploy.secret_scan", str(repo)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1 and "tracked.yml:1: Databricks personal access token" in proc.stdout
    assert lines["Databricks personal access token"].split()[-1] not in proc.stdout
    (repo / "tracked.yml").write_text("token: {{secrets/medallion/pat}}\n")
    (repo / "new.py").unlink()
    assert secret_scan.main([str(repo)]) == 0
