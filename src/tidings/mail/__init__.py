"""Mail: SMTP in (MX) and submission, the Maildir store with its index, IMAP.

Other services reach mail only through its public interfaces: the store API in
:mod:`tidings.mail.store` within this package, and the mail REST API over HTTP.
"""
