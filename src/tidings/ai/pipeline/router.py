"""A small trained router for requests no template matched.

A character n-gram logistic regression (scikit-learn) picks one of the tools in play,
"no tool" or "clarify". It learns from synthetic FR/EN requests sampled from each
tool's templates (captures filled with plausible people, days, ids and text) and its
description, plus built-in examples of chat and of vague requests
(:mod:`.utterances`). It is retrained whenever the set of tools changes, which takes
well under a second, and it only ever answers with a tool that is in play.

Why not let the model route: measured on the bundled 270M base model, it picked the
right tool for 2 to 5 requests out of 20 even under a grammar; this classifier is
deterministic, trains in a blink and its mistakes can be fixed with data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hassil import Intents, sample_intents
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from tidings.ai.pipeline import utterances
from tidings.ai.pipeline.tools import Tool

NO_TOOL = "<no tool>"
CLARIFY = "<clarify>"
SUMMARIZE = "<summarize>"
COUNT = "<count>"
ADDRESS = "<address>"
ASK = "<ask>"
ABILITIES = {
    SUMMARIZE: utterances.SUMMARIZE,
    COUNT: utterances.COUNT,
    ADDRESS: utterances.ADDRESS,
    ASK: utterances.ASK,
}
"""What the assistant does itself with the tools' results (see :mod:`.plans`)."""
ABILITY_FUNCTIONS = {
    SUMMARIZE: (
        "summarize_messages",
        "Summarize the user's messages that match the request (a person, a topic, a time, "
        "unread...): who wrote, about what, and which ones wait for an answer.",
    ),
    COUNT: (
        "count_messages",
        "Count the user's messages that match the request (unread, from someone, about "
        "something, in a period).",
    ),
    ADDRESS: (
        "look_up_address",
        "Tell the e-mail address of a person the user names, from their contacts and "
        "correspondents.",
    ),
    ASK: (
        "answer_from_message",
        "Answer a question about what a message says (when, where, how much, what was "
        "decided), from the message the request points to.",
    ),
}
"""The abilities offered to a capable model beside the tools, as functions without
arguments: the model only chooses; what they act on is read from the request by
code, as for a routed request."""
_AUGMENTED_SHARE = 0.6
# Words without which a request is not asking for an ability (folded, spaced).
_SIGNALS = {
    SUMMARIZE: [
        " summar",
        " resum",
        " digest",
        " recap",
        " catch me up",
        " catch up",
        " brief",
        " sum up",
        " point sur",
        " quoi de neuf",
        " what's new",
        " whats new",
        " overview",
        " answer",
        " reply",
        " repond",
        " reponse",
        " needs ",
        " waiting",
        " attend",
        " apercu",
        " about?",
        " parlent",
        " synthese",
    ],
    # "combien de mails" (see _COUNTED), not "combien de mascarpone ?" nor "c'est
    # combien ?": quantities in a mail are questions about its content.
    COUNT: [" how many", " count", " nombre", " number of"],
    ADDRESS: [
        " address",
        " adresse",
        " e-mail of",
        " email of",
        " mail d ",
        " mail de",
        " reach",
        " joindre",
        " contact",
        " email?",
        " mail?",
        " s email",
        " s e-mail",
    ],
    ASK: [
        " what",
        " when",
        " where",
        " who",
        " how ",
        " which",
        " why",
        " quel",
        " quand",
        " ou ",
        " qui ",
        " combien",
        " comment",
        " pourquoi",
        " que ",
        " qu ",
        " quoi",
        " c est quand",
        " est-ce",
    ],
}
_CAPTURE = re.compile(r"\{([^}]+)\}")
_SAMPLES_PER_TOOL = 160
_PER_TEMPLATE = 400


@dataclass(frozen=True)
class Route:
    label: str
    """A tool name, :data:`NO_TOOL` or :data:`CLARIFY`."""
    confidence: float


def _fillers(tool: Tool, name: str) -> list[str]:
    schema = tool.properties.get(name, {})
    if schema.get("format") == "email":
        return utterances.PEOPLE
    if schema.get("format") in ("date", "date-time"):
        return utterances.DAYS
    if "enum" in schema:
        return [str(v) for v in schema["enum"]]
    if schema.get("type") in ("integer", "number") or name.endswith("id"):
        return utterances.IDS
    return utterances.TEXT


def _templates(tool: Tool) -> Iterator[str]:
    """Sentences of the tool's templates, captures left as ``{name}``.

    Each template is expanded on its own (up to a cap) so that a template with many
    alternatives cannot crowd out the others.
    """
    lists = tool.intents.get("lists") or {}
    for language, blocks in tool.intents.items():
        if language == "lists":
            continue
        for block in blocks:
            for template in block.get("sentences") or []:
                captures = {n for n in _CAPTURE.findall(template) if n not in lists}
                spec = {
                    "language": language,
                    "intents": {tool.name: {"data": [{"sentences": [template], "lists": lists}]}},
                    # sampling reads only top-level lists
                    "lists": {**lists, **{name: {"wildcard": True} for name in captures}},
                }
                for _, sentence in itertools.islice(
                    sample_intents(Intents.from_dict(spec), exclude_sentences_with_wildcards=False),
                    _PER_TEMPLATE,
                ):
                    yield " ".join(sentence.split())


