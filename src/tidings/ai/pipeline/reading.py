"""What a request says about the things it is about, read by code.

People speak in compositions: a person, a topic, a time, a flag, an ordinal, "it"
("what did alice write about dinner?", "lis le dernier mail de la banque", "move the
newsletters from last week to the trash"). Whatever tool the request is for, these
pieces mean the same, so they are read once, here, into a :class:`Reading`:

- **people**: the user's correspondents and contacts named in the request (a first
  name, a full name, an address, or a word of their address: "la banque" finds
  Banque Populaire <info@banque-populaire.fr>), each with its role (from, to, any);
- **a period**: dateparser finds the day a phrase names ("hier", "last Monday",
  "le 3 mars"); the words around it say whether it is that day, that week, that
  month, or a start or end ("depuis lundi", "before March 3");
- **flags**: unread, flagged, with attachments — the words come with the tool that
  can filter on them (``_meta["tidings/finds"]["words"]``);
- **which one**: "the latest", "le deuxième", "the oldest", "the last 3";
- **it**: "read it", "réponds-lui", "celui-ci";
- **the words to write**, after "que", "that", "saying";
- **the topic**: the words left when everything above, the request's frame (every
  literal word of every tool's sentence templates: "show", "mails", "cherche") and
  function words (the ``stop-words`` lists) are taken out, lemmatised by
  ``simplemma`` so that "factures" finds "facture".

Nothing here knows a tool by name: the vocabulary comes from the tools in play.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import simplemma
from stop_words import get_stop_words

from tidings.ai.language import Language
from tidings.ai.pipeline.dates import parse_day
from tidings.ai.pipeline.grounding import Contact, fold, names_of
from tidings.ai.pipeline.tools import Tool

Role = Literal["from", "to", "any"]
FLAGS = ("unread", "flagged", "attachments")

_TOKEN = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\d+(?:er|re|e|ème|eme|nd|rd|th|st)?\b|\w+(?:-\w+)*"
)
_ADDRESS = re.compile(r"^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$")


# -- the runtime's own words: how people point at things, whatever the tools ----------
# Ordinals: 1 is the newest (the first a list shows), -1 the oldest.
_ORDINALS: dict[str, int] = {
    "latest": 1, "last": 1, "newest": 1, "recent": 1, "first": 1, "1st": 1,
    "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5,
    "oldest": -1, "earliest": -1,
    "dernier": 1, "derniere": 1, "derniers": 1, "dernieres": 1, "premier": 1, "premiere": 1,
    "1er": 1, "1re": 1,
    "deuxieme": 2, "seconde": 2, "2e": 2, "2eme": 2,
    "troisieme": 3, "3e": 3, "3eme": 3, "quatrieme": 4, "4e": 4, "cinquieme": 5, "5e": 5,
}  # fmt: skip
_ORDINAL_PHRASES: dict[str, int] = {
    "most recent": 1, "plus recent": 1, "plus recente": 1, "plus ancien": -1,
    "plus ancienne": -1, "plus vieux": -1, "plus vieille": -1,
}  # fmt: skip
_PRONOUNS = {
    "it", "this one", "that one", "this email", "this mail", "this message", "that email",
    "that mail", "that message", "the one", "celui ci", "celui la", "celle ci", "celle la",
    "celui-ci", "celui-la", "celle-ci", "celle-la",
    "ce mail", "ce message", "ce courriel", "cet e mail", "cet email", "ce mel",
}  # fmt: skip
_HYPHEN_PRONOUN = re.compile(r"\w-(?:le|la|les|lui|leur)\b", re.IGNORECASE)
# Words after which a request says what to write.
_MESSAGE_MARKERS = (
    " saying ", " to say ", " that ", " telling them ", " tell them ", ": ",
    " que ", " qu'", " qu’", " disant ", " pour dire ", " pour lui dire ",
)  # fmt: skip
# Words before a topic.
_TOPIC_MARKERS = {
    "about", "regarding", "concerning", "re", "subject", "titled", "called", "mentioning",
    "containing", "mentions", "sur", "propos", "sujet", "concernant", "objet", "intitule",
    "parle", "parlent", "parlant", "mentionne", "contenant",
}  # fmt: skip
# Words before a person, by role.
_FROM_WORDS = {"from", "by", "de", "d", "par", "du", "des", "s", "sent", "wrote", "ecrit"}
_TO_WORDS = {"to", "a", "au", "aux", "pour", "for"}
_WITH_WORDS = {"with", "avec", "between", "entre"}
_ARTICLES = {"the", "my", "our", "la", "le", "l", "les", "ma", "mon", "mes", "notre", "nos"}
# What the user did to a person when they say "I sent Bob", "j'ai écrit à Léa".
_SENDING = {"send", "sent", "wrote", "write", "emailed", "mailed", "envoye", "ecrit"}
_FIRST_PERSON = {"i", "je", "j"}
# Around a one-word folder name ("my archive", "les envoyés", "junk folder").
_FOLDER_BEFORE = {
    "in", "into", "to", "my", "the", "from", "dans", "la", "les", "le", "mes", "ma", "aux",
    "des", "du", "en", "de", "a", "au", "l",
}  # fmt: skip
_FOLDER_AFTER = {"folder", "dossier", "box", "mails", "emails", "messages", "courriels"}
# Periods whose span dateparser does not give.
_WEEK = {"week", "semaine"}
_MONTH = {"month", "mois"}
_PREVIOUS = {"last", "previous", "past", "derniere", "dernier", "passee", "passe", "precedente"}
_THIS = {"this", "cette", "ce", "current", "courante", "courant", "en", "cours"}
_SINCE_WORDS = {"since", "after", "depuis", "apres", "partir"}
_UNTIL_WORDS = {"before", "until", "avant", "jusqu"}
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
    "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
}  # fmt: skip
_DAY_WORDS = {
    "today", "yesterday", "tomorrow", "aujourd", "hui", "hier", "avant", "demain", "ago", "il",
    "y", "jours", "days", "day", "jour", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday", "lundi", "mardi", "mercredi", "jeudi", "vendredi",
    "samedi", "dimanche", "on", "le", "the", "of", "last", "dernier", "derniere",
}  # fmt: skip
# Politeness and chatter that is never a topic, in either language.
_CHATTER = {
    "please", "pls", "plz", "thanks", "thank", "can", "could", "would", "you", "me", "i",
    "want", "like", "need", "hey", "hi", "ok", "okay", "just", "quickly", "quick", "mail",
    "mails", "email", "emails", "e", "message", "messages", "courriel", "courriels", "mel",
    "mels", "one", "ones", "stp", "svp", "merci", "peux", "pourrais", "voudrais", "veux",
    "aimerais", "besoin", "tu", "vous", "moi", "je", "j", "m", "l", "t", "s", "n", "qu",
    "celui", "celle", "ceux", "celles", "thing", "stuff", "truc", "any", "all", "tous",
    "toutes", "tout", "get", "got", "have", "has", "do", "does", "did", "est", "ce", "a",
    "ai", "as", "avez", "avons", "some", "thread", "fil", "conversation", "echange",
    "echanges", "discussion", "letter", "note", "notes", "inbox", "mailbox", "boite",
    "reception", "there", "here", "anything", "something", "quelque", "chose", "rien",
    "received", "receive", "recu", "recus", "recue", "recues", "arrived", "came", "folder",
    "dossier", "dossiers", "folders", "show", "find", "look", "looking", "see", "voir",
    "lire", "ouvrir", "afficher", "montrer", "chercher", "trouver", "retrouver", "envoyer",
    "ecrire", "repondre", "supprimer", "effacer", "deplacer", "archiver", "marquer",
    "lister", "celui-ci", "celui-la", "celle-ci", "celle-la", "open", "read",
    "tell", "dis", "dire", "donne", "give", "time", "heure", "quand", "when", "where", "ou",
    "much", "cost", "coute", "coutent", "how", "comment", "why", "pourquoi", "date",
    "nothing", "qui", "quoi", "what", "which", "who", "whom", "dit", "said", "say", "says",
    "pull", "up",
    "write", "wrote", "written", "ecrit", "ecrite", "envoye", "envoyes", "sent", "send",
    # the assistant's own abilities (count, summarize, tell an address)
    "summarize", "summarise", "summary", "sum", "resume", "resumer", "recap",
    "recapitulatif", "digest", "brief", "catch", "point", "count", "many", "combien",
    "nombre", "number", "address", "adresse", "needs", "waiting", "attend", "daily",
    "quotidien", "quotidienne", "overview", "update", "updates", "apercu",
    "attendent", "answer", "reply", "reponse", "demandent",
}  # fmt: skip


# The same topic in the other language: a household writes and receives mail in
# both, and "the invoice" must find « Votre facture de mars ». Words of everyday
# mail (bills, appointments, travel, school, home), English → French.
_GLOSSARY_PAIRS = """
    invoice:facture bill:facture receipt:recu payment:paiement bank:banque
    meeting:reunion appointment:rendez-vous doctor:docteur,medecin,dr dinner:diner
    lunch:dejeuner breakfast:petit-dejeuner party:fete birthday:anniversaire
    quote:devis estimate:devis parcel:colis package:colis delivery:livraison
    order:commande ticket:billet tickets:billets train:train flight:vol trip:voyage
    holiday:vacances holidays:vacances vacation:vacances leave:conge,conges school:ecole
    teacher:professeur,maitresse class:classe homework:devoirs rent:loyer tax:impots
    insurance:assurance contract:contrat salary:salaire pay:paie budget:budget
    report:rapport newsletter:newsletter photos:photos photo:photo picture:photo
    car:voiture house:maison flat:appartement apartment:appartement building:immeuble
    choir:chorale concert:concert recipe:recette cake:gateau plumber:plombier
    heater:chauffe-eau water:eau electricity:electricite energy:energie card:carte
    account:compte statement:releve alert:alerte password:passe security:securite
    shopping:courses groceries:courses bread:pain weekend:week-end ski:ski snow:neige
    chains:chaines demo:demo project:projet deadline:echeance visit:visite
    cinema:cinema movie:film garden:jardin gardening:jardin,jardinage news:nouvelles
    co-ownership:copropriete
    condo:copropriete deposit:acompte,caution refund:remboursement price:prix
    team:equipe office:bureau work:travail job:travail summer:ete winter:hiver
    hotel:hotel booking:reservation reservation:reservation chalet:chalet
