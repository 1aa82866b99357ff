"""The server's database: connect by URL, bring the schema up to date, open sessions.

SQLite (the embedded default) is opened in WAL mode with ``synchronous=FULL``,
so a committed upload survives a crash or a power cut, and with a busy timeout,
so the request threads and the job dispatcher wait for each other instead of
failing. PostgreSQL commits are durable as configured by its server. The schema
is made and changed only by the Alembic migrations shipped in ``migrations/``.
"""

import logging
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import sessionmaker

from ccdphot.errors import ConfigError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                   f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def open_database(url):
    """An SQLAlchemy Engine for ``url`` (``sqlite:///FILE`` or ``postgresql://...``)."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigError(f"--db {url!r} is not a database URL; give sqlite:///FILE or "
                          "postgresql://USER:PASSWORD@HOST:PORT/NAME") from err
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, in install_requires
    options = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"check_same_thread": False,
                                   "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    try:
        engine = create_engine(parsed, **options)
    except NoSuchModuleError as err:
        raise ConfigError(f"--db {parsed.render_as_string(hide_password=True)}: no driver "
                          f"for {parsed.drivername}; use sqlite or postgresql") from err
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config():
    """The Alembic configuration of the shipped migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location",
                           str(resources.files("ccdphot.server").joinpath("migrations")))
    return config


def upgrade(engine):
    """Apply every migration the database lacks (a new database gets the whole schema)."""
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as err:
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"cannot open the database {where} "
                          f"({' '.join(str(err.orig).split())}); check --db and that the "
                          "database server is running") from err


def session_factory(engine):
    """Sessions that keep their objects readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def connect(url):
    """Open ``url``, migrate it to the current schema, return the session factory."""
    engine = open_database(url)
    upgrade(engine)
    return session_factory(engine)
