"""tidings: a self-hosted communication appliance you talk to."""

__version__ = "0.1.0"
