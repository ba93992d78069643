"""The catalog comment of every column of every table (applied by :mod:`medallion.tables.catalog`).

One comment per column name where the name means the same in every table; :data:`TABLE_COLUMN_COMMENTS`
holds the names whose meaning depends on the table. The contract's fields of ``silver.events`` take
the contract's own descriptions first. ``tests/test_registry.py`` fails when a column of a registry
table has no comment."""

from __future__ import annotations

_W = "in the 7 days ending on feature_date (feature_date - 6 .. feature_date, UTC)"

COLUMN_COMMENTS: dict[str, str] = {
    # --- bronze: the body and its source metadata ---
    "body": "The event body exactly as received (raw bytes, never parsed or altered); holds the user id.",
    "source": "Where the row came from: files, kafka or eventhubs.",
    "source_partition": "Event Hubs / Kafka partition (null for files).",
    "source_offset": "Kafka offset or Event Hubs sequence number within the partition (null for files).",
    "source_key": "Kafka key / Event Hubs partition key of the message, as received.",
    "enqueued_time": "Broker enqueue time (Event Hubs / Kafka), or the landing file's modification time.",
    "source_properties": "Event Hubs application properties / Kafka headers of the message.",
    "source_file": "Landing file the row was read from (files source only).",
    "ingestion_time": "When bronze ingested the row (UTC).",
    "ingestion_batch_id": "Structured Streaming micro-batch id that ingested the row.",
    "ingestion_date": "UTC date of ingestion_time; the bronze partition column (retention works on it).",
    # --- silver ---
    "event_ts": "Event time as a timestamp (UTC), from timestamp (epoch milliseconds).",
    "event_date": "UTC date of event_ts; the partition column.",
    "bronze_version": "Bronze table version (commit) that brought the row.",
    "processed_time": "When the silver run that inserted the row ran (UTC).",
    "reasons": "Every reason the row was rejected (contract rule it broke), at least one.",
    "contract_version": "Version of the event contract the row was validated against.",
    "quarantined_time": "When silver quarantined the row (UTC).",
    # --- gold ---
    "user_id": "Pseudonymous id of the user (personal data: links events to one person).",
    "video_id": "Id of the video.",
    "feature_date": "Date the features describe: the 7-day window ends on it; available from D+1 00:00 UTC.",
    "video_count_7d": f"Distinct videos the user watched {_W}.",
    "watch_count_7d": f"Watch events of the user {_W}.",
    "active_days_7d": f"Distinct event dates with any event of the user {_W}.",
    "last_event_ts": "Time of the user's latest event of any type up to the end of feature_date.",
    "view_count_7d": f"Watch events of the video {_W}.",
    "unique_viewers_7d": f"Distinct users who watched the video {_W}.",
    "avg_watch_time_7d": "watch_time_7d / watch events, in seconds; null when there was no watch.",
    "completion_ratio_7d": (
        "Share of the watched videos' length actually watched (watches with a known duration, each "
        "capped at 1); null when none has one."
    ),
    "online_store": "Online store the row was written to (redis://host:port/db or the embedded SQLite file).",
    # --- ops: runs and progress ---
    "run_id": "Id of the job run (the Databricks job run id, or a local uuid).",
    "layer": "Pipeline layer: bronze, silver, gold, maintenance or serving.",
    "tables": "Tables the run wrote or maintained (<layer>.<table>).",
    "input_range": "What the run read, e.g. bronze versions 3..7 or 4 new landing files.",
    "rows_in": "Rows the run read.",
    "rows_out": "Rows the run wrote.",
    "rows_quarantined": "Rows sent to silver.events_quarantine.",
    "rows_duplicates": "Rows dropped as duplicates of an event already seen.",
    "quality_score": "Share of the quality expectations that passed (0..1); null when no gate ran.",
    "started_time": "When the run started (UTC).",
    "duration_s": "Run duration in seconds.",
    "mlflow_run_id": "MLflow run that recorded the run's parameters and metrics.",
    "consumer": "Incremental consumer (job and source) the progress row belongs to.",
    "target_id": "Delta table id of the consumer's target table.",
    "start_version": "First source version of the range.",
    "end_version": "Last source version of the range.",
    "recorded_time": "When the row was recorded (UTC).",
    "bronze_start_version": "First bronze version the silver run read.",
    "bronze_end_version": "Last bronze version the silver run read.",
    "rows_read": "Bronze rows the silver run read.",
    "rows_inserted": "Events the silver run inserted into silver.events.",
    "duplicates_in_batch": "Rows dropped as duplicates within the batch.",
    "duplicates_existing": "Rows dropped because silver already had the event.",
    "duplicates_dropped": "All duplicate rows dropped (in batch + existing).",
    "event_dates": "Event dates the silver run touched (what gold recomputes).",
    "quarantine_reasons": "JSON object {reason: rows} of the rows the silver run quarantined.",
    # --- ops: quality ---
    "checked_at": "When the check ran (UTC).",
    "table_location": "Physical table: a folder locally, the Unity Catalog name on Databricks.",
    "suite": "Great Expectations suite(s) validated, comma separated.",
    "mode": "Gate mode: enforce (a failure stops the write), warn or off.",
    "success": "Whether every expectation passed; null when skipped.",
    "evaluated_expectations": "Expectations evaluated.",
    "successful_expectations": "Expectations that passed.",
    "failed_expectations": "Expectations that failed.",
    "alert": "quality_score below min_quality_score (the alert threshold).",
    "failed_expectation_names": "Names of the failed expectations.",
    "unexpected_percent": "Per row-level expectation, the % of rows that broke it.",
    "details": "JSON: every expectation's result and the batch metrics.",
    "duration_ms": "Duration in milliseconds.",
    # --- ops: maintenance ---
    "started_at": "When this table's maintenance began (UTC).",
    "engine": "Storage engine that ran it: delta-rs or spark-delta.",
    "outcome": "succeeded, failed, dry run or skipped: missing.",
    "zorder_by": "Z-order columns of the table's policy.",
    "liquid_clustering": "Whether the table uses liquid clustering instead of Z-order.",
    "retention_hours": "VACUUM retention in hours; null when the policy does not VACUUM.",
    "unsafe_retention": "VACUUM ran below the safe 168 hours (with the explicit override).",
    "files_before": "Data files of the current version before maintenance.",
    "bytes_before": "Bytes of those files before maintenance.",
    "files_after": "Data files of the current version after maintenance.",
    "bytes_after": "Bytes of those files after maintenance.",
    "partitions_optimized": "Partitions OPTIMIZE compacted.",
    "files_compacted": "Files OPTIMIZE removed (rewritten).",
    "files_written": "Files OPTIMIZE wrote.",
    "vacuum_files_deleted": "Unreferenced data files VACUUM deleted.",
    "properties_set": "JSON of the table properties the run changed.",
    "version_before": "Table version before maintenance.",
    "version_after": "Table version after maintenance.",
    "metadata_deferred": "JSON list of metadata statements not run on a streamed table (null: none).",
    "data_retention_days": "Bronze retention in days (null on other tables and when retention is off).",
    "partitions_deleted": "Bronze partitions past the retention this run deleted.",
    "rows_deleted": "Rows of those partitions (Delta's count of the DELETE).",
    "partitions_kept_unprocessed": "Partitions past the retention kept because silver has not read them.",
    # --- ops: landing files ---
    "file_path": "Landing file path.",
    "file_size": "Landing file size in bytes.",
    "file_modification_time": "Landing file modification time.",
    "lines": "Lines of the file = its bronze rows.",
    "stream_app_id": "Bronze stream (checkpoint) that read the file.",
    "problem": "unreadable, or modified_after_ingestion.",
    "detected_time": "When bronze found the problem (UTC).",
}

