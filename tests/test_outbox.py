"""The outbox: deliveries owed per watcher, story and channel, due when the watcher wants them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.matcher import Matcher
from alerts.outbox import delivery_id, due_time, matching, owed
from crawler.archive.articles import Archive
from crawler.config.topics import Topic, make_term
from crawler.config.watchers import Secret, Watcher, Webhook
from crawler.items import ArticleItem
from crawler.pipelines import build_record

REAL = json.loads(
    (Path(__file__).parent / "fixtures" / "realdata" / "thevoice_articles.json").read_text("utf-8")
)
BODY = next(a["content"] for a in REAL if "الذكاء الاصطناعي" in a["content"] and len(a["content"]) > 2000)


def watcher(**kw: object) -> Watcher:
    base = {"name": "w", "title": "w", "topics": ("ia",), "email": ("a@x.ma",)}
    return Watcher(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "now", "due"),
    [
        ({}, "2026-11-25T10:00:00Z", "2026-11-25T10:00:00Z"),
        ({"mode": "hourly"}, "2026-11-25T10:20:00Z", "2026-11-25T11:00:00Z"),  # 11:20 local -> 12:00 local
        ({"mode": "daily 08:00"}, "2026-11-25T10:00:00Z", "2026-11-26T07:00:00Z"),  # Casablanca is UTC+1
        ({"mode": "daily 08:00"}, "2026-11-25T06:00:00Z", "2026-11-25T07:00:00Z"),
        ({"mode": "weekly mon 08:00"}, "2026-11-25T10:00:00Z", "2026-11-30T07:00:00Z"),  # a Wednesday
        ({"quiet_hours": "22:00-07:00"}, "2026-11-25T22:30:00Z", "2026-11-26T06:00:00Z"),  # 23:30 local
        ({"quiet_hours": "22:00-07:00"}, "2026-11-25T05:00:00Z", "2026-11-25T06:00:00Z"),  # 06:00 local
        ({"quiet_hours": "22:00-07:00"}, "2026-11-25T12:00:00Z", "2026-11-25T12:00:00Z"),
        # During Ramadan 2026 (until 2026-03-22) Morocco is UTC+0: 07:00 local is 07:00 UTC.
        ({"quiet_hours": "22:00-07:00"}, "2026-03-01T23:00:00Z", "2026-03-02T07:00:00Z"),
    ],
)
def test_due_time(kw: dict, now: str, due: str) -> None:
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    assert due_time(watcher(**kw), moment).astimezone(UTC) == datetime.fromisoformat(
        due.replace("Z", "+00:00")
    )


def test_one_delivery_per_channel_with_stable_ids() -> None:
    hook = Webhook(Secret("https://h.ma/x", "https://h.ma/x"), Secret("${S}", "s"))
    found = owed(watcher(webhook=hook), "story:7", datetime(2026, 11, 25, tzinfo=UTC))
    assert [o.channel for o in found] == ["email", "webhook"]
    assert found[0].id == delivery_id("w", "story:7", "email") != found[1].id


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    archive = Archive.open(tmp_path / "a.db")
    yield archive
    archive.close()


MATCHER = Matcher([Topic(name="ia", title="ia", any=(make_term("الذكاء الاصطناعي", frozenset()),))])
WATCHERS = (
    watcher(name="all-ar"),
    watcher(name="only-b", sources=("b",)),
    watcher(name="other", topics=("x",)),
)


def store(archive: Archive, url: str, source: str, body: str = BODY) -> None:
    item = ArticleItem(source=source, url=url, title="t", body=body, language="ar")
    archive.store_many([build_record(item)], matching(MATCHER, WATCHERS))


def deliveries(archive: Archive) -> list[dict]:
    return list(
        archive.db.query(
            "SELECT watcher, story_key, channel, articles, topics, status FROM deliveries ORDER BY watcher"
        )
    )


def test_a_new_match_owes_each_following_watcher_one_delivery(archive: Archive) -> None:
    store(archive, "https://a.ma/x-11111", "a")
    [row] = deliveries(archive)
    assert (row["watcher"], row["channel"], row["status"], json.loads(row["topics"])) == (
        "all-ar",
        "email",
        "pending",
        ["ia"],
    )


def test_a_reprint_joins_the_pending_delivery_and_a_recrawl_owes_nothing(archive: Archive) -> None:
    store(archive, "https://a.ma/x-11111", "a")
    store(archive, "https://b.ma/y-22222", "b", "وكالة المغرب العربي للأنباء. " + BODY)  # the wire copy
    store(archive, "https://a.ma/x-11111", "a")  # a re-crawl
    rows = deliveries(archive)
    assert [r["watcher"] for r in rows] == ["all-ar", "only-b"]
    assert json.loads(rows[0]["articles"]) == [1, 2]  # one alert listing both sites
    assert rows[0]["story_key"] == rows[1]["story_key"]


def test_nothing_follows_a_delivery_already_sent(archive: Archive) -> None:
    store(archive, "https://a.ma/x-11111", "a")
    archive.db.execute("UPDATE deliveries SET status = 'sent'")
    store(archive, "https://b.ma/y-22222", "b", "وكالة المغرب العربي للأنباء. " + BODY)
    rows = deliveries(archive)
    assert [(r["watcher"], json.loads(r["articles"])) for r in rows] == [("all-ar", [1]), ("only-b", [2])]


def test_a_timing_edit_moves_the_deliveries_that_wait(archive: Archive) -> None:
    # Quiet hours shortened by an edit: what was held until 04:00 goes at the new end, not at 04:00.
    from alerts.outbox import reschedule_pending, timing

    quiet = watcher(name="all-ar", quiet_hours="02:00-05:00", timezone="UTC")
    store(archive, "https://a.ma/x-11111", "a")
    store(archive, "https://b.ma/y-22222", "b")
    conn = archive.db.conn
    conn.execute("UPDATE deliveries SET due_at = '2026-11-26T05:00:00Z' WHERE watcher = 'all-ar'")
    conn.execute(
        "UPDATE deliveries SET status = 'failed', attempts = 1, due_at = '2026-11-26T09:00:00Z' "
        "WHERE watcher = 'only-b'"
    )
    shorter = watcher(name="all-ar", quiet_hours="02:00-03:50", timezone="UTC")
    assert timing(quiet) != timing(shorter)
    at = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert reschedule_pending(conn, [shorter, watcher(name="only-b")], at) == 1
    due = dict(conn.execute("SELECT watcher, due_at FROM deliveries").fetchall())
    assert due == {"all-ar": "2026-11-26T03:50:00Z", "only-b": "2026-11-26T09:00:00Z"}  # a failed one keeps
    # its backoff
    assert reschedule_pending(conn, [shorter], at) == 0
    conn.execute("UPDATE deliveries SET due_at = '2026-11-26T02:00:00Z' WHERE watcher = 'all-ar'")
    assert reschedule_pending(conn, [watcher(name="all-ar", mode="daily 08:00")], at) == 0  # due: stays
