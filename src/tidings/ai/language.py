"""Which language a request is in: French or English, both first-class.

The answer decides the language of everything the assistant says back (questions,
confirmations, rendered results). A request that matched a tool's sentence template
already knows its language; for the rest, short requests ("merci", "mark it as
read") are too short for statistical detectors trained on prose, so this counts
the words only one of the two languages uses, and French letters.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")

_FRENCH_WORDS = """
    le la les un une des du de au aux mes mon ma tes ton ta ses son sa nos notre vos votre
    leur leurs je j tu il elle on nous vous ils elles moi toi me te se lui y en est sont suis
    es et ou mais donc car ni que qui quoi quel quelle quels quelles dont ou avec sans pour par
    sur sous dans chez vers pas ne plus tout tous toute toutes ce cet cette ces ca cela ceci
    bonjour salut merci oui non s il te plait stp svp hier demain aujourd hui matin soir
    semaine mois lundi mardi mercredi jeudi vendredi samedi dimanche liste montre affiche
    envoie envoyer ecris ecrire reponds repondre cherche chercher lis lire mets marque
    supprime deplace range archive corbeille courriel courriels nouveaux nouveau dernier
    derniers recu recus quand comment pourquoi combien aussi tres bien d accord"""
_ENGLISH_WORDS = """
    the a an my your his her its our their i you he she we they me him us them is are
    am was were be been and or but so that which what who whom whose where when why how
    with without for from to of in on at by into about any some all every no not do does
    did please thanks thank hello hi yes yesterday tomorrow today morning evening week
    month monday tuesday wednesday thursday friday saturday sunday list show display send
    write reply answer search find read mark move delete archive trash email emails mail
    new latest last received can could would should will it this these those there here
    agree ok okay"""
_FRENCH = frozenset(_FRENCH_WORDS.split())
_ENGLISH = frozenset(_ENGLISH_WORDS.split())
_FRENCH_LETTERS = re.compile(r"[éèêëàâîïôûùüçœ]", re.IGNORECASE)


def detect(text: str, default: Language = "en") -> Language:
    """``fr`` or ``en``; ``default`` when nothing tells them apart."""
    bare = "".join(
        c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c)
    )
    words = re.findall(r"[a-z]+", bare)
    french = sum(w in _FRENCH for w in words) + 2 * len(_FRENCH_LETTERS.findall(text))
    english = sum(w in _ENGLISH for w in words)
    if french > english:
        return "fr"
    if english > french:
        return "en"
    return default
