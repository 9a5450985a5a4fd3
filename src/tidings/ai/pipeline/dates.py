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
from datetime import date, datetime, timedelta

import dateparser
from dateparser.date import DateDataParser
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


def _settings(now: datetime, ahead: bool = False) -> dict[str, object]:
    return {
        "RELATIVE_BASE": now,
        "PREFER_DATES_FROM": "future" if ahead else "past",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }


def _looks_like_date(phrase: str) -> bool:
    words = re.findall(r"[\w'-]+", unicodedata.normalize("NFC", phrase.lower()))
    return any(w in _DATE_WORDS or w.isdigit() for w in words)


def parse_day(phrase: str, now: datetime, *, ahead: bool = False) -> date | None:
    """The day a phrase names, or None. Ambiguous days ("vendredi") are taken in the
    past (mail that came), or ahead with ``ahead`` (a calendar: the coming one)."""
    text = phrase.strip().rstrip("?.!").strip()
    text = _LEADING.sub("", text)
    last = _LAST_WEEKDAY_FR.match(text)
    if last and not ahead:
        text = last[1]  # with PREFER_DATES_FROM=past a bare weekday is the last one
    if not text or not _looks_like_date(text):
        return None
    parsed = dateparser.parse(text, languages=LANGUAGES, settings=_settings(now, ahead))
    if parsed is None:
        return None
    day: date = parsed.date()
    if ahead and day == now.date() and _WEEKDAY.search(text.lower()):
        # "on Wednesday", said on a Wednesday, is next week's in a calendar.
        return day + timedelta(days=7)
    return day


def find_day(text: str, now: datetime, *, ahead: bool = False) -> tuple[str, date] | None:
    """The first day named anywhere in ``text``, with the words that name it."""
    text = _without_clock(text)
    found = search_dates(text, languages=LANGUAGES, settings=_settings(now, ahead))
    for phrase, _ in found or []:
        day = parse_day(phrase, now, ahead=ahead)
        if day is not None:
            return phrase, day
    return None


# "15h", "9 h 30": French clock times dateparser reads as durations ("15 hours ago").
_FRENCH_CLOCK = re.compile(r"\b([01]?\d|2[0-3])\s*h\s*([0-5]\d)?\b", re.IGNORECASE)
_WEEKDAY = re.compile(
    r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday)\b"
)
_clock_parser = DateDataParser(languages=LANGUAGES, settings={"RETURN_TIME_AS_PERIOD": True})


def _without_clock(text: str) -> str:
    return _FRENCH_CLOCK.sub(lambda m: f"{int(m[1]):02d}:{m[2] or '00'}", text)


def parse_time(phrase: str) -> str | None:
    """The clock time a phrase names as ``HH:MM`` ("midi", "noon", "3pm", "15h30",
    "at 10:30"), or None — only when it names a time of day, not a day."""
    text = _without_clock(phrase.strip().rstrip("?.!"))
    if not text:
        return None
    found = _clock_parser.get_date_data(text)
    if found.date_obj is None or found.period != "time":
        return None
    return str(found.date_obj.strftime("%H:%M"))


def find_time(text: str) -> tuple[str, str] | None:
    """The first clock time named anywhere in ``text``, with the words that name it."""
    words = _without_clock(text).split()
    for length in (3, 2, 1):
        for start in range(len(words) - length + 1):
            phrase = " ".join(words[start : start + length])
            if not re.search(r"\d|midi|minuit|noon|midnight", phrase, re.IGNORECASE):
                continue
            clock = parse_time(phrase)
            if clock is not None:
                return phrase, clock
    return None


_COUNTS = {
    "a": 1, "an": 1, "one": 1, "un": 1, "une": 1, "two": 2, "deux": 2, "three": 3,
    "trois": 3, "four": 4, "quatre": 4,
}  # fmt: skip
_AMOUNT = r"(\d+(?:[.,]5)?|a|an|one|un|une|two|deux|three|trois|four|quatre)"
_DURATIONS = [
    # "an hour and a half", "une heure et demie", "1h30" after "pour"/"for"
    (re.compile(rf"\b{_AMOUNT}\s+(?:hours?|heures?)\s+(?:and a half|et demie)\b"), 60, 30),
    (re.compile(r"\b(?:half an hour|une demi-heure|demi-heure|half-hour|half hour)\b"), 0, 30),
    (re.compile(rf"\b{_AMOUNT}\s*(?:hours?|heures?|hrs?)\b"), 60, 0),
    (re.compile(rf"\b{_AMOUNT}\s*(?:minutes?|mins?)\b"), 1, 0),
    (re.compile(r"\b(?:pour|for|pendant|during|de|d)\s+(\d{1,2})h([0-5]\d)?\b"), 60, 0),
]


def find_duration(text: str) -> tuple[str, int] | None:
    """A length of time named in ``text``, in minutes ("a free hour", "d'une heure",
    "30 minutes", "une heure et demie", "pour 1h30"), with the words that name it. A
    clock time ("à 15h") is not one."""
    folded = unicodedata.normalize("NFC", text.lower()).replace("’", "'").replace("'", " ")
    folded = re.sub(r"\b(an?|une?)\s+(?:free|libre)\s+(hour|heure)", r"\1 \2", folded)
    for pattern, unit, extra in _DURATIONS:
        match = pattern.search(folded)
        if match is None:
            continue
        if match.groups() and pattern.groups == 2:  # "pour 1h30"
            minutes = int(match[1]) * 60 + int(match[2] or 0)
        elif match.groups():
            amount = match[1]
            number = _COUNTS.get(amount) or float(amount.replace(",", "."))
            minutes = int(number * unit) + extra
        else:
            minutes = extra
        if minutes > 0:
            return match[0], minutes
    return None


def week_range(text: str, now: datetime) -> tuple[date, int] | None:
    """ "this week", "next week", "la semaine prochaine": its first day still to
    come and how many days are left of it, for a calendar."""
    lowered = text.lower()
    monday = now.date() - timedelta(days=now.weekday())
    if re.search(r"\bnext week\b|\bsemaine prochaine\b|\bprochaine semaine\b", lowered):
        return monday + timedelta(days=7), 7
    if re.search(r"\bthis week\b|\bcette semaine\b", lowered):
        return now.date(), 7 - now.weekday()
    return None
