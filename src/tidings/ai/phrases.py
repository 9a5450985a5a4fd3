"""Everything the assistant says in its own words, in French and in English.

Tools bring their own wording for their results (``_meta["tidings/answer"]``);
this catalogue holds the rest: questions back to the user, confirmations, refusals,
help. Placeholders work as in tools' answers (:func:`tidings.core.answers.fill`).
One function per kind of sentence keeps the two languages side by side, so
neither can fall behind the other (a test checks every key has both).
"""

from __future__ import annotations

from typing import Any

from tidings.ai.language import Language
from tidings.core.answers import fill

CATALOGUE: dict[str, dict[Language, str]] = {
    "vague": {
        "en": "What should I do, and with which message or person?",
        "fr": "Que dois-je faire, et avec quel message ou quelle personne ?",
    },
    "unknown_person": {
        "en": "I do not know “{value}”: what is their e-mail address?",
        "fr": "Je ne connais pas « {value} » : quelle est son adresse e-mail ?",
    },
    "ambiguous_person": {
        "en": "Which {value} do you mean: {names}?",
        "fr": "Quel·le {value} voulez-vous dire : {names} ?",
    },
    "missing_person": {
        "en": "Who is it for? Give a name from your contacts or an e-mail address.",
        "fr": "Pour qui ? Donnez un nom de vos contacts ou une adresse e-mail.",
    },
    "missing_id": {
        "en": "Which message? Give its number, as I listed it.",
        "fr": "Quel message ? Donnez son numéro, tel que je l'ai affiché.",
    },
    "missing_text": {
        "en": "What should the message say?",
        "fr": "Que dois-je écrire dans le message ?",
    },
    "missing_value": {
        "en": "What should I use for “{name}” ({description})?",
        "fr": "Que dois-je mettre pour « {name} » ({description}) ?",
    },
    "invalid_value": {
        "en": "“{name}” is not valid here: {detail}.",
        "fr": "« {name} » n'est pas valable ici : {detail}.",
    },
    "help": {
        "en": "I can help with your mail: {abilities}. For example: “list my emails”.",
        "fr": "Je peux vous aider avec vos mails : {abilities}. Par exemple : « liste mes mails ».",
    },
    "confirm_call": {
        "en": "Shall I {action} with: {arguments}?",
        "fr": "Dois-je {action} avec : {arguments} ?",
    },
    "declined": {
        "en": "All right, I did nothing.",
        "fr": "D'accord, je n'ai rien fait.",
    },
    "tool_failed": {
        "en": "That did not work: {detail}",
        "fr": "Cela n'a pas marché : {detail}",
    },
    "done": {
        "en": "Done.",
        "fr": "C'est fait.",
    },
    "no_tools": {
        "en": "No service answers right now, so I cannot do that. Please try again later.",
        "fr": (
            "Aucun service ne répond pour l'instant, je ne peux pas le faire. Réessayez plus tard."
        ),
    },
    "cancelled": {
        "en": "Stopped.",
        "fr": "Arrêté.",
    },
    "which_one": {
        "en": "Which one do you mean: “the first”, “the second”… or its number?",
        "fr": "Lequel voulez-vous dire : « le premier », « le deuxième »… ou son numéro ?",
    },
    "several_found": {
        "en": "I found several:",
        "fr": "J'en ai trouvé plusieurs :",
    },
    "nothing_found": {
        "en": "I found nothing that matches.",
        "fr": "Je n'ai rien trouvé qui corresponde.",
    },
    "count": {
        "en": "{count} messages match.",
        "fr": "{count} messages correspondent.",
    },
    "count_one": {
        "en": "1 message matches.",
        "fr": "1 message correspond.",
    },
    "count_at_least": {
        "en": "At least {count} messages match.",
        "fr": "Au moins {count} messages correspondent.",
    },
    "address": {
        "en": "{name}: {addresses}",
        "fr": "{name} : {addresses}",
    },
    "digest_header": {
        "en": "{count} messages:",
        "fr": "{count} messages :",
    },
    "digest_item": {
        "en": "- {author}, “{subject}” ({date})",
        "fr": "- {author}, « {subject} » ({date})",
    },
    "digest_waits": {
        "en": " — waits for your answer",
        "fr": " — attend votre réponse",
    },
    "digest_footer": {
        "en": "Waiting for your answer ({count}): {names}.",
        "fr": "Attendent votre réponse ({count}) : {names}.",
    },
    "digest_waiting_header": {
        "en": "Waiting for your answer ({count}):",
        "fr": "Attendent votre réponse ({count}) :",
    },
    "digest_none_waiting": {
        "en": "Nothing waits for your answer.",
        "fr": "Rien n'attend votre réponse.",
    },
    "digest_empty": {
        "en": "There is nothing to summarize.",
        "fr": "Il n'y a rien à résumer.",
    },
    "answer_from": {
        "en": "{author} wrote in “{subject}” ({date}):",
        "fr": "{author} a écrit dans « {subject} » ({date}) :",
    },
    "hello": {
        "en": "Hello! I can help with your mail: {abilities}.",
        "fr": "Bonjour ! Je peux vous aider avec vos mails : {abilities}.",
    },
    "welcome": {
        "en": "You're welcome.",
        "fr": "Avec plaisir.",
    },
    "out_of_scope": {
        "en": "I cannot do that here: I only work with your mail on this box ({abilities}).",
        "fr": (
            "Je ne peux pas faire cela ici : je ne travaille qu'avec vos mails sur ce "
            "boîtier ({abilities})."
        ),
    },
}


def say(key: str, language: Language, **values: Any) -> str:
    return fill(CATALOGUE[key][language], values)