"""


def _glossary() -> dict[str, list[str]]:
    both: dict[str, list[str]] = {}

    def add(key: str, word: str) -> None:
        if word not in both.setdefault(key, []):
            both[key].append(word)

    for pair in _GLOSSARY_PAIRS.split():
        english, french = pair.split(":")
        for word in french.split(","):
            # Topics are lemmas ("meeting" is read as "meet"): both forms are keys.
            for key in (english, fold(str(simplemma.lemmatize(english, lang="en")))):
                add(key, word)
            for key in (word, fold(str(simplemma.lemmatize(word, lang="fr")))):
                add(key, english)
    return both


GLOSSARY = _glossary()


def translations(word: str) -> list[str]:
    """``word`` in the other language, when the glossary knows it (likeliest first)."""
    return GLOSSARY.get(fold(word), [])


@dataclass(frozen=True)
class Mention:
    """People the request names by ``words``: one contact, or several that share
    the name (then the user must say which)."""

    words: str
    contacts: tuple[Contact, ...]
    role: Role = "any"


@dataclass
class Reading:
    text: str
    language: Language
    people: list[Mention] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    """The day after the last one: ``until`` itself is not included."""
    flags: set[str] = field(default_factory=set)
    folder: str | None = None
    ordinal: int | None = None
    count: int | None = None
    """"the last 3 mails": how many."""
    pronoun: bool = False
    message: str | None = None
    """The words to write, as the user wrote them."""
    topic: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    """A topic word (a lemma) → the form the request wrote, where they differ
    ("renouvele" for "renouveler"): a search matches the mail's own words."""

    @property
    def describes(self) -> bool:
        """Says enough to find something without an identifier."""
        return bool(
            self.people
            or self.topic
            or self.since
            or self.until
            or self.flags
            or self.ordinal is not None
            or self.count is not None
        )

    def person(self, role: Role | None = None) -> Mention | None:
        for mention in self.people:
            if role is None or mention.role == role or mention.role == "any":
                return mention
        return None


