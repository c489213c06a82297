"""Table-driven tests for crawler.extract.dates."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from crawler.extract.dates import format_utc, parse_date, utc_now, utc_now_iso

TABLE = Path(__file__).parent / "tables" / "dates.yaml"
DEFAULT_NOW = "2026-11-25T12:00:00Z"
CASES = yaml.safe_load(TABLE.read_text(encoding="utf-8"))


def _case_id(case: dict) -> str:
    """Readable pytest id: the text itself, with whitespace made visible."""
    return repr(case["text"]) + (f"@{case['now']}" if "now" in case else "")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_parse_date(case: dict) -> None:
    now = datetime.fromisoformat(case.get("now", DEFAULT_NOW))
    result = parse_date(case["text"], now=now)
    if case["expected"] is None:
        assert result is None
    else:
        assert result is not None
        assert result.utcoffset() == timedelta(0)
        assert format_utc(result) == case["expected"]


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 45
    assert all(set(c) <= {"text", "expected", "now"} for c in CASES)


def test_parse_date_rejects_non_strings() -> None:
    assert parse_date(None) is None  # type: ignore[arg-type]


def test_parse_date_naive_now_is_utc() -> None:
    naive = parse_date("Il y a 6 heures", now=datetime(2026, 11, 25, 12))
    aware = parse_date("Il y a 6 heures", now=datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert naive == aware == datetime(2026, 11, 25, 6, tzinfo=UTC)


def test_parse_date_other_timezone() -> None:
    result = parse_date("25-11-2024 09:00", tz="Europe/Paris", now=datetime(2026, 1, 1))
    assert result == datetime(2024, 11, 25, 8, tzinfo=UTC)
    result = parse_date("25-11-2024 09:00", tz="UTC", now=datetime(2026, 1, 1))
    assert result == datetime(2024, 11, 25, 9, tzinfo=UTC)


def test_parse_date_default_now_is_current_time() -> None:
    result = parse_date("il y a 1 heure")
    assert result is not None
    assert abs(utc_now() - timedelta(hours=1) - result) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime(2025, 4, 7, 11, 18, 5, 999999, tzinfo=UTC), "2025-04-07T11:18:05Z"),
        (datetime(2025, 4, 7, 12, 18, tzinfo=timezone(timedelta(hours=1))), "2025-04-07T11:18:00Z"),
        (datetime(2025, 4, 7, 11, 18), "2025-04-07T11:18:00Z"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
    ],
)
def test_format_utc(dt: datetime, expected: str) -> None:
    assert format_utc(dt) == expected


def test_utc_now() -> None:
    now = utc_now()
    assert now.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=5)
    iso = utc_now_iso()
    assert len(iso) == 20 and iso.endswith("Z")
    assert abs(datetime.fromisoformat(iso) - now) < timedelta(seconds=5)
