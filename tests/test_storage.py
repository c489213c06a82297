"""The archive: stored once whatever the route, updated in place with history, stories, search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.archive.articles import Archive
from crawler.archive.search import fts_query, search
from crawler.items import ArticleItem
from crawler.pipelines import build_record

REAL = json.loads(
    (Path(__file__).parent / "fixtures" / "realdata" / "thevoice_articles.json").read_text("utf-8")
)
LONG = [a for a in REAL if len(a["content"]) > 3000]


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    archive = Archive.open(tmp_path / "a.db")
    yield archive
    archive.close()


def item(url: str, body: str, title: str = "Titre", source: str = "s", **kw: object) -> ArticleItem:
    return ArticleItem(source=source, url=url, title=title, body=body, language="fr", **kw)


def test_wal_mode(archive: Archive) -> None:
    assert archive.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_article_by_url_variant_guid_or_post_id_is_stored_once(archive: Archive) -> None:
    body = LONG[0]["content"]
    first = archive.store(build_record(item("https://www.hespress.com/slug-1701642.html", body)))
    again = [
        item("http://hespress.com/slug-1701642.html/?utm_source=x", body),
        item("https://www.hespress.com/other-slug-1701642.html", body),
        item("https://feed.example/x", body, guid="https://www.hespress.com/?p=1701642"),
    ]
    outcomes = [archive.store(build_record(i)) for i in again]
    assert first.outcome == "new"
    assert [o.outcome for o in outcomes] == ["duplicate"] * 3
    assert {o.article_id for o in outcomes} == {first.article_id}
    assert archive.db["articles"].count == 1


def test_changed_article_is_updated_in_place_with_history(archive: Archive) -> None:
    url = "https://telquel.ma/2026/03/24/slug_123456"
    first = archive.store(build_record(item(url, LONG[0]["content"], title="Avant")))
    second = archive.store(build_record(item(url, LONG[0]["content"] + " Mise à jour.", title="Après")))
    assert (first.outcome, second.outcome) == ("new", "updated")
    row = archive.db["articles"].get(first.article_id)
    assert (row["title"], row["version"]) == ("Après", 2)
    [old] = archive.db["article_versions"].rows
    assert (old["title"], old["version"]) == ("Avant", 1)
    assert search(archive.db, "après")[0].id == first.article_id
    assert search(archive.db, "avant") == []


def test_wire_copy_on_another_site_joins_the_story(archive: Archive) -> None:
    body = LONG[1]["content"]
    copy = "وكالة المغرب العربي للأنباء. " + body + " جميع الحقوق محفوظة للموقع."
    first = archive.store(build_record(item("https://a.ma/x-11111", body, source="a")))
    second = archive.store(build_record(item("https://b.ma/y-22222", copy, source="b", title="Autre")))
    other = archive.store(build_record(item("https://c.ma/z-33333", LONG[2]["content"], source="c")))
    assert second.outcome == "new"
    assert first.story_id == second.story_id != other.story_id
    assert archive.db["stories"].get(first.story_id)["article_count"] == 2


def test_fts_folds_arabic_diacritics_and_french_accents(archive: Archive) -> None:
    archive.store(
        build_record(item("https://x.ma/a-11111", "تُعَدُّ اللُّغَةُ الْعَرَبِيَّةُ لُغَةً رَسْمِيَّةً فِي الْمَغْرِبِ", title="لغة"))
    )
    archive.store(
        build_record(item("https://x.ma/b-22222", "La souveraineté numérique du Maroc", title="Él"))
    )
    assert [h.id for h in search(archive.db, "العربية")] == [1]
    assert [h.id for h in search(archive.db, "souverainete")] == [2]
    assert [h.id for h in search(archive.db, "SOUVERAINETÉ numérique")] == [2]


def test_search_finds_arabic_words_with_clitics(archive: Archive) -> None:
    archive.store(
        build_record(item("https://x.ma/a-11111", "يهتم المغرب بالذكاء الإصطناعي في التعليم", title="t"))
    )
    assert [h.id for h in search(archive.db, "الذكاء الاصطناعي")] == [1]
    assert search(archive.db, "الذكاء", language="ar") == []  # the item is stored as fr
    assert search(archive.db, "") == []


def test_search_snippets_show_the_articles_own_words(archive: Archive) -> None:
    # The index holds folded text: its snippets read "مدينه سلا هاديه" and "souverainete".
    from alerts.explain import with_original_snippets

    archive.store(
        build_record(item("https://x.ma/a-11111", "مع حلول الغروب، بدت مدينة سلا هادئة.", title="مساء"))
    )
    archive.store(
        build_record(
            item("https://x.ma/b-22222", "Un texte sans rapport.", title="La souveraineté numérique")
        )
    )
    [arabic] = with_original_snippets(archive.db, search(archive.db, "سلا"), "سلا")
    assert arabic.snippet == "مع حلول الغروب، بدت مدينة [سلا] هادئة."
    [title_only] = with_original_snippets(archive.db, search(archive.db, "souverainete"), "souverainete")
    assert title_only.snippet == "La [souveraineté] numérique"  # the title, where it matched


def test_search_snippets_sit_where_the_searched_words_are_together(archive: Archive) -> None:
    from alerts.explain import with_original_snippets

    body = (
        "Selon l'avis du ministre, "
        + "le secteur de la mer est en crise et de nombreux ports attendent. " * 5
        + "L'accord de pêche avec l'Union européenne a été signé, et l'État investit."
    )
    archive.store(build_record(item("https://x.ma/a-11111", body, title="Pêche")))
    [elided] = with_original_snippets(archive.db, search(archive.db, "l'État"), "l'État")
    assert "[l'État] investit." in elided.snippet  # one word, not "l" and "État"
    [phrase] = with_original_snippets(archive.db, search(archive.db, "accord de pêche"), "accord de pêche")
    assert "L'[accord] [de] [pêche] avec" in phrase.snippet  # not around the first "de"


def test_fts_query_quotes_user_syntax() -> None:
    assert fts_query('IA OR "x') == '"ia" AND "or" AND "x"'


def test_fetch_validators_round_trip(archive: Archive) -> None:
    archive.record_fetch("https://x.ma/feed", "s", "feed", 200, '"abc"', "Tue, 24 Nov 2026 10:00:00 GMT")
    archive.record_fetch("https://x.ma/feed", "s", "feed", 304)
    assert archive.validators("https://x.ma/feed") == ('"abc"', "Tue, 24 Nov 2026 10:00:00 GMT")
    row = archive.db["routes"].get("https://x.ma/feed")
    assert (row["fetches"], row["not_modified"]) == (2, 1)


def test_a_full_disk_is_a_clear_error_and_keeps_what_was_stored(archive: Archive) -> None:
    import asyncio

    from crawler.exceptions import StorageError
    from crawler.pipelines import ArchivePipeline
    from crawler.runs import SourceRun
    from crawler.writer import BatchWriter

    archive.store(build_record(item("https://x.ma/a-11111", LONG[0]["content"])))

    def full_disk() -> Archive:
        writer_archive = Archive.open(archive.path)
        pages = writer_archive.db.execute("PRAGMA page_count").fetchone()[0]
        writer_archive.db.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk is now full
        return writer_archive

    async def scenario() -> None:
        pipeline = ArchivePipeline(
            BatchWriter(full_disk), {"s": SourceRun("s", "r", "t")}, path=str(archive.path)
        )
        try:
            with pytest.raises(
                StorageError,
                match=r"a\.db: cannot store https://x\.ma/b-22222: database or disk "
                r"is full \(hint: check free disk space",
            ):
                await pipeline.process_item(item("https://x.ma/b-22222", LONG[1]["content"] * 20))
        finally:
            await pipeline.close_spider()

    asyncio.run(scenario())
    assert [r["url"] for r in archive.db["articles"].rows] == ["https://x.ma/a-11111"]


def test_a_second_writer_waits_for_the_first_instead_of_failing(tmp_path: Path) -> None:
    import sqlite3
    import threading
    import time

    Archive.open(tmp_path / "w.db").close()
    blocker = sqlite3.connect(tmp_path / "w.db", check_same_thread=False, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another crawl is writing
    release = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    second = Archive.open(tmp_path / "w.db")
    started = time.monotonic()
    release.start()
    result = second.store(build_record(item("https://x.ma/c-33333", LONG[2]["content"])))
    release.join()
    assert result.outcome == "new" and time.monotonic() - started >= 0.25


def test_new_and_changed_articles_are_matched_but_not_a_recrawl(archive: Archive) -> None:
    from alerts.matcher import Matcher
    from alerts.outbox import matching
    from crawler.config.topics import Topic, make_term

    matcher = Matcher(
        [Topic(name="ia", title="IA", any=(make_term("intelligence artificielle", frozenset()),))]
    )
    url = "https://x.ma/a-11111"
    first = archive.store_many([build_record(item(url, "Rien à signaler."))], matching(matcher))[0]
    assert archive.db.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == 0
    archive.store_many([build_record(item(url, "L'intelligence artificielle au Maroc."))], matching(matcher))
    [row] = archive.db["matches"].rows
    assert (row["article_id"], row["topic"], row["article_version"]) == (first.article_id, "ia", 2)
    matched_at = row["matched_at"]
    again = archive.store_many(
        [build_record(item(url, "L'intelligence artificielle au Maroc."))], matching(matcher)
    )[0]
    assert again.outcome == "duplicate"
    assert [r["matched_at"] for r in archive.db["matches"].rows] == [matched_at]


def _fts_rows(archive: Archive) -> list[int]:
    return [r[0] for r in archive.db.execute("SELECT rowid FROM articles_fts ORDER BY rowid")]


def test_an_article_that_fails_in_a_batch_is_neither_stored_nor_indexed(archive: Archive) -> None:
    good = [
        build_record(item(f"https://s.ma/{n}", f"Le port de Tanger Med numéro {n} bat un record."))
        for n in (1, 2)
    ]
    broken = build_record(item("https://s.ma/3", "Un texte qui ne sera pas stocké."))
    broken.fields["no_such_column"] = 1
    results = archive.store_many([good[0], broken, good[1]])
    assert [type(r).__name__ for r in results] == ["StoreResult", "OperationalError", "StoreResult"]
    assert _fts_rows(archive) == [results[0].article_id, results[2].article_id]
    assert len(search(archive.db, "Tanger record")) == 2 and not search(archive.db, "stocké")


def test_an_article_stored_then_changed_in_one_batch_is_indexed_once_as_changed(archive: Archive) -> None:
    url = "https://s.ma/article"
    first = build_record(item(url, "La première version parle de phosphate."))
    second = build_record(item(url, "La seconde version parle de dessalement."))
    new, updated = archive.store_many([first, second])
    assert (new.outcome, updated.outcome, updated.article_id) == ("new", "updated", new.article_id)
    assert _fts_rows(archive) == [new.article_id]
    assert search(archive.db, "dessalement") and not search(archive.db, "phosphate")


def test_the_archive_closes_as_a_context_manager(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a.db") as archive:
        archive.store(build_record(ArticleItem(source="s", url="https://x.ma/a", title="T", body="Corps.")))
    with pytest.raises(Exception, match="closed"):
        archive.db.execute("SELECT 1")