#: Columns whose meaning depends on the table: {<layer>.<table>: {column: comment}}.
TABLE_COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "gold.user_features": {
        "watch_time_7d": f"Seconds the user watched {_W}.",
        "like_count_7d": f"Like events of the user {_W}.",
        "share_count_7d": f"Share events of the user {_W}.",
        "comment_count_7d": f"Comment events of the user {_W}.",
    },
    "gold.video_features": {
        "watch_time_7d": f"Seconds the video was watched {_W}.",
        "like_count_7d": f"Like events on the video {_W}.",
        "share_count_7d": f"Share events of the video {_W}.",
        "comment_count_7d": f"Comment events on the video {_W}.",
    },
    "ops.runs": {
        "status": "succeeded or failed.",
        "error": "First line of the failure; null when the run succeeded.",
    },
    "ops.progress": {"status": "started (range claimed) or committed (written)."},
    "ops.quality_results": {
        "status": "passed, failed or skipped.",
        "layer": "Layer of the checked table.",
        "table_name": "Checked table (<layer>.<table>).",
    },
    "ops.maintenance_runs": {
        "layer": "Layer of the maintained table.",
        "table_name": "Maintained table (<layer>.<table>).",
        "error": "The failure, when outcome is failed.",
    },
    "ops.bad_files": {"error": "The error reading the file, or what changed."},
}
# the online snapshot tables describe the same features as gold
TABLE_COLUMN_COMMENTS["ops.online_user_features"] = TABLE_COLUMN_COMMENTS["gold.user_features"]
TABLE_COLUMN_COMMENTS["ops.online_video_features"] = TABLE_COLUMN_COMMENTS["gold.video_features"]
