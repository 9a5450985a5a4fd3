"""The tool pipeline with the real model: templates, router, model-filled arguments
and code checks, over tools given at run time."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from tidings.ai.backends.llama import LlamaBackend
from tidings.ai.pipeline import AddressBook, Contact, IntentRegistry, Pipeline, Tool, plans
from tidings.ai.pipeline.dates import parse_day
from tidings.ai.pipeline.router import ABILITIES, CLARIFY, NO_TOOL, router_for

NOW = datetime(2026, 3, 11, 9, 0)  # a Wednesday
BOOK = AddressBook(
    [
        Contact("Alice Martin", "alice@example.org"),
        Contact("Bob Durand", "bob@example.org"),
        Contact("Bob Marley", "marley@example.net"),
        Contact("Carol Nguyen", "Carol@Example.NET"),
    ]
)

CALENDAR_TOOL: dict[str, Any] = {
    "name": "create_event",
    "description": "Put an event in the user's calendar.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "What the event is."},
            "day": {"type": "string", "format": "date", "description": "Which day."},
        },
        "required": ["title", "day"],
        "additionalProperties": False,
    },
    "annotations": {},
}
CALENDAR_PATTERNS = {
    "fr": [{"sentences": ["ajoute {title} (à|dans) mon agenda {day}"]}],
    "en": [{"sentences": ["add {title} to my calendar {day}"]}],
}


@pytest.fixture
def pipeline(llama: LlamaBackend, mail_tools: list[dict[str, Any]]) -> Pipeline:
    return Pipeline(llama, mail_tools, address_book=BOOK)


@pytest.mark.parametrize(
    ("request_text", "tool", "arguments"),
    [
        ("liste mes mails", "list_emails", {}),
        ("List my emails.", "list_emails", {}),
        ("Montre-moi mes mails non lus", "list_emails", {"unread_only": True}),
        ("any new emails from Alice?", "list_emails", {"sender": "alice@example.org"}),
        (
            "any new emails from alice@example.org since yesterday?",
            "list_emails",
            {"sender": "alice@example.org", "since": "2026-03-10"},
        ),
        (
            "réponds à Carol que c'est d'accord, à demain !",
            "reply_email",
            {"to": "carol@example.net", "body": "c'est d'accord, à demain"},
        ),
        ("mets le mail 12 à la corbeille", "move_email", {"message_id": "12", "folder": "Trash"}),
    ],
)
async def test_templates_decide_the_common_requests(
    pipeline: Pipeline, request_text: str, tool: str, arguments: dict[str, Any]
) -> None:
    decision = await pipeline.decide(request_text, now=NOW)
    assert (decision.kind, decision.via, decision.tool) == ("call", "template", tool)
    assert decision.arguments == arguments


async def test_a_search_looks_in_the_inbox_then_everywhere_then_in_the_other_language(
    pipeline: Pipeline,
) -> None:
    """The request's own words are looked for everywhere before a translation is
    (the INBOX first each time): "facture" in the Archive is a better match than
    "invoice" in the INBOX."""
    decision = await pipeline.decide("cherche les mails sur la facture", now=NOW)
    assert (decision.kind, decision.tool) == ("plan", "search_emails")
    assert decision.plan is not None and decision.plan.then is None
    find = decision.plan.find
    # The request's frame ("cherche les mails sur la") is not what is looked for.
    assert find.arguments == {"query": "facture"}
    tries = find.tries()
    assert tries[:4] == [
        {"query": "facture", "folder": "INBOX"},
        {"query": "facture"},
        {"query": "invoice", "folder": "INBOX"},
        {"query": "invoice"},
    ]


async def test_a_name_the_address_book_does_not_know_is_asked_about(pipeline: Pipeline) -> None:
    decision = await pipeline.decide("réponds à Zoé que ok", now=NOW)
    assert decision.kind == "clarify"
    assert decision.tool == "reply_email"
    assert "Zoé" in decision.question


async def test_the_reply_to_a_question_completes_the_call(pipeline: Pipeline) -> None:
    asked = await pipeline.decide("réponds à Zoé que ok", now=NOW)
    assert asked.kind == "clarify" and list(asked.problems) == ["to"]
    assert asked.language == "fr" and "Zoé" in asked.question
    resumed = await pipeline.resume(
        "reply_email", asked.arguments, "to", "réponds à Zoé que ok", "zoe@example.com", now=NOW
    )
    assert resumed is not None
    assert (resumed.kind, resumed.via) == ("call", "follow-up")
    assert resumed.arguments == {"to": "zoe@example.com", "body": "ok"}
    # A reply that is no address and no known name is asked about again.
    again = await pipeline.resume(
        "reply_email", asked.arguments, "to", "réponds à Zoé que ok", "Zoé"
    )
    assert again is not None and again.kind == "clarify"


async def test_it_is_the_message_last_seen_but_never_overrides_a_name(
    pipeline: Pipeline,
) -> None:
    seen = {"id": "12", "from_address": "carol@example.net", "subject": "Picnic"}
    marked = await pipeline.decide("mark it as read", now=NOW, context=seen)
    assert (marked.kind, marked.via, marked.tool) == ("call", "context", "mark_email")
    assert marked.arguments == {"message_id": "12", "flag": "read"}
    replied = await pipeline.decide("réponds-lui que c'est noté", now=NOW, context=seen)
    assert (replied.kind, replied.tool) == ("call", "reply_email")
    assert replied.arguments == {
        "to": "carol@example.net",
        "message_id": "12",
        "body": "c'est noté",
    }
    named = await pipeline.decide("réponds à Alice que c'est noté", now=NOW, context=seen)
    assert named.arguments == {"to": "alice@example.org", "body": "c'est noté"}
    # Without anything seen, "it" is a question — about who, not about the words of
    # the message ("merci" is the body, not a person).
    assert (await pipeline.decide("mark it as read", now=NOW)).kind == "clarify"
    who = await pipeline.decide("réponds-lui que merci", now=NOW)
    assert (who.kind, who.tool, who.arguments) == ("clarify", "reply_email", {"body": "merci"})
    assert [p.code for p in who.problems.values()] == ["missing_person"]


async def test_two_contacts_with_the_same_name_are_asked_about(pipeline: Pipeline) -> None:
    decision = await pipeline.decide("any new emails from Bob?", now=NOW)
    assert decision.kind == "clarify"
    assert "bob@example.org" in decision.question and "marley@example.net" in decision.question


async def test_an_address_not_written_in_the_request_is_never_used(pipeline: Pipeline) -> None:
    # The model sees example addresses in its prompt; none may leak into a call.
    decision = await pipeline.decide("did Carol write to me?", now=NOW)
    assert decision.arguments.get("sender") in (None, "carol@example.net")


async def test_the_router_and_the_model_fill_a_request_no_template_covers(
    pipeline: Pipeline,
) -> None:
    decision = await pipeline.decide("show the full text of message 41", now=NOW)
    assert (decision.kind, decision.via) == ("call", "router")
    assert decision.tool == "read_email"
    assert decision.arguments == {"message_id": "41"}


@pytest.mark.parametrize(
    "request_text", ["tell me a joke", "Quelle est la capitale du Pérou ?", "merci !"]
)
async def test_requests_for_no_tool_make_no_call(pipeline: Pipeline, request_text: str) -> None:
    """No call — or, when the request names something ("la capitale du Pérou"), a
    probe: a look in the mailbox the person does not see, that calls nothing unless
    found mail shows those words (tests/ai/test_outcomes.py runs them on a mailbox)."""
    decision = await pipeline.decide(request_text, now=NOW)
    if decision.kind == "plan":
        assert decision.plan is not None and decision.plan.probe, decision
        assert not plans.grounded([{"subject": "Invoice", "from": "Bob"}], decision.plan.probe)
    else:
        assert decision.kind == "answer"
        assert decision.tool is None


def test_a_probe_is_grounded_by_whole_words_only() -> None:
    items = [{"subject": "Concert de printemps", "from": "Marie Leroy"}]
    assert not plans.grounded(items, ("temps",))
    assert plans.grounded(items, ("concert",))
    assert plans.grounded([{"subject": "Your invoices"}], ("invoice",))
    assert plans.grounded(items, ())
    assert not plans.grounded([], ())


@pytest.mark.parametrize("request_text", ["envoie un mail", "mark it as read", "fais-le"])
async def test_vague_requests_are_clarified(pipeline: Pipeline, request_text: str) -> None:
    decision = await pipeline.decide(request_text, now=NOW)
    assert decision.kind == "clarify"
    assert decision.question


async def test_tools_are_taken_at_run_time_with_their_own_patterns(llama: LlamaBackend) -> None:
    with_meta = copy.deepcopy(CALENDAR_TOOL)
    with_meta["_meta"] = {"tidings/intents": CALENDAR_PATTERNS}
    pipeline = await Pipeline.create(llama, [with_meta])
    decision = await pipeline.decide("ajoute piscine à mon agenda lundi", now=NOW)
    assert decision.kind == "call" and decision.tool == "create_event"
    assert decision.arguments == {"title": "piscine", "day": "2026-03-09"}


async def test_a_registry_supplies_patterns_for_tools_without_them(llama: LlamaBackend) -> None:
    registry = IntentRegistry({"create_event": CALENDAR_PATTERNS})
    pipeline = Pipeline(llama, [CALENDAR_TOOL], registry=registry)
    decision = await pipeline.decide("add dentist to my calendar tomorrow", now=NOW)
    assert (decision.via, decision.tool) == ("template", "create_event")
    assert decision.arguments == {"title": "dentist", "day": "2026-03-12"}
    without = Pipeline(llama, [CALENDAR_TOOL])
    assert (await without.decide("add dentist to my calendar tomorrow", now=NOW)).via != (
        "template"
    )


def test_the_router_only_knows_the_tools_in_play(mail_tools: list[dict[str, Any]]) -> None:
    tools = [Tool.from_mcp(t) for t in mail_tools]
    reading = [t for t in tools if t.annotations.get("readOnlyHint")]
    full = router_for(tools)
    narrowed = router_for(reading)
    # The assistant's own abilities (count, summarize, ask, address) come with a finder.
    abilities = set(ABILITIES)
    assert set(full.model.classes_) == {t.name for t in tools} | {NO_TOOL, CLARIFY} | abilities
    assert set(narrowed.model.classes_) == (
        {t.name for t in reading} | {NO_TOOL, CLARIFY} | abilities
    )
    no_finder = [t for t in tools if "tidings/finds" not in t.meta]
    assert set(router_for(no_finder).model.classes_) == (
        {t.name for t in no_finder} | {NO_TOOL, CLARIFY}
    )
    assert narrowed.fingerprint != full.fingerprint
    assert narrowed.route("send an email to Alice saying hello").label not in {
        "send_email",
        "reply_email",
    }


@pytest.mark.parametrize(
    ("phrase", "day"),
    [
        ("hier", "2026-03-10"),
        ("yesterday", "2026-03-10"),
        ("depuis lundi", "2026-03-09"),
        ("lundi dernier", "2026-03-09"),
        ("since Monday", "2026-03-09"),
        ("il y a 3 jours", "2026-03-08"),
        ("la semaine dernière", "2026-03-04"),
        ("le 2 mars", "2026-03-02"),
        ("aujourd'hui", "2026-03-11"),
    ],
)
def test_days_are_computed_by_code(phrase: str, day: str) -> None:
    parsed = parse_day(phrase, NOW)
    assert parsed is not None and parsed.isoformat() == day


@pytest.mark.parametrize("phrase", ["je", "Bob", "la facture", ""])
def test_words_that_are_not_days_are_not_read_as_days(phrase: str) -> None:
    assert parse_day(phrase, NOW) is None


@pytest.mark.parametrize(
    "text",
    [
        "réponds à Alice : c'est noté (merci).",
        "send carol@example.org the Q3 report + figures? [draft]",
        "ok",
    ],
)
def test_span_grammar_allows_exactly_the_runs_of_the_requests_words(text: str) -> None:
    import re

    from tidings.ai.pipeline.arguments import _WORD, span_pattern

    pattern = span_pattern(text)
    assert pattern is not None
    words = list(_WORD.finditer(text))
    for i in range(len(words)):
        for j in range(i, len(words)):
            run = text[words[i].start() : words[j].end()]
            assert re.fullmatch(pattern, run), run
    if len(words) >= 3:
        skipping = f"{words[0].group()} {words[2].group()}"
        assert not re.fullmatch(pattern, skipping)
    assert not re.fullmatch(pattern, "the budget")


@pytest.mark.parametrize(
    ("request_text", "confirm"),
    [
        ("liste mes mails", False),  # readOnlyHint
        ("marque le mail 5 comme lu", False),  # destructiveHint: false
        ("mets le mail 12 à la corbeille", True),  # destructiveHint
        ("send an email to Alice saying the report is ready", True),  # MCP default
    ],
)
async def test_calls_that_may_change_or_send_things_ask_for_confirmation(
    pipeline: Pipeline, request_text: str, confirm: bool
) -> None:
    decision = await pipeline.decide(request_text, now=NOW)
    assert decision.kind == "call"
    assert decision.confirm is confirm


def _dav_tools() -> list[dict[str, Any]]:
    from tidings.mcp.dav_spec import DAV_TOOLS

    return [
        {
            "name": spec.name,
            "description": spec.description,
            "inputSchema": spec.input_schema,
            "annotations": spec.annotations,
            "_meta": spec.meta(),
        }
        for spec in DAV_TOOLS.values()
    ]


@pytest.mark.parametrize(
    ("request_text", "tool", "arguments"),
    [
        # A calendar's days are ahead (NOW is Wednesday 11 March): the coming Friday.
        (
            "book lunch with Alice on Friday at noon",
            "create_event",
            {
                "title": "lunch",
                "attendees": ["alice@example.org"],
                "date": "2026-03-13",
                "time": "12:00",
            },
        ),
        (
            "ajoute un dîner avec Alice samedi à 20h",
            "create_event",
            {
                "title": "dîner",
                "attendees": ["alice@example.org"],
                "date": "2026-03-14",
                "time": "20:00",
            },
        ),
        (
            "schedule a dentist appointment on Wednesday at 3pm",
            "create_event",
            {"title": "dentist appointment", "date": "2026-03-18", "time": "15:00"},
        ),
        (
            "réserve un déjeuner avec Alice et Carol vendredi midi",
            "create_event",
            {
                "attendees": ["alice@example.org", "carol@example.net"],
                "date": "2026-03-13",
                "time": "12:00",
            },
        ),
        (
            "book a call with Carol tomorrow at 9:30",
            "create_event",
            {"attendees": ["carol@example.net"], "date": "2026-03-12", "time": "09:30"},
        ),
        ("what do I have on Friday?", "list_events", {"date": "2026-03-13"}),
        # A week is a range: from its first day still to come, for as long as it lasts.
        ("what do I have next week?", "list_events", {"date": "2026-03-16", "days": 7}),
        (
            "find a free hour with Alice next week",
            "find_free_slots",
            {
                "people": ["alice@example.org"],
                "date": "2026-03-16",
                "days": 7,
                "duration_minutes": 60,
            },
        ),
        (
            "trouve-moi un créneau d'une heure et demie jeudi",
            "find_free_slots",
            {"date": "2026-03-12", "duration_minutes": 90},
        ),
        ("qu'est-ce que j'ai demain ?", "list_events", {"date": "2026-03-12"}),
        # ...while a mailbox's are behind: mail from Friday came last week.
        ("show me the emails from Friday", "list_emails", {"since": "2026-03-06"}),
    ],
)
async def test_calendar_days_are_ahead_and_times_are_read_by_code(
    llama: LlamaBackend,
    mail_tools: list[dict[str, Any]],
    request_text: str,
    tool: str,
    arguments: dict[str, Any],
) -> None:
    pipeline = Pipeline(llama, [*mail_tools, *_dav_tools()], address_book=BOOK)
    decision = await pipeline.decide(request_text, now=NOW)
    assert (decision.kind, decision.tool) == ("call", tool), decision
    assert {k: decision.arguments.get(k) for k in arguments} == arguments


async def test_an_invitee_two_contacts_share_is_asked_about(
    llama: LlamaBackend, mail_tools: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline(llama, [*mail_tools, *_dav_tools()], address_book=BOOK)
    decision = await pipeline.decide("book lunch with Bob on Friday at noon", now=NOW)
    assert (decision.kind, decision.tool) == ("clarify", "create_event")
    assert "Bob Durand" in decision.question and "Bob Marley" in decision.question