@dataclass(frozen=True)
class Token:
    folded: str
    start: int
    end: int


def tokens(text: str) -> list[Token]:
    """Words, addresses and numbers. A hyphenated word stays whole when it is one
    ("rendez-vous", "week-end", "chauffe-eau"), not when it is a verb and its
    pronoun ("lis-le", "réponds-lui")."""
    out = []
    for match in _TOKEN.finditer(text):
        word = match.group()
        if "-" in word and "@" not in word and not _compound(word):
            start = match.start()
            for part in re.finditer(r"\w+", word):
                out.append(Token(fold(part.group()), start + part.start(), start + part.end()))
            continue
        out.append(Token(fold(word) if "@" not in word else word.lower(), *match.span()))
    return out


@lru_cache(maxsize=4096)
def _compound(word: str) -> bool:
    lowered = word.lower()
    known = simplemma.is_known(lowered, "fr") or simplemma.is_known(lowered, "en")
    return bool(known or fold(word) in GLOSSARY)


def _bare(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=4)
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(_bare(w) for w in get_stop_words(language))


def stop(word: str) -> bool:
    """A function word or chatter in either language: never what a request is about."""
    return word in _stop_words("en") or word in _stop_words("fr") or word in _CHATTER


class Vocabulary:
    """What the tools in play say about how people ask for things: the literal words
    of their templates (the request's frame), the words of listed values (folders),
    and the words of the flags their finders filter on."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        frame: set[str] = set()
        folders: dict[str, str] = {}
        flag_words: dict[str, set[str]] = {flag: set() for flag in FLAGS}
        for tool in tools:
            for language, blocks in tool.intents.items():
                if language == "lists":
                    continue
                for block in blocks:
                    for sentence in block.get("sentences") or []:
                        literal = re.sub(r"\{[^}]*\}", " ", str(sentence))
                        frame.update(t.folded for t in tokens(literal))
            finds = tool.meta.get("tidings/finds") or {}
            folder_argument = (finds.get("filters") or {}).get("folder")
            if folder_argument:
                for value, words in tool.synonyms(folder_argument).items():
                    for word in [value, *words]:
                        folders[fold(word)] = value
            for flag, by_language in (finds.get("words") or {}).items():
                if flag in flag_words:
                    for words in by_language.values():
                        flag_words[flag].update(fold(w) for w in words)
        self.frame = frozenset(frame)
        self.folders = folders
        self.flag_words = flag_words


def _phrase_at(words: list[str], index: int, phrases: Iterable[str]) -> int:
    """Length in words of the longest phrase of ``phrases`` starting at ``index``."""
    best = 0
    for phrase in phrases:
        parts = phrase.split()
        if parts and words[index : index + len(parts)] == parts:
            best = max(best, len(parts))
    return best


def _month_range(month: int, now: datetime) -> tuple[date, date]:
    year = now.year if month <= now.month else now.year - 1
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return start, end


def _read_period(words: list[str], used: list[bool], now: datetime, reading: Reading) -> None:
    today = now.date()
    monday = today - timedelta(days=today.weekday())
    n = len(words)
    for i, word in enumerate(words):
        if used[i]:
            continue
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < n else ""
        # "this week", "la semaine dernière", "last month", "ce mois-ci"
        if word in _WEEK or word in _MONTH:
            previous = before in _PREVIOUS or after in _PREVIOUS
            if word in _WEEK:
                start = monday - timedelta(days=7) if previous else monday
                end = monday if previous else None
            else:
                first = today.replace(day=1)
                start = (first - timedelta(days=1)).replace(day=1) if previous else first
                end = first if previous else None
            reading.since, reading.until = start, end
            used[i] = True
            for j in (i - 1, i + 1, i + 2):
                if 0 <= j < n and (words[j] in _PREVIOUS or words[j] in _THIS or words[j] == "ci"):
                    used[j] = True
            _mark_bounds(words, used, i, reading)
            return
        # "in March", "en février" (no day number before it: "3 mars" is a day)
        if word in _MONTHS and not (before.isdigit() or after.isdigit()):
            if word == "may" and before not in {"in", "of", "since", "before", "en", "depuis"}:
                continue  # "may" is mostly the verb
            if word == "mars" and before not in {"en", "de", "depuis", "avant", "mois", "du"}:
                continue  # the planet, a brand: only a month after a preposition
            reading.since, reading.until = _month_range(_MONTHS[word], now)
            used[i] = True
            _mark_bounds(words, used, i, reading)
            return
    # A day: the longest run of words dateparser reads as one.
    for i in range(n):
        if used[i]:
            continue
        for length in (4, 3, 2, 1):
            chunk = words[i : i + length]
            if len(chunk) < length or any(used[i : i + length]):
                continue
            if not any(w in _DAY_WORDS or w in _MONTHS or w.isdigit() for w in chunk):
                continue
            if length == 1 and chunk[0] in {"on", "le", "the", "of", "il", "y", "avant", "last"}:
                continue
            if all(w.isdigit() for w in chunk):
                continue  # a bare number is an id or a count, not a day
            day = parse_day(" ".join(chunk).replace("aujourd hui", "aujourd'hui"), now)
            if day is None:
                continue
            # A day has an end, unless it is today (nothing is after now).
            end = day + timedelta(days=1)
            reading.since, reading.until = day, end if end <= now.date() else None
            for j in range(i, i + length):
                used[j] = True
            _mark_bounds(words, used, i, reading)
            return


def _mark_bounds(words: list[str], used: list[bool], index: int, reading: Reading) -> None:
    """ "since Monday" starts there and has no end; "before the 3rd" ends there."""
    for j in range(max(0, index - 3), index + 1):
        if words[j] in _SINCE_WORDS:
            reading.until = None
            used[j] = True
            return
        if words[j] in _UNTIL_WORDS:
            reading.until, reading.since = reading.since, None
            used[j] = True
            return


def _read_people(
    text: str,
    toks: list[Token],
    words: list[str],
    used: list[bool],
    contacts: Sequence[Contact],
    frame: frozenset[str],
) -> list[Mention]:
    index: dict[tuple[str, ...], list[Contact]] = {}
    for contact in contacts:
        for name in sorted(names_of(contact)):
            index.setdefault(tuple(name.split()), []).append(contact)
    # Typos are looked for among people's names only, not words of their addresses
    # ("newsletters" is no typo for newsletter@…).
    singles = sorted({w for c in contacts for w in fold(c.name).split() if len(w) > 3})
    mentions: list[Mention] = []
    first_person = bool(set(words) & _FIRST_PERSON)
    i = 0
    while i < len(words):
        if used[i]:
            i += 1
            continue
        found: tuple[int, list[Contact]] | None = None
        for length in (3, 2, 1):
            key = tuple(words[i : i + length])
            if len(key) < length or any(used[i : i + length]):
                continue
            if _ADDRESS.match(key[0]) and length == 1:
                found = (1, index.get(key) or [Contact("", key[0])])
                break
            matches = index.get(key)
            if not matches and length == 1:
                # "my bank" for Banque Populaire: the word in the other language.
                matches = [c for t in translations(key[0]) for c in index.get((t,), [])]
                owner = words[i - 1] if i else ""
                if owner not in {"my", "ma", "mon", "la", "le", "the", "de", "from"}:
                    matches = []  # only "my bank", "la banque": a role, not any word
            if not matches and length == 1 and len(key[0]) > 3 and key[0] not in frame:
                # A name typed in a hurry ("alcie"), when it is close to one name only.
                close = difflib.get_close_matches(key[0], singles, n=2, cutoff=0.8)
                if len(close) == 1 and not stop(key[0]):
                    matches = index[(close[0],)]
            if not matches:
                continue
            original = text[toks[i].start : toks[i + length - 1].end]
            # A word of the request's frame or a function word ("mark", "will") is a
            # person only when written with a capital, as names are.
            if length == 1 and (key[0] in frame or stop(key[0])) and not original[0].isupper():
                continue
            found = (length, matches)
            break
        if found is None:
            i += 1
            continue
        length, matches = found
        # The word before the name, past an article ("from the bank", "à ma sœur").
        back = i - 1
        while back > 0 and words[back] in _ARTICLES:
            back -= 1
        before = words[back] if back >= 0 else ""
        after = words[i + length] if i + length < len(words) else ""
        role: Role = "any"
        if before in _SENDING and first_person:  # "what did I send Bob", "j'ai écrit à"
            role = "to"
        elif before in _FROM_WORDS or after == "s":  # "from Bob", "de Bob", "Bob's"
            role = "from"
        elif before in _TO_WORDS:
            role = "to"
        elif before in _WITH_WORDS:
            role = "any"
        # The most recent correspondents first: they are the likelier ones.
        unique = tuple(dict.fromkeys(matches))
        mentions.append(Mention(" ".join(words[i : i + length]), unique, role))
        for j in range(i, i + length):
            used[j] = True
        i += length
    return mentions


def candidate_names(text: str, vocabulary: Vocabulary) -> bool:
    """Whether ``text`` has words that could name a person (so the address book is
    worth fetching): any word that is not frame, function word or number."""
    for token in tokens(text):
        if "@" in token.folded:
            return True
        if token.folded.isdigit() or stop(token.folded) or token.folded in vocabulary.frame:
            continue
        return True
    return False


def read(
    text: str,
    *,
    now: datetime,
    language: Language,
    vocabulary: Vocabulary,
    contacts: Sequence[Contact] = (),
    takes_message: bool = False,
    reserved: Iterable[str] = (),
) -> Reading:
    """Read ``text``. ``takes_message``: the request is for writing something, so
    the words after "que"/"that" are its text, not filters. ``reserved``: words
    another argument already owns (the destination folder of a move)."""
    reading = Reading(text, language)
    body = text
    if takes_message:
        lowered = f" {text} "
        lower_case = lowered.lower()
        cut = min(
            (lower_case.find(m) for m in _MESSAGE_MARKERS if lower_case.find(m) >= 0),
            default=-1,
        )
        if cut >= 0:
            marker = next(m for m in _MESSAGE_MARKERS if lower_case.find(m) == cut)
            reading.message = lowered[cut + len(marker) :].strip() or None
            body = lowered[:cut]
    toks = tokens(body)
    words = [t.folded for t in toks]
    used = [False] * len(words)
    reserved_words = {fold(w) for w in reserved}

    # "it", "celui-ci", "réponds-lui"
    folded_text = " " + " ".join(words) + " "
    reading.pronoun = any(f" {p} " in folded_text for p in _PRONOUNS) or bool(
        _HYPHEN_PRONOUN.search(body)
    )
    # flags and folders: the tools' own words, longest first
    for i in range(len(words)):
        if used[i]:
            continue
        for flag, phrases in vocabulary.flag_words.items():
            length = _phrase_at(words, i, phrases)
            if length and " ".join(words[i : i + length]) in reserved_words:
                for j in range(i, i + length):
                    used[j] = True  # the tool's own value ("mark it as unread")
                break
            if length:
                # "not flagged"/"pas important" are not asked for here
                reading.flags.add(flag)
                for j in range(i, i + length):
                    used[j] = True
                break
    for i in range(len(words)):
        if used[i]:
            continue
        length = _phrase_at(words, i, vocabulary.folders)
        before = words[i - 1] if i else ""
        after = words[i + length] if i + length < len(words) else ""
        if length == 1 and before not in _FOLDER_BEFORE and after not in _FOLDER_AFTER:
            continue  # "Alice sent me": a verb, not the Sent folder
        if length:
            phrase = " ".join(words[i : i + length])
            for j in range(i, i + length):
                used[j] = True
            if phrase not in reserved_words:
                reading.folder = vocabulary.folders[phrase]
    # which one, how many
    for i, word in enumerate(words):
        if used[i]:
            continue
        length = _phrase_at(words, i, _ORDINAL_PHRASES)
        if length:
            reading.ordinal = _ORDINAL_PHRASES[" ".join(words[i : i + length])]
            for j in range(i, i + length):
                used[j] = True
            continue
        if word in _ORDINALS:
            after = words[i + 1] if i + 1 < len(words) else ""
            before = words[i - 1] if i else ""
            number = after if after.isdigit() else before if before.isdigit() else ""
            if number and _ORDINALS[word] == 1 and word not in {"first", "premier", "premiere"}:
                # "the last 3 mails", "les 5 derniers"
                reading.count = int(number)
                used[words.index(number, max(0, i - 1))] = True
            elif word in {"last", "dernier", "derniere"} and (
                after in _WEEK or after in _MONTH or before in _WEEK or before in _MONTH
            ):
                continue  # "last week" is a period
            else:
                reading.ordinal = _ORDINALS[word]
            used[i] = True
    # time
    _read_period(words, used, now, reading)
    # people
    reading.people = _read_people(
        body, toks, words, used, contacts, vocabulary.frame | frozenset(_CHATTER)
    )
    # topic: after a topic marker if there is one, else what is left
    start = 0
    for i, word in enumerate(words):
        if word in _TOPIC_MARKERS and not used[i]:
            start = i + 1
            used[i] = True
    topic = []
    for i in range(start, len(words)):
        word = words[i]
        if used[i] or word.isdigit() or len(word) < 2 or "@" in word:
            continue
        if stop(word) or word in vocabulary.frame or word in _TOPIC_MARKERS:
            continue
        if word in _ORDINALS or word in _MONTHS or word in _DAY_WORDS:
            continue
        base = lemma(word, language)
        topic.append(base)
        if base != word:
            reading.written.setdefault(base, word)
    reading.topic = list(dict.fromkeys(topic))
    _narrow_people(reading)
    return reading


def _narrow_people(reading: Reading) -> None:
    """A name several people share, told apart by another word of the request:
    "the gardening newsletter" is La Lettre du Jardinier's, not Tech Weekly's. The
    word that told them apart is then no longer a topic."""
    # "la newsletter du cinéma": another name in the request is one of them.
    for mention in list(reading.people):
        others = [m for m in reading.people if m is not mention]
        if len(mention.contacts) > 1 and any(
            set(o.contacts) < set(mention.contacts) for o in others
        ):
            reading.people.remove(mention)
    for n, mention in enumerate(reading.people):
        if len(mention.contacts) < 2:
            continue
        for word in reading.topic:
            stems = {w[: max(4, len(w) - 2)] for w in (word, *translations(word))}
            fitting = [
                c
                for c in mention.contacts
                if any(s in fold(f"{c.name} {c.address}") for s in stems)
            ]
            if len(fitting) == 1:
                reading.people[n] = Mention(mention.words, (fitting[0],), mention.role)
                reading.topic = [w for w in reading.topic if w != word]
                break


def lemma(word: str, language: Language) -> str:
    """The dictionary form of ``word``, in the request's language, else the other's."""
    lemmatized = str(simplemma.lemmatize(word, lang=language))
    if lemmatized == word:
        other = "en" if language == "fr" else "fr"
        lemmatized = str(simplemma.lemmatize(word, lang=other))
    return fold(lemmatized) or word


def as_arguments(reading: Reading, filters: dict[str, str]) -> dict[str, Any]:
    """The reading's filters as a finder's arguments (``filters``: kind → argument)."""
    out: dict[str, Any] = {}

    def put(kind: str, value: Any) -> None:
        argument = filters.get(kind)
        if argument is not None and value not in (None, "", [], False):
            out[argument] = value

    sender = reading.person("from")
    recipient = next((m for m in reading.people if m.role == "to"), None)
    if sender is not None and len(sender.contacts) == 1:
        put("person", sender.contacts[0].address.lower())
    if recipient is not None and len(recipient.contacts) == 1 and recipient is not sender:
        put("recipient", recipient.contacts[0].address.lower())
    put("since", reading.since.isoformat() if reading.since else None)
    put("until", reading.until.isoformat() if reading.until else None)
    put("unread", "unread" in reading.flags)
    put("flagged", "flagged" in reading.flags)
    put("attachments", "attachments" in reading.flags)
    put("folder", reading.folder)
    put("topic", " ".join(reading.topic))
    put("count", reading.count)
    return out
