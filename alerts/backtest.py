"""Running topics over the archive before they go live: hits, hits per day, samples, differences."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from alerts.matcher import Article, Matcher
from crawler.archive.reports import read_articles
from crawler.config.topics import Topics

SHARE_WARNING = 0.05


@dataclass
class TopicStats:
    """One topic's results over the archive."""

    hits: set[int] = field(default_factory=set)
    days: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Backtest:
    """Per-topic results of the live and candidate topics, and terms that match too much."""

    articles: int = 0
    live: dict[str, TopicStats] = field(default_factory=dict)
    candidate: dict[str, TopicStats] = field(default_factory=dict)
    term_counts: Counter[str] = field(default_factory=Counter)

    def broad_terms(self) -> list[tuple[str, float]]:
        """Candidate terms found in more than 5% of the articles, broadest first."""
        if not self.articles:
            return []
        shares = ((term, n / self.articles) for term, n in self.term_counts.items())
        return sorted((x for x in shares if x[1] > SHARE_WARNING), key=lambda x: -x[1])


def archive_articles(
    db: Database, since: str | None, limit: int | None = None
) -> Iterator[tuple[dict[str, Any], Article]]:
    """Articles of the archive (newest first), as rows and as matcher input."""
    for row in read_articles(db, since, limit):
        yield (
            row,
            Article(
                row["title"] or "", row["summary"] or "", row["body"] or "", row["language"], row["source"]
            ),
        )


def run_backtest(
    rows: Iterable[tuple[dict[str, Any], Article]], live: Topics, candidate: Topics, samples: int = 3
) -> Backtest:
    """Match every article with both topic files and collect the statistics."""
    live_matcher, candidate_matcher = Matcher(live.enabled()), Matcher(candidate.enabled())
    result = Backtest()
    for row, article in rows:
        result.articles += 1
        _record(result.live, live_matcher, row, article, samples)
        _record(result.candidate, candidate_matcher, row, article, samples)
        result.term_counts.update({t.text for t in candidate_matcher.term_hits(article)})
    return result


def _record(
    stats: dict[str, TopicStats], matcher: Matcher, row: dict[str, Any], article: Article, samples: int
) -> list[Any]:
    matches = matcher.match(article)
    for match in matches:
        topic = stats.setdefault(match.topic, TopicStats())
        topic.hits.add(row["id"])
        topic.days[(row["day"] or "")[:10]] += 1
        if len(topic.samples) < samples:
            topic.samples.append(
                {
                    "id": row["id"],
                    "title": row["title"],
                    "source": row["source"],
                    "day": (row["day"] or "")[:10],
                    "url": row["url"],
                    "terms": sorted({h.term.text for h in match.hits}),
                }
            )
    return matches


def render_backtest(result: Backtest, names: list[str]) -> list[list[Any]]:
    """Rows of the summary table: topic, live hits, candidate hits, gained, lost, busiest day."""
    rows = []
    for name in names:
        live = result.live.get(name, TopicStats())
        new = result.candidate.get(name, TopicStats())
        busiest = max(new.days.items(), key=lambda kv: kv[1], default=("-", 0))
        rows.append(
            [
                name,
                len(live.hits),
                len(new.hits),
                len(new.hits - live.hits),
                len(live.hits - new.hits),
                f"{busiest[0]} ({busiest[1]})" if busiest[1] else "-",
            ]
        )
    return rows


def broad_term_warnings(db: Database, topics: Topics, limit: int = 2000) -> list[str]:
    """Lint against the archive: terms found in more than 5% of its newest `limit` articles."""
    result = run_backtest(archive_articles(db, None, limit), topics, topics, samples=0)
    return [
        f"{topics.path}: the term '{term}' matches {share:.0%} of the {result.articles} newest "
        "articles (hint: make it narrower: a phrase, exact_case, or a NEAR query)"
        for term, share in result.broad_terms()
    ]
