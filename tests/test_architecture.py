"""The layers of the house, checked on the source: the core imports no layer and no application
module; a layer imports no application or deploy module; nothing a job runs imports deploy tooling.
Every import counts, also the ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LAYER_NAMES = ("bronze", "silver", "gold", "quality", "maintenance", "serving")
#: where each installed package lives (pyproject.toml maps the layer folders under medallion)
PACKAGE_DIRS = {
    "medallion": SRC / "medallion",
    **{f"medallion.{layer}": SRC / layer for layer in LAYER_NAMES},
}
LAYERS = tuple(f"medallion.{layer}" for layer in LAYER_NAMES)
APP = tuple(
    f"medallion.{m}"
    for m in (
        *("cli", "serving_cli", "demo", "integration", "synthetic", "preflight", "runlock", "runtime"),
        *("report", "report_cli"),
    )
)
DEPLOY = ("medallion.deploy",)
#: A module longer than this is doing more than one thing: split it along its seams.
MAX_MODULE_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            if package == "medallion" and parts and parts[0] in LAYER_NAMES:
                continue  # not a folder of src/medallion
            out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] in ("medallion", *LAYER_NAMES)}


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _kind(name: str) -> str:
    if _within(name, LAYERS):
        return "layer"
    if _within(name, APP):
        return "app"
    if _within(name, DEPLOY):
        return "deploy"
    return "core"


MODULES = _modules()


def test_the_module_walk_sees_every_package():
    assert {"medallion.config", "medallion.storage.base", "medallion.bronze.job", "medallion.cli"} <= set(
        MODULES
    )
    assert {_kind(m) for m in MODULES} == {"core", "layer", "app", "deploy"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_house(module):
    kind = _kind(module)
    imported = _imports(MODULES[module])
    assert not [i for i in imported if i.split(".")[0] != "medallion"], "a layer imported by a top-level name"
    forbidden = {
        "core": ("layer", "app", "deploy"),
        "layer": ("app", "deploy"),
        "app": (),
        "deploy": ("layer", "app"),
    }
    wrong = sorted(i for i in imported if _kind(i) in forbidden[kind] and i != module)
    assert not wrong, f"{module} ({kind}) imports {wrong}"


def test_modules_stay_small():
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