def _fill(tool: Tool, sentence: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    values: dict[str, Any] = {}

    def pick(match: re.Match[str]) -> str:
        value = rng.choice(_fillers(tool, match[1]))
        values[match[1]] = value
        return value

    return _CAPTURE.sub(pick, sentence), values


def template_examples(
    tool: Tool, count: int, rng: random.Random
) -> list[tuple[str, dict[str, Any]]]:
    """``count`` requests sampled from the tool's templates, with what they capture.

    Prefers templates with captures: those are the ones that show arguments.
    """
    sentences = sorted(dict.fromkeys(_templates(tool)), key=lambda s: -len(_CAPTURE.findall(s)))
    with_captures = [s for s in sentences if _CAPTURE.search(s)] or sentences
    picked = rng.sample(with_captures, min(count, len(with_captures)))
    return [_fill(tool, s, rng) for s in picked]


def _language(text: str) -> str:
    return "fr" if re.search(r"[éèàçù]|\b(les?|mes|de|du|des|à)\b", text) else "en"


def _compose(sentence: str, rng: random.Random) -> str:
    """``sentence`` with what people add to requests: a filter ("from Alice", "de la
    semaine dernière", "about the invoice") and politeness, so that the router learns
    the request's kind from its frame, whatever else it carries."""
    language = _language(sentence)
    piece = rng.choice(utterances.FILTERS[language])
    piece = piece.replace("{person}", rng.choice(utterances.PEOPLE)).replace(
        "{topic}", rng.choice(utterances.TOPICS)
    )
    composed = f"{sentence} {piece}"
    if rng.random() < 0.4:
        composed = f"{rng.choice(utterances.POLITE[language])} {composed}"
    return composed


def training_set(
    tools: Sequence[Tool], seed: int = 0, abilities: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)  # noqa: S311  (reproducible sampling, not secrets)
    texts: list[str] = []
    labels: list[str] = []

    def add(text: str, label: str, compose: bool) -> None:
        texts.append(text)
        labels.append(label)
        if compose and rng.random() < _AUGMENTED_SHARE:
            texts.append(_compose(text, rng))
            labels.append(label)

    for tool in tools:
        sentences = list(dict.fromkeys(_templates(tool)))
        rng.shuffle(sentences)
        # Only tools that act on something found can take a filter in any request.
        compose = bool(tool.context or tool.meta.get("tidings/finds"))
        for sentence in sentences[:_SAMPLES_PER_TOOL]:
            add(_fill(tool, sentence, rng)[0], tool.name, compose)
        if tool.description:
            add(tool.description, tool.name, False)
    for label in abilities:
        for example in ABILITIES[label]:
            add(example, label, False)
    for label, examples in ((NO_TOOL, utterances.NO_TOOL), (CLARIFY, utterances.CLARIFY)):
        texts.extend(examples)
        labels.extend([label] * len(examples))
    return texts, labels


def fingerprint(tools: Sequence[Tool]) -> str:
    """Changes whenever anything the router learns from changes."""
    data = [[t.name, t.description, t.input_schema, t.intents, t.meta] for t in tools]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _plain(text: str) -> str:
    """Lower case, no accents, apostrophes as spaces ("l'adresse" has " adresse")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"['’]", " ", bare)


def abilities_of(tools: Sequence[Tool]) -> list[str]:
    """The assistant's own abilities the tools make possible."""
    finds = any(t.meta.get("tidings/finds") for t in tools)
    reads = any(t.meta.get("tidings/reads") for t in tools)
    out = []
    if finds and reads:
        out += [SUMMARIZE, ASK]
    if finds:
        out += [COUNT, ADDRESS]
    return out


_COUNTED = re.compile(
    r" combien (?:de |d )(?:\w+ ){0,2}?(?:mails?|e-?mails?|messages?|courriels?|newsletters?"
    r"|spams?|lettres?|reponses?)\b| combien (?:j ai|ai je|en ai|y en a)"
)


def signalled(text: str, ability: str) -> bool:
    """Whether ``text`` has the words without which it is not asking for
    ``ability`` (a question mark is enough for a question)."""
    plain = " " + _plain(text) + " "
    if any(s in plain for s in _SIGNALS[ability]):
        return True
    if ability == COUNT and _COUNTED.search(plain):
        return True
    return ability == ASK and text.rstrip().endswith("?")


class Router:
    def __init__(self, tools: Sequence[Tool], seed: int = 0) -> None:
        self.tools = [t.name for t in tools]
        self.fingerprint = fingerprint(tools)
        texts, labels = training_set(tools, seed, abilities_of(tools))
        features = FeatureUnion(
            [
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                ),
                ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
            ]
        )
        classifier = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
        self.model: Any = Pipeline([("features", features), ("classifier", classifier)])
        self.model.fit([t.lower() for t in texts], labels)
        self.samples = len(texts)

    def route(self, text: str) -> Route:
        """The likeliest class whose signal words the request has: an ability is
        asked for in words of its own ("summarize", "how many", "address", a
        question), never by a request that only names mail ("anything from Priya
        this week" lists them)."""
        probabilities = self.model.predict_proba([text.lower()])[0]
        for index in probabilities.argsort()[::-1]:
            label = str(self.model.classes_[index])
            if label not in _SIGNALS or signalled(text, label):
                return Route(label, float(probabilities[index]))
        return Route(NO_TOOL, 0.0)


_cache: dict[str, Router] = {}


def router_for(tools: Sequence[Tool]) -> Router:
    """The router for exactly these tools, trained on first use."""
    key = fingerprint(tools)
    if key not in _cache:
        _cache.clear()  # one tool set at a time: a new set replaces the old router
        _cache[key] = Router(tools)
    return _cache[key]
