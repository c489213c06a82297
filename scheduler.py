"""The Veille daemon (`veille run`): scheduled crawls, alert dispatch, live reload, health, signals.

One process, one asyncio Twisted reactor. Each source has an APScheduler job on that loop that runs
one Scrapy crawl through a long-lived AsyncCrawlerRunner; a reactor cannot be restarted, so crawls
share it instead of starting one each. Everything that writes outside a crawl (dispatch, health,
retention) runs on one "chores" thread with its own SQLite connection, so sends and pruning never
block the crawls and never race each other; the heartbeat has a thread of its own.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler import __version__
from crawler.archive.articles import Archive
from crawler.config import Config, Source, load_config
from crawler.config.schedules import Schedule, format_duration, parse_duration
from crawler.config.watchers import Watcher
from crawler.daemon.triggers import (
    crawl_trigger,
    describe_trigger,
    digest_trigger,
    spread_offset,
    trigger_key,
)
from crawler.exceptions import ConfigError, StorageError
from crawler.extract.dates import format_utc, utc_now
from crawler.extract.urls import domain
from crawler.runs import SourceRun

logger = logging.getLogger("veille.daemon")
T = TypeVar("T")
CONFIG_FILES = ("settings.yaml", "sources.yaml", "keywords.yaml", "watchers.yaml")
HEALTH_EVERY = 600
HEARTBEAT_EVERY = 5
WATCH_EVERY = 2
NEW_SOURCE_SPREAD = 10  # seconds within which a source added by a reload gets its first crawl
LANES = ("chores", "status")
CUT_GRACE = 1.0  # seconds a stopping crawl's downloads may take to finish before they are cut
CUT_AGAIN = 0.2
RESTART_ONLY = ("max_concurrent_crawls", "http_listen", "extract_workers", "log_format")


@dataclass
class JobResult:
    """The last outcome of one job, for `veille status`."""

    status: str
    error: str | None = None


def config_stamp(directory: Path) -> str:
    """A digest of the config files' contents: it changes with any saved edit, however the editor saves."""
    digest = hashlib.sha256()
    for name in CONFIG_FILES:
        path = directory / name
        digest.update(name.encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0missing")
    return digest.hexdigest()


class Daemon:
    """The running daemon: config, archive, scheduler, runners and the writer lanes."""

    def __init__(self, config: Config, lock_file: Any) -> None:
        from alerts.dispatch import Dispatcher
        from crawler.daemon.metrics import Counters
        from crawler.workers import AnalysisPool

        self.config = config
        self.lock_file = lock_file
        self.stamp = config_stamp(config.directory)
        self.archive = Archive.for_config(config)
        self.db_path = config.database_path()
        self.pool = AnalysisPool(config.settings.extract_workers)
        # Two single-thread lanes, each with its own connection: "chores" (dispatch, health,
        # retention) and "status" (heartbeat), so a slow send never makes the daemon look dead.
        self.lanes = {lane: ThreadPoolExecutor(1, thread_name_prefix=f"veille-{lane}") for lane in LANES}
        self.lane_archives: dict[str, Archive] = {}  # each opened, used and closed on its lane's thread
        self.runner = self._new_runner(config)
        self.runners = [self.runner]
        self.scheduler: AsyncIOScheduler | None = None
        self.slots: asyncio.Semaphore | None = None
        self.slot_count = config.settings.max_concurrent_crawls
        self.domain_locks: dict[str, asyncio.Lock] = {}
        self.reloading = asyncio.Lock()
        self.followups: set[asyncio.Future] = set()
        self.intervals: dict[str, int] = {}  # the adapted interval of each interval-scheduled source
        self.results: dict[str, JobResult] = {}
        self.last_runs: dict[str, str] = {}
        self.counters = Counters()
        self.dispatcher = Dispatcher()  # one claim owner; holds outcomes a full disk refused
        self.config_error: str | None = None
        self.started_at = format_utc(utc_now())
        self.stopping = False
        self.http_port: Any = None

    # -- start and stop ------------------------------------------------------------------------

    async def start(self) -> None:
        """Schedule every job, publish the state, listen for SIGHUP and HTTP."""
        loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(self.slot_count)
        self.scheduler = AsyncIOScheduler(
            event_loop=loop, timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        self._schedule_all(first=True)
        self.scheduler.add_listener(self._job_ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.scheduler.start()
        loop.add_signal_handler(signal.SIGHUP, lambda: self._follow(self.reload(forced=True)))
        self._listen_http()
        await self.chore(
            self._publish_state_chore,
            {
                "pid": str(os.getpid()),
                "started_at": self.started_at,
                "stopped_at": None,
                "version": __version__,
                "config_dir": str(self.config.directory.resolve()),
                "config_loaded_at": self.started_at,
                "config_error": None,
                "http_listen": self.config.settings.http_listen or None,
            },
            lane="status",
        )
        await self.heartbeat()
        enabled = [s for s in self.config.sources if s.enabled]
        logger.info(
            "veille %s running: %d sources, %d topics, %d watchers, database %s (pid %d)",
            __version__,
            len(enabled),
            len(self.config.topics.enabled()),
            len(self.config.watchers),
            self.db_path,
            os.getpid(),
        )
        for warning in self.config.settings.warnings(self.config.directory / "settings.yaml"):
            logger.warning("%s", warning)

    async def stop(self) -> None:
        """Stop cleanly: no new job, crawls cut (their stored articles and runs kept), the send in
        flight finished, the database closed."""
        if self.stopping:
            return
        self.stopping = True
        logger.info("stopping: cutting the crawls in progress and finishing the send in flight")
        try:
            await self._wind_down()
        finally:
            self.archive.close()
            self.lock_file.close()
        logger.info("stopped cleanly")

    async def _wind_down(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # no new run; shutting down now would cancel the crawls mid-flight
        await self._stop_crawls()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in list(self.followups):
            task.cancel()
        if self.http_port is not None:
            from scrapy.utils.defer import maybe_deferred_to_future

            await maybe_deferred_to_future(self.http_port.stopListening())
        loop = asyncio.get_running_loop()
        for lane, executor in self.lanes.items():  # waits for the chore in flight; queued ones skip
            await loop.run_in_executor(executor, self._close_lane, lane)
            executor.shutdown(wait=False)
        await asyncio.to_thread(self.pool.close)

    async def _stop_crawls(self) -> None:
        """Stop every crawl: each spider closes, its batch is written and its run recorded as
        interrupted. Downloads still in flight after CUT_GRACE are cut (their pages are fetched
        again by the next crawl) rather than waited for until their timeout."""
        from crawler.runner import cut_downloads

        tasks = [asyncio.ensure_future(runner.stop()) for runner in self.runners]
        stopping, wait, cut = tasks, CUT_GRACE, 0
        while stopping:
            _, pending = await asyncio.wait(stopping, timeout=wait)
            stopping, wait = list(pending), CUT_AGAIN  # a retry or the next request connects again
            if stopping:
                cut += cut_downloads(self.runners)
        if cut:
            logger.info("cut %d download(s) in flight", cut)
        for task in tasks:  # a crawler that failed to stop must not stop the rest of the shutdown
            if task.exception() is not None:
                logger.error("a crawl did not stop cleanly: %r", task.exception())

    def _close_lane(self, lane: str) -> None:
        archive = self.lane_archives.pop(lane, None)
        if lane == "status":
            from crawler.archive.state import publish_state

            archive = archive or Archive.open(self.db_path)
            publish_state(archive.db.conn, {"stopped_at": format_utc(utc_now())})
        if archive is not None:
            archive.close()

    # -- jobs ----------------------------------------------------------------------------------

    def _schedule_all(self, first: bool = False) -> None:
        settings = self.config.settings
        now = utc_now()
        # A source without a job starts soon: spread over startup_spread at start, within 10 s on reload.
        spread = parse_duration(settings.startup_spread) if first else NEW_SOURCE_SPREAD
        for source in self.config.sources:
            if source.enabled:
                new = self.scheduler.get_job(f"crawl:{source.name}") is None
                self._add_crawl_job(
                    source, now + timedelta(seconds=spread_offset(source.name, spread)) if new else None
                )
        dispatch = parse_duration(settings.dispatch_interval)
        self._put_job(
            "dispatch",
            self.dispatch,
            IntervalTrigger(seconds=dispatch),
            next_run_time=now + timedelta(seconds=min(5, dispatch)) if first else None,
        )
        self._schedule_digests()
        self._put_job(
            "retention", self.retention, CronTrigger.from_crontab(settings.retention_cron, timezone="UTC")
        )
        self._put_job("health", self.check_health, IntervalTrigger(seconds=HEALTH_EVERY))
        if first:
            self._put_job("heartbeat", self.heartbeat, IntervalTrigger(seconds=HEARTBEAT_EVERY))
            self._put_job("config-watch", self.reload, IntervalTrigger(seconds=WATCH_EVERY))

    def _put_job(
        self,
        job_id: str,
        func: Callable[..., Any],
        trigger: Any,
        args: tuple = (),
        next_run_time: datetime | None = None,
        grace: int = 60,
    ) -> None:
        """Add a job, or give an existing one its new trigger without losing its turn."""
        job = self.scheduler.get_job(job_id)
        if job is not None and trigger_key(job.trigger) == trigger_key(trigger):
            return
        if job is not None:
            self.scheduler.reschedule_job(job_id, trigger=trigger)
            return
        kwargs = {"next_run_time": next_run_time} if next_run_time else {}
        self.scheduler.add_job(
            func, trigger, args=args, id=job_id, name=job_id, misfire_grace_time=grace, **kwargs
        )

    def _add_crawl_job(self, source: Source, first_run: datetime | None) -> None:
        schedule = source.schedule
        interval = self.intervals.get(source.name) if schedule.cron is None else None
        grace = max(30, (interval or schedule.every_seconds or 120) // 2)
        self._put_job(
            f"crawl:{source.name}",
            self.crawl,
            crawl_trigger(schedule, interval),
            (source.name,),
            first_run,
            grace,
        )

    def _schedule_digests(self) -> None:
        wanted = set()
        for watcher in self.config.watchers:
            trigger = digest_trigger(watcher.mode, watcher.timezone) if watcher.enabled else None
            if trigger is not None:
                wanted.add(f"digest:{watcher.name}")
                self._put_job(f"digest:{watcher.name}", self.dispatch, trigger)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id not in wanted:
                job.remove()

    async def crawl(self, name: str) -> None:
        """One crawl of one source: one crawl per domain at a time, within the global cap, with the
        config current when it starts (a reload while it waited is used)."""
        from crawler.runner import crawl_sources

        source = _enabled_source(self.config, name)
        if source is None:
            return
        try:
            # The domain first: crawls waiting for a busy domain must not hold slots other sites need.
            async with self.domain_locks.setdefault(_source_domain(source), asyncio.Lock()), self.slots:
                config = self.config
                if self.stopping or _enabled_source(config, name) is None:
                    return
                started = time.monotonic()
                runs = await crawl_sources(self.runner, config, self.archive, self.pool, [name])
                seconds = time.monotonic() - started
        except asyncio.CancelledError:  # the daemon is stopping while this crawl waited for its turn
            return
        except Exception as exc:  # one source's crash never stops the daemon
            logger.exception("crawl %s crashed", name)
            self._done(f"crawl:{name}", "failed", f"{type(exc).__name__}: {exc}")
            return
        for run in runs:
            self._log_run(run, seconds)
        if not self.stopping:  # health, adaptation and dispatch do not hold up the crawl job
            self._follow(self._after_crawl(name, config, any(run.new or run.updated for run in runs)))

    def _follow(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.followups.add(task)
        task.add_done_callback(self.followups.discard)

    async def _after_crawl(self, name: str, config: Config, stored: bool) -> None:
        interval = await self.chore(self._after_crawl_chore, name, config)
        self._adapt(name, config.source(name).schedule, interval)
        if stored:
            await self.dispatch()

    def _log_run(self, run: SourceRun, seconds: float) -> None:
        self.counters.crawls[(run.source, run.status)] += 1
        for outcome in ("new", "updated", "duplicate"):
            self.counters.articles[(run.source, outcome)] += getattr(run, outcome)
        self.counters.last_crawl[run.source] = time.time()
        line = (
            f"crawl {run.source}: {run.status}, {run.found} found, {run.new} new, {run.updated} updated, "
            f"{run.not_modified} unchanged (304), {run.errors} errors in {seconds:.1f}s"
        )
        if run.messages:
            line += f"; {run.messages[0]}"
        level = logging.WARNING if run.status == "failed" else logging.INFO
        logger.log(level, line, extra={"source": run.source})
        self._done(f"crawl:{run.source}", run.status, run.messages[0] if run.messages else None)

    def _adapt(self, name: str, schedule: Schedule, interval: int | None) -> None:
        """Poll a source at its learned interval, unless a reload changed its schedule meanwhile."""
        source = _enabled_source(self.config, name)
        changed = source is None or source.schedule != schedule
        if interval is None or self.stopping or schedule.cron or changed:
            return
        current = self.intervals.get(name, schedule.every_seconds)
        if current and abs(interval - current) <= current * 0.1:
            return
        self.intervals[name] = interval
        if self.scheduler.get_job(f"crawl:{name}") is not None:
            self.scheduler.reschedule_job(f"crawl:{name}", trigger=crawl_trigger(schedule, interval))
            logger.info(
                "source %s now polled every %s (its rhythm; bounds %s)",
                name,
                format_duration(interval),
                schedule.describe(),
            )

    async def dispatch(self) -> None:
        """Send the alerts and notices that are due (on the chores lane)."""
        if not self.stopping:
            await self.chore(self._dispatch_chore, self.config)

    async def check_health(self) -> None:
        """Assess every enabled source (silence needs a clock, not just crawl results); close the
        problems of sources no longer crawled."""
        config = self.config
        watched = {s.name for s in config.sources if s.enabled}
        for name in sorted(watched):
            if not self.stopping:
                await self.chore(self._health_chore, name, config)
        await self.chore(self._forget_chore, watched)
        self._done("health", "ok")

    async def retention(self) -> None:
        """Prune what the archive no longer needs, with every crawl slot held: VACUUM locks the file,
        and a crawl's writes on the reactor thread must not wait for it."""
        held = 0
        try:
            for _ in range(self.slot_count):
                await self.slots.acquire()
                held += 1
            await self.chore(self._retention_chore, self.config)
        finally:
            for _ in range(held):
                self.slots.release()

    async def heartbeat(self) -> None:
        """Publish the jobs and a heartbeat for `veille status` (on the status lane)."""
        from crawler.archive.state import JobRow

        if self.scheduler is None or self.stopping:
            return
        jobs = []
        for job in self.scheduler.get_jobs():
            result = self.results.get(job.id)
            jobs.append(
                JobRow(
                    job.id,
                    describe_trigger(job.trigger),
                    format_utc(job.next_run_time) if job.next_run_time else None,
                    self.last_runs.get(job.id),
                    result.status if result else None,
                    result.error if result else None,
                )
            )
        await self.chore(
            self._heartbeat_chore,
            jobs,
            {"heartbeat_at": format_utc(utc_now()), "config_error": self.config_error},
            lane="status",
        )

    # -- live reload ---------------------------------------------------------------------------

    async def reload(self, forced: bool = False) -> None:
        """Reload the config when a file changed (or on SIGHUP); keep the last good one if broken."""
        async with self.reloading:  # the file watcher and SIGHUP never apply two loads out of order
            directory = self.config.directory
            stamp = await asyncio.to_thread(config_stamp, directory)
            if self.stopping or (stamp == self.stamp and not forced):
                return
            self.stamp = stamp
            try:
                config = await asyncio.to_thread(load_config, directory)
            except ConfigError as exc:
                self._reject(exc.problems, stamp)
                return
            except Exception as exc:  # a bug of ours must not end the daemon: keep the good config
                logger.exception("config not reloaded")
                self._reject([f"{directory}: could not load the config: {type(exc).__name__}: {exc}"], stamp)
                return
            self._apply(config)

    def _reject(self, problems: list[str], stamp: str) -> None:
        self.counters.reloads["error"] += 1
        self.config_error = problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        for problem in problems:
            logger.error("config not reloaded, still running the last good one: %s", problem)
        self._done("config-watch", "error", self.config_error)
        state = {"config_error": self.config_error}
        self._follow(self.chore(self._publish_state_chore, state, lane="status"))
        self._follow(self.chore(self._config_notice_chore, problems, stamp, self.config))

    def _apply(self, config: Config) -> None:
        old = self.config
        self._warn_restart_only(old, config)
        if config.settings != old.settings:
            for warning in config.settings.warnings(config.directory / "settings.yaml"):
                logger.warning("%s", warning)
        self.config, self.config_error = config, None
        self.runner = self._new_runner(config)
        self.runners = [r for r in self.runners if r.crawlers] + [self.runner]
        before = {s.name: s for s in old.sources if s.enabled}
        after = {s.name: s for s in config.sources if s.enabled}
        for name in before.keys() - after.keys():
            if self.scheduler.get_job(f"crawl:{name}") is not None:
                self.scheduler.remove_job(f"crawl:{name}")
            self.intervals.pop(name, None)
        for name, source in after.items():
            if name in before and before[name].schedule != source.schedule:
                self.intervals.pop(name, None)  # a new schedule starts from its own `every`
        self._schedule_all()
        self.counters.reloads["ok"] += 1
        changed = sum(1 for n in after.keys() & before.keys() if after[n] != before[n])
        logger.info(
            "config reloaded: %d sources (%d added, %d removed, %d changed), %d topics, %d watchers",
            len(after),
            len(after.keys() - before.keys()),
            len(before.keys() - after.keys()),
            changed,
            len(config.topics.enabled()),
            len(config.watchers),
        )
        self._done("config-watch", "reloaded")
        self._follow(
            self.chore(
                self._publish_state_chore,
                {"config_loaded_at": format_utc(utc_now()), "config_error": None},
                lane="status",
            )
        )
        if before.keys() - after.keys():  # their open problems close now, not at the next health check
            self._follow(self.chore(self._forget_chore, set(after)))
        self._reschedule_retimed(old, config)

    def _reschedule_retimed(self, old: Config, new: Config) -> None:
        """Deliveries waiting for a watcher whose quiet hours, digest mode or time zone changed move
        to the new timing (on the chores lane)."""
        from alerts.outbox import timing

        before = old.watchers_by_name()
        retimed = [w for w in new.watchers if w.name in before and timing(before[w.name]) != timing(w)]
        if retimed:
            self._follow(self.chore(self._reschedule_chore, retimed))

    def _reschedule_chore(self, conn: Any, watchers: list[Watcher]) -> None:
        from alerts.outbox import reschedule_pending

        moved = reschedule_pending(conn, watchers, utc_now())
        logger.info(
            "watcher timing changed (%s): %d waiting deliveries moved to it",
            ", ".join(w.name for w in watchers),
            moved,
        )

    def _warn_restart_only(self, old: Config, new: Config) -> None:
        if new.database_path() != self.db_path:
            logger.warning(
                "the database path changed to %s; it takes effect at the next restart (still %s)",
                new.database_path(),
                self.db_path,
            )
        for name in RESTART_ONLY:
            if getattr(old.settings, name) != getattr(new.settings, name):
                logger.warning(
                    "setting %s changed to %r; it takes effect at the next restart",
                    name,
                    getattr(new.settings, name),
                )

    def _new_runner(self, config: Config) -> Any:
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.runner import build_scrapy_settings

        settings = build_scrapy_settings(config, log_level="INFO")
        settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
        return AsyncCrawlerRunner(settings)

    # -- the writer lanes ----------------------------------------------------------------------

    async def chore(self, func: Callable[..., T], *args: Any, lane: str = "chores") -> T | None:
        """Run `func(conn, *args)` on a lane's thread; log its failure instead of raising."""
        if self.stopping:
            return None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.lanes[lane], self._with_conn, lane, func, args)
        except Exception as exc:
            logger.error(
                "%s failed: %s (hint: check free disk space and the database file's permissions)",
                func.__name__.strip("_").replace("_chore", ""),
                exc,
            )
            return None

    def _with_conn(self, lane: str, func: Callable[..., T], args: tuple) -> T | None:
        if self.stopping:  # queued before the stop: skipped, it would run again at the next start
            return None
        if lane not in self.lane_archives:
            self.lane_archives[lane] = Archive.open(self.db_path)
        conn = self.lane_archives[lane].db.conn
        try:
            return func(conn, *args)
        except BaseException:
            if conn.in_transaction:  # never leave half a chore for the next one to commit
                conn.rollback()
            raise

    def _dispatch_chore(self, conn: Any, config: Config) -> None:
        from alerts.outbox import policy_from

        done = self.dispatcher.run(
            conn,
            config.watchers_by_name(),
            policy_from(config.settings, dict(os.environ)),
            utc_now(),
            stopping=lambda: self.stopping,
        )
        for outcome in ("sent", "failed", "dead"):
            self.counters.deliveries[outcome] += getattr(done, outcome)
        if done.sent or done.failed or done.dead or done.notices:
            logger.info(
                "alerts: %d sent, %d failed (retried later), %d dead, %d held back by a cap, "
                "%d admin notices sent",
                done.sent,
                done.failed,
                done.dead,
                done.postponed,
                done.notices,
            )
        for error in done.errors[:5]:
            logger.warning("alert not delivered: %s", error)
        self._done(
            "dispatch",
            "failed" if done.failed or done.dead else "ok",
            done.errors[0] if done.errors else None,
        )

    def _after_crawl_chore(self, conn: Any, name: str, config: Config) -> int | None:
        from crawler.daemon.health import adapt_interval
        from crawler.daemon.healthcheck import load_facts

        now = utc_now()
        facts = load_facts(conn, name, now)  # once, for both health and the polling interval
        self._health_chore(conn, name, config, facts)
        if not config.settings.adaptive_polling:
            return None
        return adapt_interval(config.source(name).schedule, facts, now)

    def _health_chore(self, conn: Any, name: str, config: Config, facts: Any = None) -> None:
        from crawler.daemon.health import Thresholds
        from crawler.daemon.healthcheck import check_source

        if _enabled_source(self.config, name) is None:
            return  # disabled or removed since this check was queued: its problems were just closed
        settings = config.settings
        thresholds = Thresholds(
            settings.health_failures,
            timedelta(seconds=parse_duration(settings.health_silence_min)),
            float(settings.health_yield_drop),
        )
        watchers = config.watchers_by_name()
        for line in check_source(conn, name, thresholds, watchers, utc_now(), facts):
            logger.warning(line, extra={"source": name})

    def _forget_chore(self, conn: Any, watched: set[str]) -> None:
        from crawler.daemon.healthcheck import forget_sources

        for name in forget_sources(conn, watched):
            logger.info("source %s is no longer crawled: its open problems are closed", name)

    def _retention_chore(self, conn: Any, config: Config) -> None:
        from crawler.archive.retention import prune

        settings = config.settings
        done = prune(
            conn,
            utc_now(),
            settings.prune_bodies_after_days,
            settings.keep_runs_days,
            settings.story_window_days,
        )
        logger.info(done.describe())
        self._done("retention", "ok")

    def _config_notice_chore(self, conn: Any, problems: list[str], stamp: str, config: Config) -> None:
        from alerts.notices import Notice, raise_notice

        body = (
            "An edit of the config was refused; Veille keeps running on the last good config.\n\n"
            + "\n".join(problems)
            + "\n\nFix the file: the daemon reloads it as soon as it is saved."
        )
        notice = Notice(f"config:{stamp}", "config-error", "config edit refused: " + problems[0][:120], body)
        raise_notice(conn, notice, config.watchers_by_name(), utc_now())
        self._dispatch_chore(conn, config)

    def _publish_state_chore(self, conn: Any, values: dict[str, str | None]) -> None:
        from crawler.archive.state import publish_state

        publish_state(conn, values)

    def _heartbeat_chore(self, conn: Any, jobs: list, values: dict[str, str | None]) -> None:
        from crawler.archive.state import publish_jobs, publish_state

        publish_jobs(conn, jobs)
        publish_state(conn, values)

    def _job_ran(self, event: JobExecutionEvent) -> None:
        self.last_runs[event.job_id] = format_utc(utc_now())
        if event.exception is not None:
            self._done(event.job_id, "error", f"{type(event.exception).__name__}: {event.exception}")

    def _done(self, job_id: str, status: str, error: str | None = None) -> None:
        self.results[job_id] = JobResult(status, error)

    # -- HTTP ----------------------------------------------------------------------------------

    def _listen_http(self) -> None:
        listen = self.config.settings.http_listen
        if not listen:
            return
        from twisted.internet import reactor
        from twisted.web.server import Site

        from crawler.daemon.http import Endpoint

        host, _, port = listen.rpartition(":")
        self.http_port = reactor.listenTCP(int(port), Site(Endpoint(self)), interface=host.strip("[]"))
        logger.info("health and metrics on http://%s/healthz and /metrics", listen)


def _enabled_source(config: Config, name: str) -> Source | None:
    try:
        source = config.source(name)
    except KeyError:
        return None
    return source if source.enabled else None


def _source_domain(source: Source) -> str:
    routes = source.routes or source.fallbacks
    return domain(routes[0].url) if routes else source.name


def take_lock(db_path: Path) -> Any:
    """An exclusive lock beside the database, so two daemons never crawl into one archive."""
    path = db_path.with_name(db_path.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise StorageError(
            f"{db_path}: another `veille run` (pid {holder}) already uses this archive "
            "(hint: stop it first, or point VEILLE_DB at another file)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def run_daemon(config: Config, log_format: str | None = None, verbose: bool = False) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the exit code."""
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from scrapy.utils.defer import deferred_from_coro
    from scrapy.utils.log import configure_logging
    from twisted.internet import reactor

    from crawler.daemon.logs import configure_logs
    from crawler.runner import build_scrapy_settings

    settings = build_scrapy_settings(config)
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    configure_logging(settings)  # routes Twisted's log into Python logging
    configure_logs(log_format or config.settings.log_format, verbose)
    daemon = Daemon(config, take_lock(config.database_path()))
    failed: list[BaseException] = []

    async def start() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_once, signum)
        await daemon.start()

    def started() -> None:
        done = deferred_from_coro(start())
        done.addErrback(
            lambda f: (failed.append(f.value), logger.error("could not start: %s", f.value), stop_once(None))
        )

    def stop_once(signum: int | None) -> None:
        # Twisted's own handlers call reactor.stop() at every signal, and a second Ctrl-C (or a
        # service manager's SIGTERM after ours) raised ReactorNotRunning with a traceback.
        if not reactor.running or stop_requested:
            logger.info("already stopping (%s)", signal.Signals(signum).name if signum else "error")
            return
        stop_requested.append(signum)
        reactor.stop()

    stop_requested: list[int | None] = []
    reactor.callWhenRunning(started)
    reactor.addSystemEventTrigger("before", "shutdown", lambda: deferred_from_coro(daemon.stop()))
    reactor.run(installSignalHandlers=False)
    return 1 if failed else 0
