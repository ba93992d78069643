"""Every failure explained: each way a command can fail ends with one sentence that says what is
wrong and what to do, the right exit code (2 usage, 1 runtime), no traceback (Python or Java) unless
``--log-level DEBUG``, and - for a failed precondition - nothing changed under ``--root``.

The commands run in-process (``medallion.cli.main``) on the suite's Spark session; one test runs
the real console script to see the JVM's own stderr. Warehouses with tables are built once per
module and engine (a bronze run over the packaged sample events) and copied per test.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from medallion.cli import main
from medallion.config import Config, ConfigError
from medallion.tables import RUNS

SAMPLE_EVENTS = Path(__file__).resolve().parents[1] / "src" / "medallion" / "sample_events"


# --- helpers ---------------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every file (size, mtime) and folder under root: what 'nothing changed' compares."""
    out: dict[str, tuple[int, int] | None] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            out[rel + "/"] = None
        else:
            st = path.stat()
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text, text
    assert "\tat " not in text, text
    return code, captured.err


def failed_line(err: str, command: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith(f"medallion {command}: ")]
    assert len(lines) == 1, err
    return lines[0]


# --- preconditions: usage errors, nothing changed ---------------------------------------------------
@pytest.mark.parametrize(("command", "flag"), [("local", "--events"), ("bronze", "--events-dir")])
def test_missing_events_folder_is_a_usage_error_and_creates_nothing(capsys, tmp_path, command, flag):
    root = tmp_path / "warehouse"
    missing = tmp_path / "no-such-landing"
    code, err = run(capsys, command, flag, str(missing), "--root", str(root))
    assert code == 2
    line = failed_line(err, command)
    assert f"{flag} {missing}" in line and "no such folder" in line and "check the path" in line
    assert not root.exists()  # no bronze/ folder, no _checkpoints, no lock file


@pytest.mark.parametrize(("command", "flag"), [("local", "--events"), ("bronze", "--events-dir")])
def test_events_pointing_at_a_file_is_a_usage_error(capsys, tmp_path, command, flag):
    root = tmp_path / "warehouse"
    root.mkdir()
    landing_file = tmp_path / "events.jsonl"
    landing_file.write_text('{"event_id": "e1"}\n')
    before = snapshot(root)
    code, err = run(capsys, command, flag, str(landing_file), "--root", str(root))
    assert code == 2
    line = failed_line(err, command)
    assert f"{flag} {landing_file} is a file, not a folder" in line and str(tmp_path) in line
    assert snapshot(root) == before == {}


def test_root_pointing_at_a_file_is_a_usage_error(capsys, tmp_path):
    root = tmp_path / "warehouse.txt"
    root.write_text("not a warehouse")
    code, err = run(capsys, "local", "--root", str(root))
    assert code == 2
    assert f"--root {root} is a file, not a folder" in failed_line(err, "local")
    assert root.read_text() == "not a warehouse"


