"""``medallion materialize``: push gold's latest feature values into the online store,
incrementally and idempotently.

A run, per feature view (one per gold feature table):

1. The online store is reached first (:func:`medallion.serving.store.check_online_store`): an
   unreachable Redis or a wrong password fails the run before the lake is touched.
2. ``gold_version`` = the gold table's current version; every gold read is pinned to it. Progress
   is a ``committed`` row of consumer ``medallion.serving.<view>`` in ``ops.progress``, per online
   store (target ``<store>|<gold table id>``: a second store starts with a full run): when it
   already names ``gold_version`` the view is up to date and nothing is read or written.
3. ``L`` = gold's latest feature date. The rows of L (``current``) are compared with the rows the
   online store was last given (``ops.online_<view>``, its rows of this store: ``served``) by the pure
   :func:`medallion.serving.plan.changed_rows`: new or changed rows, and an inactive row for
   every served entity no longer active in L's window. The first run, and ``--full-refresh``,
   compare against every entity gold has ever seen instead (a *full* materialisation).
4. Those rows are written to the online store; then this store's rows of ``ops.online_<view>``
   are replaced by ``current`` (one Delta commit, ``txn`` = (consumer, gold_version)); then
   progress is committed.

Crash safety: a run that dies after writing the online store but before replacing
``ops.online_<view>`` leaves ``served`` as it was, so the rerun computes and writes the same rows
again (online writes are upserts of whole entity rows); one that dies after the replace and before
the progress row finds nothing left to write. Either way the online store ends as a clean run
leaves it. The run is recorded in ``ops.runs`` and MLflow like every other job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from medallion.progress import ProgressLog
from medallion.runs import RunRecorder, recording
from medallion.secrets import SecretProvider
from medallion.serving.definitions import VIEWS, ViewSpec
from medallion.serving.plan import INACTIVE, changed_rows
from medallion.serving.store import OnlineTarget, check_online_store, feature_store, online_target
from medallion.storage import DeltaStorage, TableNotFoundError, Txn
from medallion.storage.quoting import quote_string
from medallion.tables import FEATURE_TABLES, ONLINE_TABLES, PROGRESS
from medallion.tables.schemas import ONLINE_STORE

if TYPE_CHECKING:
    import datetime as dt

    from pyspark.sql import SparkSession

    from medallion.config import Config

log = logging.getLogger(__name__)

FULL, INCREMENTAL, UP_TO_DATE, EMPTY = "full", "incremental", "up-to-date", "empty"
#: Rows handed to Feast per online write.
WRITE_BATCH_ROWS = 50_000


def consumer(view: ViewSpec) -> str:
    """The ``ops.progress`` consumer (and Delta ``txn`` application id) of a view's materialisation."""
    return f"medallion.serving.{view.name}"


@dataclass
class ViewRun:
    """What one run did for one feature view."""

    name: str
    mode: str
    gold_version: int | None = None
    previous_gold_version: int | None = None
    latest_feature_date: dt.date | None = None
    entities_active: int = 0
    rows_written: int = 0
    inactive_written: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "gold_version": self.gold_version,
            "previous_gold_version": self.previous_gold_version,
            "latest_feature_date": None
            if self.latest_feature_date is None
            else str(self.latest_feature_date),
            "entities_active": self.entities_active,
            "rows_written": self.rows_written,
            "inactive_written": self.inactive_written,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class MaterializeResult:
    online_store: str
    views: dict[str, ViewRun] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        return sum(v.rows_written for v in self.views.values())

    def summary(self) -> str:
        lines = [f"materialize: online store {self.online_store}, {self.seconds:.1f} s"]
        for v in self.views.values():
            lines.append(
                f"  {v.name}: {v.mode}, feature date {v.latest_feature_date or '-'} (gold version "
                f"{v.gold_version}), {v.entities_active} active entities, {v.rows_written} rows written "
                f"({v.inactive_written} now inactive)"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "online_store": self.online_store,
            "views": {n: v.as_dict() for n, v in self.views.items()},
            "rows_written": self.rows_written,
            "seconds": round(self.seconds, 3),
        }


