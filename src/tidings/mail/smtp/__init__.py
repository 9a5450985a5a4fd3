"""SMTP: inbound mail for local users (MX) and authenticated submission."""
