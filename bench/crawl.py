"""Crawl benchmark: the full Veille pipeline against a bare Scrapy spider on the same local site.

A generated news site of 2,000 articles (real Moroccan article text, realistic page chrome) is served
on 127.0.0.1 by tests/miniweb.py, behind a news sitemap index. In the same run, each phase runs in its
own child process (a Twisted reactor starts once per process) and reports its crawl time, measured
inside the process, and its peak RSS:

  bare    a Scrapy spider that fetches the sitemaps and every article page and does nothing else
  floor   the same spider handing each page to worker processes that only run trafilatura and
          insert the text into SQLite with FTS5 (bench/floor_spider.py): a lower bound of what
          any archive of searchable full text costs on this machine
  full    the crawl machinery (`veille crawl`): discovery, dedupe lookups, extraction in a worker
          process, language, MinHash, batched storage
  second  a second cycle in the same process, as the daemon runs it: nothing new, so only
          robots.txt and conditional GETs (304)

Usage: python bench/crawl.py [--articles 2000] [--concurrency 8] [--workers 1]
"""

from __future__ import annotations

import argparse
import html
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REAL = ROOT / "tests" / "fixtures" / "realdata" / "thevoice_articles.json"
PER_SITEMAP = 1000


def paragraphs() -> list[str]:
    """Real Arabic paragraphs (thevoice.ma) to build article bodies from."""
    articles = json.loads(REAL.read_text("utf-8"))
    return [p.strip() for a in articles for p in a["content"].split("\n") if len(p.strip()) > 120]


def article_page(n: int, title: str, body: list[str], related: list[str]) -> str:
    """A page shaped like a WordPress news article: nav, JSON-LD, body, sidebar, footer."""
    nav = "".join(f'<li><a href="/cat/{i}/">قسم {i}</a></li>' for i in range(40))
    side = "".join(
        f'<li><a href="/a/{(n + i) % 97}.html">{html.escape(t)}</a></li>' for i, t in enumerate(related)
    )
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in body)
    day = 1 + n % 28
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": f"2026-11-{day:02d}T10:{n % 60:02d}:00+01:00",
            "author": {"@type": "Person", "name": "هسبريس"},
        },
        ensure_ascii=False,
    )
    return (
        f'<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f'<title>{html.escape(title)} - موقع</title><script type="application/ld+json">{ld}</script>'
        f'<link rel="canonical" href="{{{{BASE}}}}/a/{n}.html"></head><body>'
        f"<header><nav><ul>{nav}</ul></nav></header><main><article><h1>{html.escape(title)}</h1>"
        f'<div class="article-content">{paras}</div></article>'
        f"<aside><h3>الأكثر قراءة</h3><ul>{side}</ul></aside></main>"
        f"<footer><p>جميع الحقوق محفوظة</p>{nav}</footer></body></html>"
    )


def build_site(root: Path, count: int) -> None:
    """Write the article pages, two-level news sitemaps and robots.txt under root/bench."""
    rng = random.Random(42)
    pool = paragraphs()
    site = root / "bench"
    (site / "a").mkdir(parents=True)
    titles = [" ".join(rng.choice(pool).split()[:9]) for _ in range(count)]
    for n in range(count):
        body = rng.sample(pool, 4) + [f"رقم المقال {n}."]
        (site / "a" / f"{n}.html").write_text(article_page(n, titles[n], body, rng.sample(titles, 15)))
    children = []
    for start in range(0, count, PER_SITEMAP):
        urls = "".join(
            f"<url><loc>{{{{BASE}}}}/a/{n}.html</loc><news:news><news:publication><news:name>Bench"
            f"</news:name><news:language>ar</news:language></news:publication><news:publication_date>"
            f"2026-11-{1 + n % 28:02d}T10:00:00+01:00</news:publication_date><news:title>"
            f"{html.escape(titles[n])}</news:title></news:news></url>"
            for n in range(start, min(start + PER_SITEMAP, count))
        )
        name = f"sitemap-{start // PER_SITEMAP}.xml"
        (site / name).write_text(
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/'
            'sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' + urls + "</urlset>"
        )
        children.append(name)
    index = "".join(f"<sitemap><loc>{{{{BASE}}}}/{c}</loc></sitemap>" for c in children)
    (site / "sitemap-index.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
        f'sitemap/0.9">{index}</sitemapindex>'
    )
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n")