def test_root_under_a_file_names_the_file(capsys, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    root = blocker / "warehouse"
    code, err = run(capsys, "silver", "--root", str(root))
    assert code == 2
    line = failed_line(err, "silver")
    assert f"--root {root} cannot be created: {blocker} is a file" in line and "Not a directory" in line


def _unwritable_root() -> Path:
    """A folder even uid 0 cannot create files in (a kernel file system), found by trying."""
    import tempfile

    for candidate in (Path("/proc/1/fdinfo"), Path("/sys")):
        try:
            fd, probe = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(fd)
        os.unlink(probe)
    pytest.skip("no unwritable folder on this machine")


@pytest.mark.parametrize("below", [False, True], ids=["root", "new-folder-in-it"])
def test_unwritable_root_is_a_usage_error_naming_the_os_reason(capsys, below):
    base = _unwritable_root()
    root = base / "medallion-warehouse" if below else base
    code, err = run(capsys, "local", "--root", str(root))
    assert code == 2
    line = failed_line(err, "local")
    assert f"--root {root}" in line and "Permission denied" in line, line
    assert "use a folder this user can write" in line


@pytest.mark.parametrize("value", ["0", "-3"])
def test_shuffle_partitions_must_be_positive(capsys, tmp_path, monkeypatch, value):
    root = tmp_path / "warehouse"
    code, err = run(capsys, "local", "--shuffle-partitions", value, "--root", str(root))
    assert code == 2
    assert f"shuffle_partitions={value}" in failed_line(err, "local") and "positive" in err
    monkeypatch.setenv("MEDALLION_SHUFFLE_PARTITIONS", value)
    code, err = run(capsys, "gold", "--root", str(root))
    assert code == 2 and "MEDALLION_SHUFFLE_PARTITIONS" in err
    assert not root.exists()


def test_unknown_log_level_is_a_usage_error_from_flag_and_environment(capsys, tmp_path, monkeypatch):
    root = tmp_path / "warehouse"
    code, err = run(capsys, "local", "--log-level", "LOUD", "--root", str(root))
    assert code == 2
    line = failed_line(err, "local")
    assert "'LOUD'" in line and "DEBUG, INFO, WARNING, ERROR, CRITICAL" in line
    monkeypatch.setenv("MEDALLION_LOG_LEVEL", "chatty")
    code, err = run(capsys, "silver", "--root", str(root))
    assert code == 2 and "'chatty'" in err and "MEDALLION_LOG_LEVEL" in err
    assert not root.exists()
    assert Config(log_level="debug").log_level == "debug"  # any case is fine
    with pytest.raises(ConfigError):
        Config.from_sources({}, env={"MEDALLION_LOG_LEVEL": "LOUD"})


@pytest.mark.parametrize("kind", ["missing", "empty", "unrelated"])
def test_maintenance_on_a_root_without_a_warehouse_is_a_usage_error(capsys, tmp_path, kind):
    root = tmp_path / "typo"
    if kind != "missing":
        root.mkdir()
    if kind == "unrelated":
        (root / "notes.txt").write_text("hello")
    before = snapshot(root)
    code, err = run(capsys, "maintenance", "--root", str(root))
    assert code == 2
    line = failed_line(err, "maintenance")
    assert f"--root {root}" in line and "no medallion warehouse is there" in line
    assert snapshot(root) == before
    assert root.exists() == (kind != "missing")


def test_maintenance_on_databricks_keeps_skipping_missing_tables():
    from medallion.preflight import preflight

    preflight(Config(environment="databricks", root="/no/such/root"), "maintenance")  # no error


def test_help_documents_the_exit_codes():
    from medallion.cli import build_parser

    text = build_parser().format_help()
    assert "exit codes:" in text and "usage error" in text and "--log-level DEBUG" in text


# --- the root lock ---------------------------------------------------------------------------------
def _hold_lock(root: Path, pid: int, command: str):
    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / ".medallion.lock", "a+")  # noqa: SIM115 - held for the test
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.truncate(0)
    handle.write(json.dumps({"pid": pid, "command": command, "started": "2026-01-01T00:00:00+00:00"}))
    handle.flush()
    return handle


def test_second_run_on_a_locked_root_fails_at_once_naming_the_first(capsys, tmp_path):
    root = tmp_path / "warehouse"
    handle = _hold_lock(root, 4242, "local")
    try:
        before = snapshot(root)
        code, err = run(capsys, "silver", "--root", str(root))
        assert code == 1
        line = failed_line(err, "silver")
        assert "FAILED: another medallion run (pid 4242, command local, started at 2026-01-01" in line
        assert f"is using root {root}" in line and "wait for it to finish" in line
        assert "released when a process dies" in line
        assert snapshot(root) == before
        # --log-level DEBUG adds the traceback
        assert main(["gold", "--root", str(root), "--log-level", "DEBUG"]) == 1
        assert "Traceback" in capsys.readouterr().err
    finally:
        handle.close()


def test_lock_held_by_another_process_and_released_when_it_dies(tmp_path):
    """A real second process holds the lock; once it is killed the lock is free again."""
    from medallion.runlock import RootLockedError, root_lock

    root = tmp_path / "warehouse"
    config = Config(environment="local", root=str(root))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from medallion.config import Config; from medallion.runlock import root_lock\n"
            f"with root_lock(Config(environment='local', root={str(root)!r}), 'bronze'):\n"
            "    print('locked', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RootLockedError) as info, root_lock(config, "silver"):
            pass
        assert f"pid {holder.pid}, command bronze" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    with root_lock(config, "silver") as path:  # the kernel released it with the process
        assert json.loads(path.read_text())["command"] == "silver"


