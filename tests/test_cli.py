"""The console command and wheel entry points, run as real processes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from medallion.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("medallion") or str(Path(sys.executable).parent / "medallion")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, check=False)


def test_top_level_help_lists_every_command():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    for name in COMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help(command):
    proc = _run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: medallion " + command in proc.stdout


def test_local_help_documents_the_contract():
    out = _run("local", "--help").stdout
    assert "--events DIR" in out and "--root ROOT" in out


def test_bad_config_exits_2_with_clear_message(capsys):
    assert main(["bronze", "--source", "kafka", "--trigger", "whenever"]) == 2
    assert "configuration error" in capsys.readouterr().err


def test_unknown_choice_is_rejected_by_argparse():
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["bronze", "--source", "ftp"])
    assert info.value.code == 2


def test_wheel_entry_points_resolve_to_callables():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["medallion"] == "medallion.cli:main"
    import importlib

    for name, target in scripts.items():
        module, attr = target.split(":")
        assert callable(getattr(importlib.import_module(module), attr)), name
        if name != "medallion":
            assert name.removeprefix("medallion-") in COMMANDS


@pytest.mark.slow
def test_local_prints_no_third_party_info_at_the_default_log_level(tmp_path):
    """The run's own summary, not hundreds of Great Expectations / MLflow INFO lines: only
    medallion's own loggers log below WARNING (a real process, so logging is configured as in use)."""
    exe = Path(sys.executable).with_name("medallion")
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    done = subprocess.run(
        [str(exe), "local", "--root", str(tmp_path / "wh"), "--shuffle-partitions", "2"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "silver: bronze versions" in done.stdout and "gold:" in done.stdout  # the summary is there
    log_lines = [line for line in (done.stdout + done.stderr).splitlines() if " INFO " in line]
    assert log_lines, "the run's own INFO progress lines are missing"
    foreign = [line for line in log_lines if not re.search(r" INFO medallion(\.|:)", line)]
    assert not foreign, foreign[:5]
    assert "Calculating Metrics" not in done.stdout + done.stderr  # no progress bars either
