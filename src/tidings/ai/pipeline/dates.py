"""Days named in a request ("hier", "since Monday", "il y a 3 jours"), read by code.

A 270M model cannot do calendar arithmetic, and even a large one should not be
trusted to: the date a tool receives is always computed here, relative to the
request's own "now". dateparser does the FR/EN parsing; this module adds the few
phrasings it misses ("lundi dernier", a leading "depuis"/"since") and keeps its
search from reading ordinary words as dates (it takes "je" for a day).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

import dateparser
from dateparser.search import search_dates

LANGUAGES = ["fr", "en"]

_LEADING = re.compile(
    r"^(?:depuis|since|from|after|à partir d[eu']|a partir d[eu']|après|apres|le|on|du)\s+",
    re.IGNORECASE,
)
_LAST_WEEKDAY_FR = re.compile(r"^(\w+)\s+derni(?:er|ère|ere)$", re.IGNORECASE)
# Words that make a found phrase really a date (dateparser's search also matches
# pronouns and single letters in French).
_DATE_WORDS = {
    "hier",
    "aujourd'hui",
    "aujourdhui",
    "avant-hier",
    "demain",
    "semaine",
    "mois",
    "jour",
    "jours",
    "an",
    "ans",
    "yesterday",
    "today",
    "tomorrow",
    "week",
    "month",
    "day",
    "days",
    "year",
    "ago",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "janvier",
    "février",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "decembre",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
}


def _settings(now: datetime) -> dict[str, object]:
    return {"RELATIVE_BASE": now, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}


def _looks_like_date(phrase: str) -> bool:
    words = re.findall(r"[\w'-]+", unicodedata.normalize("NFC", phrase.lower()))
    return any(w in _DATE_WORDS or w.isdigit() for w in words)


def parse_day(phrase: str, now: datetime) -> date | None:
    """The day a phrase names, or None. Ambiguous days are taken in the past."""
    text = phrase.strip().rstrip("?.!").strip()
    text = _LEADING.sub("", text)
    last = _LAST_WEEKDAY_FR.match(text)
    if last:
        text = last[1]  # with PREFER_DATES_FROM=past a bare weekday is the last one
    if not text or not _looks_like_date(text):
        return None
    parsed = dateparser.parse(text, languages=LANGUAGES, settings=_settings(now))
    return parsed.date() if parsed is not None else None


def find_day(text: str, now: datetime) -> tuple[str, date] | None:
    """The first day named anywhere in ``text``, with the words that name it."""
    found = search_dates(text, languages=LANGUAGES, settings=_settings(now))
    for phrase, _ in found or []:
        day = parse_day(phrase, now)
        if day is not None:
            return phrase, day
    return None