def test_no_lock_on_databricks():
    from medallion.runlock import root_lock

    with root_lock(Config(environment="databricks"), "bronze") as path:
        assert path is None


# --- unexpected failures: one line, no traceback ----------------------------------------------------
def test_any_other_failure_is_one_line_without_traceback(capsys, tmp_path, monkeypatch):
    import medallion.runtime

    def boom(config):
        raise RuntimeError("the disk controller said no\n  detail line\n  another")

    monkeypatch.setattr(medallion.runtime, "spark_and_storage", boom)  # what every stage command starts with
    code, err = run(capsys, "gold", "--root", str(tmp_path / "w"))
    assert code == 1
    assert failed_line(err, "gold") == "medallion gold: FAILED: RuntimeError: the disk controller said no"
    assert main(["gold", "--root", str(tmp_path / "w"), "--log-level", "debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_os_errors_are_explained():
    import errno

    from medallion.failures import explain

    full = OSError(errno.ENOSPC, "No space left on device", "/data/w/silver/events/part-1.parquet")
    assert "no space left on the device /data/w/silver/events/part-1.parquet" in explain(full)
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/w/_checkpoints")
    assert "permission denied /data/w/_checkpoints" in explain(denied)
    assert len(explain(RuntimeError("x" * 5000))) < 450


# --- concurrent commits: ConcurrentWriteError on both engines ---------------------------------------
def test_delta_rs_commit_conflict_is_a_concurrent_write_error(tmp_path):
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from medallion.storage import ConcurrentWriteError, StorageError
    from medallion.storage.engine_errors import delta_rs_errors

    table = str(tmp_path / "t")
    write_deltalake(table, pa.table({"a": [1, 2, 3]}))
    first, second = DeltaTable(table), DeltaTable(table)  # two writers read version 0
    first.delete("a = 1")
    with pytest.raises(ConcurrentWriteError) as info, delta_rs_errors("merge", table):
        second.delete("a = 1")  # the other writer committed a conflicting delete first
    assert isinstance(info.value, StorageError)
    text = str(info.value)
    assert f"merge on {table} was not committed: another writer committed to the table first" in text
    assert "Nothing of this run's write was committed" in text and "rerun" in text


def test_spark_delta_conflicts_are_concurrent_write_errors(spark):
    from delta.exceptions import ConcurrentAppendException

    from medallion.config import Config
    from medallion.storage import ConcurrentWriteError, get_storage

    storage = get_storage(spark, Config(environment="local", engine="spark-delta"))
    conflict = ConcurrentAppendException(
        message="[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added to the root "
        "of the table by a concurrent update. Please try the operation again."
    )
    with pytest.raises(ConcurrentWriteError) as info, storage._native_errors("append", "/w/bronze/events"):
        raise conflict
    assert "append on /w/bronze/events was not committed: another writer committed" in str(info.value)


def test_checkpoint_conflict_is_explained():
    from pyspark.errors import PySparkException

    from medallion.failures import explain

    exc = PySparkException(
        message="[CONCURRENT_STREAM_LOG_UPDATE] Concurrent update to the log. Multiple streaming jobs "
        "detected for 3.",
        errorClass="CONCURRENT_STREAM_LOG_UPDATE",
    )
    text = explain(exc, checkpoints=["/w/_checkpoints/bronze_events"])
    assert text.startswith("another run is using the streaming checkpoint /w/_checkpoints/bronze_events")


# --- corrupt tables and checkpoints (real warehouses, both engines) ---------------------------------
@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("landing")
    for f in SAMPLE_EVENTS.iterdir():
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def bronze_warehouse(spark, landing, tmp_path_factory):
    """build(engine) -> a warehouse after one bronze run over the landing folder (built once)."""
    built: dict[str, Path] = {}

    def build(engine: str) -> Path:
        if engine not in built:
            root = tmp_path_factory.mktemp(f"bronze-{engine}")
            argv = ["bronze", "--events-dir", str(landing), "--root", str(root), "--engine", engine]
            assert main([*argv, "--shuffle-partitions", "2", "--log-level", "WARNING"]) == 0
            built[engine] = root
        return built[engine]

    return build


def _copy(base: Path, tmp_path: Path) -> Path:
    root = tmp_path / "warehouse"
    shutil.copytree(base, root)
    return root


def _garble(path: Path, mode: str) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if mode == "truncated" else b"{\x00 garbage" + data[40:])
    if mode == "garbled":  # as on cloud storage: no Hadoop checksum file next to it
        crc = path.with_name(f".{path.name}.crc")
        if crc.exists():
            crc.unlink()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["truncated", "garbled"])
