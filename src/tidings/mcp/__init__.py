"""MCP servers: how the assistant (and any MCP client) acts on a user's data.

``tidings serve mcp-mail`` (streamable HTTP on ``listen.mcp_mail``) and
``tidings mcp mail --stdio`` serve the mail tools (:mod:`.mail`), built on the
``mcp`` SDK's ``MCPServer``. They call the mail REST API with the caller's own token
(:mod:`.auth`, :mod:`.mail_api`) and never read the mail store themselves. Sending,
replying and moving ask the user first through MCP elicitation (:mod:`.confirm`).

Each tool carries, besides its MCP ``title``, ``inputSchema``, ``outputSchema`` and
``annotations``, tidings metadata in ``_meta`` (:mod:`.mail_spec`):

- ``tidings/intents``: FR/EN sentence templates the assistant matches requests with;
- ``tidings/i18n``: ``{"fr"|"en": {"title", "description"}}``;
- ``tidings/answer``: per language, how to show the structured result: ``{"text": T}``
  for one result, or ``{"list": KEY, "header": T, "item": T, "empty": T}`` for a list
  under ``KEY``; ``{name}`` in ``T`` is a top-level key of the result (of each list
  element for ``item``), list values are joined with ", " (:mod:`tidings.core.answers`);
- ``tidings/elicits``: true on tools that ask for confirmation themselves;
- ``tidings/context``: ``{argument: key}``: a missing argument may be taken from that
  key of the message the user last looked at ("move it to the archive" after reading
  one), shown to the user in the confirmation like any other.
"""
