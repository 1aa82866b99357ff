"""Observers and their API tokens.

A token is 32 random bytes (``secrets``), shown once when it is made and kept
only as its SHA-256. A slow password hash (bcrypt, argon2) protects guessable
secrets; a 256-bit random token cannot be guessed, so one fast hash suffices
and a lookup by hash stays one indexed query per request.
"""

import hashlib
import logging
import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ccdphot.errors import ConfigError
from ccdphot.server.models import Observer

log = logging.getLogger(__name__)

TOKEN_PREFIX = "ccdphot_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


def token_sha256(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token():
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_observer_name(name):
    """An observer name: letters, digits and ``_ . @ -``, at most 100 characters."""
    if not _NAME.match(name or ""):
        raise ConfigError(f"observer name {name!r}: use letters, digits and _ . @ - "
                          "(at most 100 characters, starting with a letter or digit)")
    return name


def create_observer(session, name, admin=False):
    """Add an observer; return (Observer, token). The token is not stored and not
    shown again: only its hash is kept."""
    token = new_token()
    observer = Observer(name=check_observer_name(name), token_sha256=token_sha256(token),
                        is_admin=bool(admin))
    session.add(observer)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise ConfigError(f"observer {name!r} exists already; choose another name or issue "
                          "a new token for it") from err
    log.info("observer %s added%s", name, " (admin)" if admin else "")
    return observer, token


def reissue_token(session, name):
    """Give observer ``name`` a new token (the old one stops working); return it."""
    observer = session.scalar(select(Observer).where(Observer.name == name))
    if observer is None:
        raise ConfigError(f"no observer {name!r}; add it first")
    token = new_token()
    observer.token_sha256 = token_sha256(token)
    session.commit()
    log.info("observer %s: new token issued", name)
    return token


def observer_by_token(session, token):
    """The observer holding ``token``, or None."""
    if not token:
        return None
    return session.scalar(select(Observer).where(Observer.token_sha256 == token_sha256(token)))
