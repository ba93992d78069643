"""Benchmark: the online serving path and materialisation.

1. Builds gold with the real jobs (bronze, silver, gold; no gates) over ``--days`` days of synthetic
   events, then materialises it into a local Redis (a private ``redis-server`` on loopback, or
   ``--redis-url``): a *full* materialisation (timed: entities/s).
2. Lands one more day, runs bronze, silver and gold on it, and materialises again: an
   *incremental* materialisation (timed), reported as a ratio to the full one.
3. ``--lookups`` single-entity lookups of random users through the Feast SDK
   (``store.get_online_features``, the seed's real-time call) and through the HTTP endpoint of
   ``medallion serve`` (``GET /features/user/<id>``, one keep-alive connection): p50 / p95 / p99.

Targets (issue 15): SDK p99 under 10 ms and p50 under 2 ms; both paths reported.

    .venv/bin/python benchmarks/online.py                    # 10,000 lookups, 8 + 1 days
    .venv/bin/python benchmarks/online.py --redis-url redis://:PW@127.0.0.1:6379/0 --lookups 2000

The last lines are a Markdown table (with the command line and the machine) for RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shlex
import sys
import threading
import time
from pathlib import Path

from common import add_common_arguments, local_runtime, machine, scratch_root, session_for

from medallion.synthetic import SyntheticSpec, write_landing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {"p50": at(50), "p95": at(95), "p99": at(99), "mean": sum(ordered) / len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--videos", type=int, default=5_000)
    parser.add_argument("--events-per-day", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--redis-url", default=None, help="a running Redis (default: a private redis-server)")
    args = parser.parse_args()

    from medallion.bronze import job as bronze
    from medallion.gold import job as gold
    from medallion.serving import job as materialize
    from medallion.serving.lookup import app
    from medallion.serving.store import feature_store, online_target
    from medallion.silver import job as silver
    from redis_server import RedisServer, start_redis

    server: RedisServer | None = None
    url = args.redis_url
    if url is None:
        server = start_redis()
        url = server.url()
    spec = SyntheticSpec(
        seed=1, users=args.users, videos=args.videos, days=args.days + 1, events_per_day=args.events_per_day
    )
    with scratch_root(args.root, "medallion-online-", args.keep) as root:
        spark = session_for("medallion-online-benchmark", args)
        config, storage = local_runtime(spark, root / "wh", root / "landing", args, redis_url=url)
        write_landing(spec, root / "landing", days=range(args.days))
        for stage in (bronze, silver, gold):
            stage.run(config, spark, storage)
        started = time.monotonic()
        full = materialize.run(config, spark, storage)
        full_s = time.monotonic() - started
        write_landing(spec, root / "landing", days=[args.days])
        for stage in (bronze, silver, gold):
            stage.run(config, spark, storage)
        started = time.monotonic()
        incremental = materialize.run(config, spark, storage)
        incremental_s = time.monotonic() - started
        full_rows, incremental_rows = full.rows_written, incremental.rows_written

        target = online_target(config)
        store = feature_store(config, target)
        users = [
            r[0]
            for r in storage.read(config.table("gold", "user_features"))
            .select("user_id")
            .distinct()
            .collect()
        ]
        rng = random.Random(7)
        picks = [rng.choice(users) for _ in range(args.lookups)]
        refs = ["user_features:watch_time_7d", "user_features:video_count_7d"]
        for user in picks[:100]:  # warm-up: connections, registry cache
            store.get_online_features(features=refs, entity_rows=[{"user_id": user}])
        sdk = []
        for user in picks:
            t0 = time.perf_counter()
            store.get_online_features(features=refs, entity_rows=[{"user_id": user}]).to_dict()
            sdk.append((time.perf_counter() - t0) * 1000)

        import uvicorn

        web = uvicorn.Server(uvicorn.Config(app(store), host="127.0.0.1", port=0, log_level="error"))
        thread = threading.Thread(target=web.run, daemon=True)
        thread.start()
        while not web.started:
            time.sleep(0.05)
        port = web.servers[0].sockets[0].getsockname()[1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        http_ms = []
        for i, user in enumerate([*picks[:100], *picks]):
            t0 = time.perf_counter()
            conn.request("GET", f"/features/user/{user}")
            body = json.loads(conn.getresponse().read())
            if i >= 100:
                http_ms.append((time.perf_counter() - t0) * 1000)
            assert body["user_id"] == user
        web.should_exit = True
        thread.join(timeout=10)
        spark.stop()
    if server is not None:
        server.stop()

    sdk_p, http_p = percentiles(sdk), percentiles(http_ms)
    entities = sum(v.entities_active + v.inactive_written for v in full.views.values())
    print()
    print(f"command: {shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}")
    print(f"machine: {machine()}")
    print()
    print("| path | lookups | p50 ms | p95 ms | p99 ms | mean ms | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    met = "met" if sdk_p["p99"] < 10 and sdk_p["p50"] < 2 else "NOT met"
    print(
        f"| Feast SDK, Redis | {len(sdk):,} | {sdk_p['p50']:.2f} | {sdk_p['p95']:.2f} | {sdk_p['p99']:.2f} | "
        f"{sdk_p['mean']:.2f} | p99 < 10 ms, p50 < 2 ms: {met} |"
    )
    print(
        f"| HTTP endpoint, Redis | {len(http_ms):,} | {http_p['p50']:.2f} | {http_p['p95']:.2f} | "
        f"{http_p['p99']:.2f} | {http_p['mean']:.2f} | reported |"
    )
    print()
    print("| materialisation | rows written | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| full ({args.days} days of history) | {full_rows:,} | {full_s:.1f} | {full_rows / full_s:,.0f} |"
    )
    print(
        f"| incremental (one new day) | {incremental_rows:,} | {incremental_s:.1f} | "
        f"{incremental_rows / incremental_s:,.0f} |"
    )
    print(f"- incremental / full: x{incremental_s / full_s:.2f} of the time ({entities:,} entities served)")


if __name__ == "__main__":
    main()