def test_corrupt_delta_log_names_the_table_and_the_runbook(capsys, engine, bronze_warehouse, tmp_path, mode):
    root = _copy(bronze_warehouse(engine), tmp_path)
    table = root / "bronze" / "events"
    log_file = table / "_delta_log" / "00000000000000000001.json"
    _garble(log_file, mode)
    before = snapshot(root)
    argv = ["quality", "--layer", "bronze", "--table", "events", "--root", str(root), "--engine", engine]
    code, err = run(capsys, *argv)
    assert code == 1
    line = failed_line(err, "quality")
    assert f"FAILED: the Delta log of table {table} is unreadable" in line, line
    assert "corrupt or truncated" in line
    assert 'docs/runbook.md, "Recover a table whose Delta log is corrupt"' in line
    if engine == "spark-delta":  # Spark names the file; delta-rs does not
        assert str(log_file) in line
    assert snapshot(root) == before


@pytest.mark.slow
@pytest.mark.parametrize("target", ["offsets/0", "commits/0", "metadata"])
def test_corrupt_checkpoint_names_the_folder_and_the_runbook(
    capsys, bronze_warehouse, landing, tmp_path, target
):
    root = _copy(bronze_warehouse("delta-rs"), tmp_path)
    checkpoint = root / "_checkpoints" / "bronze_events"
    _garble(checkpoint / target, "garbled")
    # A new file: with nothing new the stream is not started, so its checkpoint is not read; the
    # first run with something to read finds the damage.
    events = tmp_path / "events"
    shutil.copytree(landing, events)
    shutil.copy(next(p for p in sorted(landing.iterdir()) if p.is_file()), events / "new.jsonl")
    before = snapshot(root)
    code, err = run(capsys, "bronze", "--events-dir", str(events), "--root", str(root))
    assert code == 1
    line = failed_line(err, "bronze")
    assert f"FAILED: the streaming checkpoint {checkpoint} is unreadable" in line, line
    assert 'docs/runbook.md, "Recover a corrupted streaming checkpoint"' in line
    after = snapshot(root)
    after.pop(".medallion.lock", None)  # the lock file is a new file of a run that started
    before.pop(".medallion.lock", None)
    # and the failed run's record: its ops.runs row (and MLflow run) says what failed
    recorded = {p for p in set(after) ^ set(before) if p.startswith("ops/runs/")}
    recorded |= {p for p in after if p == "ops/mlflow.db" and after[p] != before.get(p)}
    assert {p: v for p, v in after.items() if p not in recorded} == {
        p: v for p, v in before.items() if p not in recorded
    }
    config = Config(environment="local", root=str(root), engine="delta-rs")
    runs = DeltaTable(RUNS.location(config)).to_pyarrow_table().to_pylist()  # a Delta reader
    (failed,) = [r for r in runs if r["status"] == "failed"]
    assert failed["layer"] == "bronze" and "streaming checkpoint" in failed["error"], failed


@pytest.mark.slow
def test_no_java_stack_trace_on_stderr_of_a_real_process(bronze_warehouse, landing, tmp_path):
    """The console script itself: the JVM's log4j output must not dump Java frames either."""
    root = _copy(bronze_warehouse("delta-rs"), tmp_path)
    _garble(root / "_checkpoints" / "bronze_events" / "metadata", "garbled")
    events = tmp_path / "events"  # with a new file: a run with nothing new does not open the checkpoint
    shutil.copytree(landing, events)
    shutil.copy(next(p for p in sorted(landing.iterdir()) if p.is_file()), events / "new.jsonl")
    exe = Path(sys.executable).parent / "medallion"
    proc = subprocess.run(
        [str(exe), "bronze", "--events-dir", str(events), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "\tat " not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "FAILED: the streaming checkpoint" in proc.stderr
