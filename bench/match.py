"""Matching benchmark: the topic matcher against one compiled regex per term, on the same text.

1,000 topics of 10 terms each (10,000 distinct terms: French and Arabic words and two-word phrases
seen in the captured Moroccan articles, a few acronyms with exact case, some prefixes) over 10,000
articles of real length (real thevoice.ma bodies and h24info/Hespress leads, recombined).
The baseline normalises each article once, then loops over one compiled regex per term with word
boundaries (no clitics, no spans): it runs on the first --baseline articles and its rate is compared.

Usage: python bench/match.py [--articles 10000] [--topics 1000] [--baseline 300]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.matcher import Article, Matcher  # noqa: E402
from crawler.config.topics import Topic, make_term  # noqa: E402
from crawler.extract.normalize import normalize, tokens  # noqa: E402

REAL = ROOT / "tests" / "fixtures" / "realdata" / "thevoice_articles.json"
SHARED = ROOT.parent / "shared" / "realdata" / "morocco-media-crawler"
STOP_WORDS = (
    "le la les de des du un une et en au aux a à pour par sur dans que qui est son sa ses ce "
    "cette il elle ils se ne pas plus avec d l في من على إلى أن عن مع التي الذي هذا هذه كان ما لا"
)
STOP = set(STOP_WORDS.split())


def corpus() -> tuple[list[str], list[str]]:
    """Real Arabic bodies and French leads."""
    arabic = [a["content"] for a in json.loads(REAL.read_text("utf-8"))]
    french: list[str] = []
    for name in ("h24infos.csv", "hespress.csv"):
        path = SHARED / name
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                french += [f"{r.get('title', '')}. {r.get('resume', '')}" for r in csv.DictReader(handle)]
    return arabic, french or arabic


def vocabulary(texts: list[str], count: int, rng: random.Random, skip: int) -> list[str]:
    """Words and two-word phrases seen at least twice in the texts, 60% words, 40% phrases.

    The `skip` most frequent words are left out (with skip=200 they are words like maroc, selon,
    millions, which no admin watches alone); the rest are drawn at random across frequencies.
    """
    words: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for text in texts:
        found = [w for w in tokens(text) if len(w) > 2 and w not in STOP and not w.isdigit()]
        words.update(found)
        pairs.update(f"{a} {b}" for a, b in itertools.pairwise(found))
    single = [w for w, n in words.most_common()[skip:] if n > 1]
    double = [p for p, n in pairs.most_common() if n > 1]
    terms = rng.sample(single, min(len(single), int(count * 0.6)))
    terms += rng.sample(double, min(len(double), count - len(terms)))
    rng.shuffle(terms)
    return terms[:count]


def build_topics(terms: list[str], topics: int, rng: random.Random) -> list[Topic]:
    """`topics` topics of len(terms)/topics terms each; a few prefixes and acronyms."""
    size = len(terms) // topics
    exact = frozenset({"IA", "AI", "5G", "OCP", "ONCF"})
    out = []
    for i in range(topics):
        chunk = terms[i * size : (i + 1) * size]
        chosen = [make_term(t + ("*" if rng.random() < 0.05 else ""), exact) for t in chunk]
        if i % 50 == 0:
            chosen.append(make_term(rng.choice(sorted(exact)), exact))
        out.append(
            Topic(
                name=f"t{i}",
                title=f"t{i}",
                any=tuple(chosen[:-2]),
                all=tuple(chosen[-2:-1]),
                none=tuple(chosen[-1:]),
            )
        )
    return out


def articles(arabic: list[str], french: list[str], count: int, rng: random.Random) -> list[Article]:
    """`count` articles of real length: an Arabic body, or five French leads joined."""
    out = []
    for i in range(count):
        if i % 2:
            out.append(Article(title="", body=rng.choice(arabic), language="ar", source="s"))
        else:
            out.append(Article(title="", body=" ".join(rng.sample(french, 5)), language="fr", source="s"))
    return out


def baseline_rate(terms: list[str], sample: list[Article]) -> float:
    """Articles per second for one compiled regex per term, looped, on normalised text."""
    patterns = [re.compile(rf"(?<!\w){re.escape(normalize(t))}(?!\w)") for t in terms]
    started = time.perf_counter()
    for article in sample:
        text = normalize(article.body)
        _ = [p for p in patterns if p.search(text)]
    return len(sample) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--terms", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=300)
    parser.add_argument(
        "--skip", type=int, default=1000, help="leave out this many most frequent words (200: a stress test)"
    )
    args = parser.parse_args()
    rng = random.Random(7)
    arabic, french = corpus()
    terms = vocabulary(arabic + french, args.terms, rng, args.skip)
    topics = build_topics(terms, args.topics, rng)
    sample = articles(arabic, french, args.articles, rng)
    started = time.perf_counter()
    matcher = Matcher(topics)
    build = time.perf_counter() - started
    started = time.perf_counter()
    matched = sum(len(matcher.match(a)) for a in sample)
    elapsed = time.perf_counter() - started
    rate = len(sample) / elapsed
    base = baseline_rate(terms, sample[: args.baseline])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chars = sum(len(a.body) for a in sample) / len(sample)
    print(
        f"{len(topics)} topics, {len({t for tp in topics for t in tp.terms()})} terms "
        f"(the {args.skip} commonest words left out); "
        f"{len(sample)} articles of {chars:.0f} characters on average; automaton built in {build:.2f} s"
    )
    print(f"matcher:  {rate:8.0f} articles/s ({matched} topic matches)")
    print(f"baseline: {base:8.1f} articles/s (one regex per term, on {args.baseline} articles)")
    print(
        f"ratio: {rate / base:.0f}x (target: 20x or more); target 2,000 articles/s: "
        f"{'met' if rate >= 2000 else 'missed'}; peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
