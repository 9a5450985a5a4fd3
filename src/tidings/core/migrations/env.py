"""Alembic environment: migrations run against the URL set by tidings.core.db."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

from tidings.ai import conversations  # noqa: F401  (register the tables)
from tidings.core import accounts, throttle  # noqa: F401  (register the tables)

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    config = context.config
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite can only ALTER through table copies
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
