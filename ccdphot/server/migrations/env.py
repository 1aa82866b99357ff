"""Alembic environment: migrate the connection the server hands over, or a URL.

``ccdphot.server.database.upgrade`` passes an open connection in
``config.attributes["connection"]``. A developer writing a new revision gives a
URL instead (``sqlalchemy.url``) and compares against the models for
``--autogenerate``.
"""

from alembic import context
from sqlalchemy import create_engine

from ccdphot.server.models import Base

config = context.config


def _migrate(connection):
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _migrate(config.attributes["connection"])
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as connection:
        _migrate(connection)
