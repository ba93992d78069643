"""The wheel the bundle deploys: one top-level import name, every layer inside it, entry points
that resolve. Built exactly as databricks.yml's artifact does (an isolated PEP 517 build)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from configparser import ConfigParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("bronze", "silver", "gold", "quality", "maintenance")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # a copy of what the build reads, so the build's own build/ folder never lands in the checkout
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(source)]
    done = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    [whl] = out.glob("medallion-*.whl")
    return whl


def _read(whl: Path, suffix: str) -> str:
    with zipfile.ZipFile(whl) as z:
        [name] = [n for n in z.namelist() if n.endswith(suffix)]
        return z.read(name).decode()


@pytest.mark.slow
def test_wheel_has_one_top_level_name(wheel):
    assert _read(wheel, ".dist-info/top_level.txt").split() == ["medallion"]
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert roots == {"medallion"}
    for layer in LAYERS:  # the user's src/<layer>/ folders, installed as medallion.<layer>
        assert f"medallion/{layer}/__init__.py" in names
        module = "gate" if layer == "quality" else "job"
        assert f"medallion/{layer}/{module}.py" in names
    assert "medallion/contracts/event_v1.json" in names
    # the Feast feature repository ships with the wheel (feast -c <it> plan / apply)
    assert {
        "medallion/serving/feature_repo/feature_store.yaml",
        "medallion/serving/feature_repo/features.py",
    } <= set(names)


@pytest.mark.slow  # building the wheel takes about 4 s: the full tier's
def test_wheel_entry_points_name_modules_inside_the_wheel(wheel):
    entry_points = ConfigParser()
    entry_points.read_string(_read(wheel, ".dist-info/entry_points.txt"))
    scripts = dict(entry_points["console_scripts"])
    assert scripts["medallion"] == "medallion.cli:main"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for target in scripts.values():
        module = target.split(":")[0]
        assert module.replace(".", "/") + ".py" in names, target


def test_layers_are_not_importable_as_top_level_names():
    import importlib.util

    for layer in LAYERS:
        assert importlib.util.find_spec(layer) is None, f"{layer} is importable as a top-level name"
        assert importlib.util.find_spec(f"medallion.{layer}") is not None
