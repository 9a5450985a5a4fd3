"""The small shared core every service stands on: configuration, accounts and
their database, TLS material, listening sockets, logging and the service runner.

Services (``tidings.mail``, ``tidings.web``, ...) import from here and never from
each other.
"""
