"""Feed and sitemap parsing: the reactor's CPU for a huge document before and after it moved to the
extraction worker, and what the trip to a worker costs a small one (issue #12).

In one process, on an asyncio event loop in the main thread (the daemon's reactor is one), the parse
step the spider runs on a route's response (spiders.routes.discover) is timed on:

  big feed      100,000 items, 7.9 MB, as the fault drill's (dates one minute apart, newest last)
  big sitemap   100,000 URLs with lastmod
  small feeds   the real 17 KB Hespress feed (10 items), a dense 17 KB one (160 short items), and
                the Hespress items repeated up to WORKER_PARSE_BYTES (what a feed costs the loop at
                the threshold)

Each way: "before", the whole document parsed on the loop's thread, as the spider did; "bounded", the
same with only the newest max_articles_per_route entries converted; "worker", sent to the warm
extraction worker (AnalysisPool.call), as the spider now does from WORKER_PARSE_BYTES on. Printed:
the loop thread's CPU, the process's CPU (all its threads: the pool's queue threads pickle too), the
worker's CPU, the wall time, and the longest the loop went without running a 10 ms ticker (how long
every other source waited).

Usage: python bench/feeds.py [--items 100000] [--limit 200] [--repeat 30]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HESPRESS = ROOT / "tests" / "fixtures" / "realdata" / "hespress_feed.xml"
TICK = 0.01  # the ticker's period: each tick costs the loop about 40 µs


def big_feed(items: int) -> bytes:
    """An RSS feed of short items, oldest first."""
    import datetime as dt

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    body = "".join(
        f"<item><title>{n}</title><link>https://x.ma/{n}</link>"
        f"<pubDate>{format_datetime(start + dt.timedelta(minutes=n))}</pubDate></item>"
        for n in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.ma/</link>{body}</channel></rss>'.encode()


def at_size(feed: bytes, size: int) -> bytes:
    """The feed with its items repeated (each with its own link) until it is `size` bytes."""
    head, _, rest = feed.partition(b"<item>")
    items, _, tail = rest.rpartition(b"</item>")
    items, body, n = b"<item>" + items + b"</item>", b"", 0
    while len(head) + len(body) + len(tail) < size:
        body += items.replace(b"</link>", f"?copy={n}</link>".encode())
        n += 1
    return head + body + tail


def big_sitemap(urls: int) -> bytes:
    body = "".join(
        f"<url><loc>https://x.ma/a/{n}</loc>"
        f"<lastmod>2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z</lastmod></url>"
        for n in range(urls)
    )
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'.encode()


def route(kind: str) -> object:
    from crawler.config import Route

    return Route(kind=kind, url="https://x.ma/feed")


async def measure(label: str, call: object, pool: object) -> dict:
    """Run `call` (a coroutine function) once, with a ticker on the loop; print and return figures."""
    gaps = [0.0]
    running = True

    async def tick() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            gaps.append(now - last - TICK)
            last = now

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.02)
    worker_before = await worker_cpu(pool)
    wall, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
    found = await call()
    wall, thread, process = (
        time.perf_counter() - wall,
        time.thread_time() - thread,
        time.process_time() - process,
    )
    worker = await worker_cpu(pool) - worker_before
    running = False
    await ticker
    figures = {
        "label": label,
        "entries": len(found.entries),
        "listed": found.listed,
        "loop_cpu_s": thread,
        "process_cpu_s": process,
        "worker_cpu_s": worker,
        "wall_s": wall,
        "longest_stall_s": max(gaps),
    }
    print(
        f"{label:<24} loop thread {thread:7.3f} s  process {process:7.3f} s  worker {worker:7.3f} s  "
        f"wall {wall:7.3f} s  longest stall {max(gaps):7.3f} s  "
        f"({found.listed} listed, {len(found.entries)} kept)",
        flush=True,
    )
    return figures


async def worker_cpu(pool: object) -> float:
    usage = await asyncio.wrap_future(pool.executor.submit(resource.getrusage, resource.RUSAGE_SELF))
    return usage.ru_utime + usage.ru_stime


async def small(label: str, body: bytes, limit: int, repeat: int, pool: object) -> None:
    """Median per parse of a small feed, here and in the worker."""
    from spiders.routes import discover

    args = (route("feed"), body, "https://x.ma/feed", {}, None, 50_000_000, limit)
    for where in ("here", "worker"):
        threads, walls = [], []
        for _ in range(repeat):
            wall, thread = time.perf_counter(), time.thread_time()
            if where == "here":
                discover(*args)
            else:
                await pool.call("feed", discover, *args)
            threads.append(time.thread_time() - thread)
            walls.append(time.perf_counter() - wall)
        print(
            f"{label + ', ' + where:<24} loop thread {statistics.median(threads) * 1000:7.2f} ms  "
            f"wall {statistics.median(walls) * 1000:7.2f} ms  "
            f"(median of {repeat}, {len(body) / 1024:.0f} KB)",
            flush=True,
        )


async def main(items: int, limit: int, repeat: int) -> None:
    from crawler.workers import AnalysisPool
    from spiders.routes import Discovery, discover
    from spiders.sources import WORKER_PARSE_BYTES

    pool = AnalysisPool(1)
    await pool.call("warm-up", len, b"")  # the worker is started and has imported everything
    await pool.call("warm-up", discover, route("feed"), HESPRESS.read_bytes(), "https://x.ma/feed", {})
    print(f"worker parse from {WORKER_PARSE_BYTES // 1024} KB on; max_articles_per_route {limit}", flush=True)
    try:

        async def idle() -> object:
            await asyncio.sleep(2)
            return Discovery()

        await measure("idle 2 s (the ticker)", idle, pool)
        for kind, body in (("feed", big_feed(items)), ("sitemap", big_sitemap(items))):
            args = (route(kind), body, "https://x.ma/feed", {}, None, 50_000_000)
            print(f"big {kind}: {items} items, {len(body) / 1e6:.1f} MB", flush=True)

            async def before(args: tuple = args) -> object:
                return discover(*args)

            async def bounded(args: tuple = args) -> object:
                return discover(*args, limit)

            async def worker(args: tuple = args, kind: str = kind) -> object:
                return await pool.call(kind, discover, *args, limit)

            await measure(f"{kind}, before", before, pool)
            await measure(f"{kind}, bounded", bounded, pool)
            await measure(f"{kind}, worker", worker, pool)
        await small("hespress", HESPRESS.read_bytes(), limit, repeat, pool)
        await small("dense", big_feed(160), limit, repeat, pool)
        await small(
            "real at threshold", at_size(HESPRESS.read_bytes(), WORKER_PARSE_BYTES), limit, repeat, pool
        )
    finally:
        pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=30)
    options = parser.parse_args()
    asyncio.run(main(options.items, options.limit, options.repeat))