def write_config(directory: Path, base: str, count: int, concurrency: int, workers: int = 1) -> None:
    """A one-source Veille config for the bench site."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sources.yaml").write_text(
        f'sources:\n  - name: bench\n    languages: [ar]\n    sitemaps: ["{base}/sitemap-index.xml"]\n'
    )
    (directory / "settings.yaml").write_text(
        f"database: {directory / 'bench.db'}\ndownload_delay: 0\nconcurrent_per_domain: {concurrency}\n"
        f"concurrent_requests: {concurrency}\nretries: 0\nmax_articles_per_route: {count}\n"
        f"extract_workers: {workers}\nallow_private_addresses: true\n"
    )


def child(phase: str, config_dir: Path) -> None:
    """Run one phase (bare, or full then second) in this process and print figures as JSON lines."""
    from crawler.config import load_config

    config = load_config(config_dir)
    if phase == "bare":
        from bench.bare_spider import crawl_bare

        started = time.perf_counter()
        pages = crawl_bare(config)
        emit("bare", time.perf_counter() - started, pages)
    elif phase == "floor":
        from bench.floor_spider import crawl_floor

        started = time.perf_counter()
        pages = crawl_floor(config, str(config_dir / "floor.db"), config.settings.extract_workers)
        emit("floor", time.perf_counter() - started, pages)
        workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool has been shut down
        print(
            json.dumps(
                {
                    "phase": "worker",
                    "peak_rss_mb": workers.ru_maxrss / 1024,
                    "cpu_s": workers.ru_utime + workers.ru_stime,
                }
            )
        )
    else:
        for name, seconds, runs in full_cycles(config):
            emit(name, seconds, sum(r.new + r.updated for r in runs))
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {"phase": "crawler", "peak_rss_mb": me.ru_maxrss / 1024, "cpu_s": me.ru_utime + me.ru_stime}
        )
    )


def full_cycles(config: object) -> list[tuple[str, float, list]]:
    """Two crawl cycles on one reactor with one archive and worker pool, as the daemon runs them."""
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from scrapy.crawler import AsyncCrawlerRunner
    from scrapy.utils.defer import deferred_from_coro
    from twisted.internet import reactor

    from crawler.archive.articles import Archive
    from crawler.runner import build_scrapy_settings, crawl_sources
    from crawler.workers import AnalysisPool

    runner = AsyncCrawlerRunner(build_scrapy_settings(config, log_level="ERROR"))
    archive, pool = Archive.for_config(config), AnalysisPool(config.settings.extract_workers)
    results: list[tuple[str, float, list]] = []

    async def cycles() -> None:
        for name in ("full", "second"):
            started = time.perf_counter()
            runs = await crawl_sources(runner, config, archive, pool)
            results.append((name, time.perf_counter() - started, runs))

    done = deferred_from_coro(cycles())
    done.addBoth(lambda _: reactor.stop())
    reactor.run()
    worker = pool.executor.submit(resource.getrusage, resource.RUSAGE_SELF).result()
    print(
        json.dumps(
            {
                "phase": "worker",
                "peak_rss_mb": worker.ru_maxrss / 1024,
                "cpu_s": worker.ru_utime + worker.ru_stime,
            }
        )
    )
    pool.close()
    archive.close()
    return results


def emit(phase: str, seconds: float, articles: int) -> None:
    """Print one phase's time and article count."""
    print(json.dumps({"phase": phase, "seconds": seconds, "articles": articles}))


def run_phase(phase: str, config_dir: Path) -> list[dict]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", phase, "--config", str(config_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="extraction worker processes")
    parser.add_argument("--child")
    parser.add_argument("--config", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.config)
        return
    from tests.miniweb import MiniWeb

    with tempfile.TemporaryDirectory() as tmp:
        build_site(Path(tmp) / "web", args.articles)
        with MiniWeb(Path(tmp) / "web") as web:
            write_config(
                Path(tmp) / "config", web.base("bench"), args.articles, args.concurrency, args.workers
            )
            runs = {phase: measure(phase, Path(tmp) / "config") for phase in ("bare", "floor", "full")}
    report(runs)


def measure(phase: str, config_dir: Path) -> dict:
    """Run one phase in a child process; its figures by name, with the server's CPU meanwhile."""
    served = server_cpu()
    run = {p["phase"]: p for p in run_phase(phase, config_dir)}
    run["server"] = {"cpu_s": server_cpu() - served}
    return run


def server_cpu() -> float:
    """CPU seconds used so far by this process: the MiniWeb server's threads, in the parent."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def report(runs: dict[str, dict]) -> None:
    """Print throughput, ratios, CPU per article for each process, and peak memory."""
    rates = {}
    for phase, name in (("bare", "bare"), ("floor", "floor"), ("full", "full"), ("full", "second")):
        p = runs[phase][name]
        rates[name] = p["articles"] / p["seconds"]
        print(
            f"{name:<7} {p['articles']:>5} articles in {p['seconds']:7.2f} s  {rates[name]:7.1f} articles/s"
        )
    for phase, run in runs.items():
        count = run[phase]["articles"] or 1
        for name in ("crawler", "worker", "server"):
            if name in run:
                res = run[name]
                rss = f"peak RSS {res['peak_rss_mb']:.0f} MB, " if "peak_rss_mb" in res else ""
                print(
                    f"{phase:<5} {name:<8} {rss}CPU {res['cpu_s']:.1f} s "
                    f"({res['cpu_s'] / count * 1000:.2f} ms per article)"
                )
    print(f"full / bare throughput: {rates['full'] / rates['bare']:.0%} (target: 50% or more)")
    print(
        f"floor / bare throughput: {rates['floor'] / rates['bare']:.0%} "
        "(the least any archive of searchable full text does)"
    )
    print(f"full / floor throughput: {rates['full'] / rates['floor']:.0%}")
    full, second = runs["full"]["full"], runs["full"]["second"]
    print(f"second pass / first pass time: {second['seconds'] / full['seconds']:.2%} (target: under 2%)")


if __name__ == "__main__":
    main()
