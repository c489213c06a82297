"""Parse dates as Moroccan news sites write them (ar/fr/en) and normalise them to UTC."""

from __future__ import annotations

import email.utils
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dateparser

DEFAULT_TZ = "Africa/Casablanca"
MIN_YEAR = 1990
MAX_FUTURE = timedelta(days=2)

# Arabic-Indic and Persian digits; int() copes with them but dateparser and our regexes
# are simpler on ASCII.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)

# Keys are normalised (casefolded, accents and hamza stripped, see _normalize).
_MONTH_NAMES = (
    "janvier janv jan january يناير",
    "fevrier fevr fev feb february فبراير",
    "mars mar march مارس",
    "avril avr apr april ابريل",
    "mai may ماي مايو",
    "juin jun june يونيو يونيه",
    "juillet juil jul july يوليوز يوليو يوليه",
    "aout aou aug august غشت اغسطس",
    "septembre sept sep september شتنبر سبتمبر",
    "octobre oct october اكتوبر",
    "novembre nov november نونبر نوفمبر",
    "decembre dec december دجنبر ديسمبر",
)
MONTHS = {name: i for i, names in enumerate(_MONTH_NAMES, 1) for name in names.split()}

_UNIT_NAMES = {
    1: "s sec secs second seconds seconde secondes ثانية ثوان ثواني",
    60: "min mins mn minute minutes دقيقة دقيقه دقائق",
    3600: "h hr hrs hour hours heure heures ساعة ساعه ساعات",
    86400: "j jour jours day days يوم ايام",
    604800: "sem semaine semaines week weeks اسبوع اسابيع",
    # Months and years are approximate; sites only show them for items old enough that
    # a day's error does not matter.
    30 * 86400: "mois month months شهر اشهر شهور",
    365 * 86400: "an ans year years سنة سنوات عام اعوام",
}
_UNITS = {name: secs for secs, names in _UNIT_NAMES.items() for name in names.split()}
# Arabic duals carry the count in the word itself: منذ يومين = two days ago.
_DUALS = {
    name: _UNITS[single]
    for name, single in (
        ("ثانيتين", "ثانية"),
        ("دقيقتين", "دقيقة"),
        ("ساعتين", "ساعة"),
        ("يومين", "يوم"),
        ("اسبوعين", "اسبوع"),
        ("شهرين", "شهر"),
        ("سنتين", "سنة"),
        ("عامين", "عام"),
    )
}

_PREFIX = re.compile(
    r"^(?:(?:publie|mis a jour|mise a jour|modifie|mis en ligne|posted|published|updated"
    r"|last updated|le|on|نشر في|نشر|تاريخ النشر|اخر تحديث|بتاريخ|يوم|في)\b\s*:?\s*)+"
)
_PUBLISHED = re.compile(r"publie|published|posted|نشر|تاريخ النشر")
_WEEKDAY = re.compile(
    r"^(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday|(?:mon|tue|wed|thu|fri|sat|sun)(?=,)"
    r"|(?:ال)?(?:اثنين|ثلاثاء|اربعاء|خميس|جمعة|سبت|احد))\.?,?\s+"
)
_TIME = (
    r"(?:\s*(?:a|at|-|–|في|الساعة|على الساعة)?\s*(?P<H>\d{1,2})\s*[h:]\s*(?P<M>\d{2})?"
    r"(?::(?P<S>\d{2}))?\s*(?:(?P<ap>[ap])\.?m\.?)?)?"
    r"(?:\s*\(?(?P<tz>(?:utc|gmt)\s*[+-]\d{1,2}(?::?\d{2})?|[+-]\d{2}:?\d{2}|z|utc|gmt)\)?)?"
)
_WORD = r"(?P<m>[^\W\d_]+)\.?"
_DATE_FORMS = [
    re.compile(core + _TIME)
    for core in (
        r"(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4}|\d{2})",
        r"(?P<y>\d{4})[/.-](?P<m>\d{1,2})[/.-](?P<d>\d{1,2})",
        r"(?P<d>\d{1,2})(?:er|st|nd|rd|th)?\s+(?:de\s+)?" + _WORD + r"\s+(?P<y>\d{4})",
        _WORD + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?P<y>\d{4})",
    )
]
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_RFC = re.compile(r"^(?:[a-z]{3},\s*)?\d{1,2}\s+[a-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}", re.I)
_DURATION = re.compile(
    r"^(?:il y a|منذ|قبل)\s+(?:(?P<n>\d+|une?)\s+)?(?P<u>[^\W\d_]+)\.?$"
    r"|^(?P<n2>\d+|an?)\s+(?P<u2>[^\W\d_]+)\.?\s+ago$"
)
_RELATIVE = re.compile(r"\b(?:il y a|ago|hier|aujourd|yesterday|today|منذ|قبل|امس|البارحة|اليوم)\b")


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def utc_now_iso() -> str:
    """Return the current time formatted by format_utc."""
    return format_utc(utc_now())