def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    *,
    target: OnlineTarget | None = None,
    store: Any = None,
    recorder: RunRecorder | None = None,
    after_online_write: Callable[[str], None] | None = None,
) -> MaterializeResult:
    """Materialise every feature view (see the module docstring). ``after_online_write(view)`` is
    called between a view's online write and its commit (the tests crash a run there)."""
    started = time.monotonic()
    if target is None:
        secrets = SecretProvider.for_spark(spark, config.secret_scope, config.environment == "databricks")
        target = online_target(config, secrets)
    check_online_store(target)  # before anything else: a bad connection changes nothing
    result = MaterializeResult(target.where)
    with recording(recorder, "serving", [ONLINE_TABLES[t.name] for t in FEATURE_TABLES]) as job:
        job.params["full_refresh"] = config.full_refresh
        job.params["online_store"] = target.where
        try:
            progress = ProgressLog(storage, PROGRESS.location(config))
            progress.ensure()
            for spec in FEATURE_TABLES:
                view = VIEWS[spec.name]
                gold = spec.location(config)
                if storage.version(gold) is None:
                    raise TableNotFoundError(
                        f"materialize reads {gold}, which does not exist: run gold first"
                    )
                if store is None:
                    store = feature_store(config, target, apply=True)
                run_view = _materialize(
                    config, storage, progress, store, target, view, job.run_id, after_online_write
                )
                result.views[view.name] = run_view
                job.rows_in += run_view.entities_active
                job.rows_out += run_view.rows_written
        finally:
            result.seconds = time.monotonic() - started
            for name, v in result.views.items():
                job.params[f"{name}.mode"] = v.mode
                job.params[f"{name}.gold_version"] = v.gold_version
                job.params[f"{name}.latest_feature_date"] = str(v.latest_feature_date)
                job.metrics[f"rows_written_{name}"] = v.rows_written
                job.metrics[f"inactive_written_{name}"] = v.inactive_written
            job.metrics["rows_written"] = result.rows_written
            job.input_range = ", ".join(
                f"{n}@{v.gold_version}" for n, v in result.views.items() if v.gold_version is not None
            )
    log.info("%s", result.summary())
    return result


def _materialize(
    config: Config,
    storage: DeltaStorage,
    progress: ProgressLog,
    store: Any,
    target: OnlineTarget,
    view: ViewSpec,
    run_id: str,
    after_online_write: Callable[[str], None] | None,
) -> ViewRun:
    t0 = time.monotonic()
    gold = view.table.location(config)
    gold_version = storage.version(gold)
    assert gold_version is not None
    served_table = ONLINE_TABLES[view.name].create_if_missing(storage, config)
    # progress per online store: a second store (another Redis, the embedded one) starts in full
    target_id = f"{target.where}|{storage.table_id(gold)}"
    committed = progress.state(consumer(view), target_id).committed
    full = config.full_refresh or committed is None
    run_view = ViewRun(view.name, FULL if full else INCREMENTAL, gold_version, committed)
    if committed == gold_version and not full:
        run_view.mode = UP_TO_DATE
        run_view.seconds = time.monotonic() - t0
        return run_view
    from medallion.gold.job import latest_feature_date

    latest = latest_feature_date(storage, gold)
    run_view.latest_feature_date = latest
    if latest is None:
        run_view.mode = EMPTY
    else:
        current = storage.read(gold, where=f"feature_date = DATE'{latest.isoformat()}'", version=gold_version)
        current = current.persist()
        try:
            this_store = f"{ONLINE_STORE} = {quote_string(target.where)}"
            served = storage.read(served_table, where=this_store)
            if full:  # every entity gold has seen; the rows last served do not count
                every = storage.read(gold, version=gold_version).select(view.join_key)
                served = served.limit(0)
            else:
                every = None
            rows = changed_rows(current, served, view, latest, every).toPandas()
            run_view.entities_active = current.count()
            run_view.rows_written = len(rows)
            run_view.inactive_written = int(rows[INACTIVE].sum())
            rows = rows.drop(columns=[INACTIVE])
            for start in range(0, len(rows), WRITE_BATCH_ROWS):
                store.write_to_online_store(view.name, rows.iloc[start : start + WRITE_BATCH_ROWS])
            if after_online_write is not None:
                after_online_write(view.name)
            storage.replace_where(
                current.withColumn(ONLINE_STORE, F.lit(target.where)),
                served_table,
                this_store,
                txn=Txn(f"{consumer(view)}@{target_id}", gold_version),
            )
        finally:
            current.unpersist()
    start = 0 if committed is None else committed + 1
    progress.commit(consumer(view), target_id, min(start, gold_version), gold_version, run_id)
    run_view.seconds = time.monotonic() - t0
    log.info("materialize %s: %s", view.name, run_view.as_dict())
    return run_view
