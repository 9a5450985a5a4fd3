"""The schema is owned by migrations: an empty database becomes the current schema,
the models never drift from the migrations, and upgrading keeps data."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.core.db import Database, alembic_config, make_engine, migrate


def test_migrates_an_empty_database_to_head(settings: Settings) -> None:
    database = settings.data_dir / "tidings.sqlite"
    assert not database.exists()
    migrate(settings)
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"user", "api_token", "auth_failure", "alembic_version"} <= tables
    head = ScriptDirectory.from_config(alembic_config(settings.db_url)).get_current_head()
    assert version == head


def test_models_match_migrations(settings: Settings) -> None:
    """A model change without a migration fails here (`alembic revision --autogenerate`)."""
    migrate(settings)
    engine = make_engine(settings.db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_migrating_again_keeps_data(settings: Settings) -> None:
    migrate(settings)
    db = Database(settings)
    Accounts(db).add_user("keep@example.test", "kept-password")
    db.close()
    migrate(settings)
    migrate(settings)
    db = Database(settings)
    assert Accounts(db).authenticate("keep@example.test", "kept-password")
    db.close()