def format_utc(dt: datetime) -> str:
    """Format dt as YYYY-MM-DDTHH:MM:SSZ in UTC; naive input is taken as UTC."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    # isoformat() zero-pads the year, strftime("%Y") does not on every platform.
    return dt.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_utc(stamp: str) -> datetime:
    """Read back a stamp written by format_utc (YYYY-MM-DDTHH:MM:SSZ) as an aware UTC datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def parse_date(text: str, *, now: datetime | None = None, tz: str = DEFAULT_TZ) -> datetime | None:
    """Parse a news-site date string to an aware UTC datetime, or None if it is not a date."""
    if not isinstance(text, str) or not text.strip():
        return None
    now = _as_utc(now or utc_now())
    whole = _parse_one(text, now, ZoneInfo(tz))
    if whole is not None or "|" not in text:
        return whole
    # "Publié le 26/11/2019 à 14h05 | Mis à jour le …" (a date on each side; "26 novembre 2019 |
    # 15:00" parses whole): the publication's part first, else the first that parses.
    parts = sorted(text.split("|"), key=lambda part: not _PUBLISHED.search(_normalize(part)))
    return next((found for part in parts if (found := _parse_one(part, now, ZoneInfo(tz)))), None)


def _parse_one(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    raw = " ".join(text.translate(_DIGITS).split())
    result = _parse_machine(raw, zone)
    if result is None:
        norm = _strip_prefixes(_normalize(raw))
        result = _parse_duration(norm, now)
        if result is None:
            result = _parse_grammar(norm, zone, now)
        if result is None:
            result = _parse_fallback(raw, norm, zone, now)
    return _plausible(result, now)


def _as_utc(dt: datetime) -> datetime:
    """Return dt as aware UTC; naive input is taken as UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Interpret a naive wall-clock time in zone and convert it to UTC."""
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _plausible(dt: datetime | None, now: datetime) -> datetime | None:
    """Reject dates before MIN_YEAR or more than MAX_FUTURE after now."""
    if dt is None or dt.year < MIN_YEAR or dt > now + MAX_FUTURE:
        return None
    return dt


def _parse_machine(raw: str, zone: ZoneInfo) -> datetime | None:
    """Fast path for ISO 8601 and RFC 822 strings (feeds, JSON-LD, time[datetime])."""
    try:
        if _ISO.match(raw):
            dt = datetime.fromisoformat(raw)
        elif _RFC.match(raw):
            dt = email.utils.parsedate_to_datetime(raw)
            if dt.tzinfo is None and raw.endswith("-0000"):
                # RFC 5322: -0000 means UTC with the sender's zone unknown.
                dt = dt.replace(tzinfo=UTC)
        else:
            return None
    except (TypeError, ValueError, IndexError):
        return None
    return _localize(dt, zone) if dt.tzinfo is None else dt.astimezone(UTC)


def _normalize(text: str) -> str:
    """Casefold, drop accents/hamza/tashkeel/tatweel and separators so month tables match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ـ", ""))
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = re.sub(r"[|,،'’\u200e\u200f]", " ", text)
    return " ".join(text.split())


def _strip_prefixes(norm: str) -> str:
    """Remove 'Publié le', 'Mis à jour le', Arabic equivalents and a leading weekday."""
    norm = _PREFIX.sub("", norm)
    return _WEEKDAY.sub("", norm)


def _parse_duration(norm: str, now: datetime) -> datetime | None:
    """Handle 'il y a 6 heures', 'منذ يومين', '3 hours ago' exactly, from now."""
    match = _DURATION.match(norm)
    if not match:
        return None
    unit = match["u"] or match["u2"]
    count = match["n"] or match["n2"]
    if unit in _DUALS and count is None:
        return now - timedelta(seconds=2 * _DUALS[unit])
    if unit not in _UNITS:
        return None
    n = int(count) if count and count.isdigit() else 1
    return now - timedelta(seconds=n * _UNITS[unit])


def _parse_grammar(norm: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """Parse day-first numeric and month-name dates with an optional time and offset."""
    for form in _DATE_FORMS:
        match = form.fullmatch(norm)
        if match:
            return _build(match, zone, now)
    return None


def _build(match: re.Match[str], zone: ZoneInfo, now: datetime) -> datetime | None:
    """Turn a _DATE_FORMS match into an aware UTC datetime."""
    month = int(match["m"]) if match["m"].isdigit() else MONTHS.get(match["m"])
    year = int(match["y"])
    if year < 100:
        year += 2000 if 2000 + year <= now.year + 1 else 1900
    hour = int(match["H"] or 0)
    if match["ap"] == "p" and hour < 12:
        hour += 12
    elif match["ap"] == "a" and hour == 12:
        hour = 0
    try:
        naive = datetime(year, month or 0, int(match["d"]), hour, int(match["M"] or 0), int(match["S"] or 0))
    except ValueError:
        return None
    offset = _offset(match["tz"])
    return _localize(naive, zone) if offset is None else naive.replace(tzinfo=UTC) - offset


def _offset(text: str | None) -> timedelta | None:
    """Parse an explicit offset such as 'Z', 'GMT', '+01:00' or 'GMT+1'; None if absent."""
    if not text:
        return None
    match = re.search(r"([+-])(\d{1,2}):?(\d{2})?$", text)
    if not match:
        return timedelta(0)
    delta = timedelta(hours=int(match[2]), minutes=int(match[3] or 0))
    return -delta if match[1] == "-" else delta


def _parse_fallback(raw: str, norm: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """Ask dateparser, only for relative phrases or strings with digits we did not parse."""
    relative = bool(_RELATIVE.search(norm))
    if not relative and not any(c.isdigit() for c in raw):
        return None
    settings = {
        "DATE_ORDER": "DMY",
        "PREFER_LOCALE_DATE_ORDER": False,
        # Only relative phrases can leave the day open (strict parsing needs one): keep it.
        "PREFER_DAY_OF_MONTH": "current",
        "PREFER_DATES_FROM": "past",
        "TIMEZONE": zone.key,
        # Naive local output: zoneinfo, not pytz, does the conversion to UTC.
        "RETURN_AS_TIMEZONE_AWARE": False,
        "RELATIVE_BASE": now.astimezone(zone).replace(tzinfo=None),
        # Absolute strings must be complete; bare numbers must not become timestamps.
        "STRICT_PARSING": not relative,
        "PARSERS": ["relative-time", "absolute-time"] if relative else ["absolute-time"],
    }
    parsed = dateparser.parse(raw, languages=["fr", "ar", "en"], settings=settings)
    return None if parsed is None else _localize(parsed.replace(tzinfo=None), zone)
