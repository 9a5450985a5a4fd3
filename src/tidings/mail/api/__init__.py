"""The mail REST API (``tidings serve mail-api``): how the web UI, the MCP mail server
and scripts reach mail. Quart + quart-schema: typed requests and responses, OpenAPI at
``/openapi.json``, bearer tokens with scopes, errors as RFC 9457 problem+json.

Every route resolves the caller's token to one user and reads or writes only that
user's mailbox through :class:`tidings.mail.store.MailStore`.
"""
