"""What the request handlers share: settings, database sessions, files, the job queue.

One :class:`ServerState` per application, on ``app.state.server``; the
dependencies below hand its parts to the handlers.
"""

from dataclasses import dataclass

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ccdphot.server.auth import observer_by_token
from ccdphot.server.dispatcher import Dispatcher
from ccdphot.server.errors import Forbidden, Unauthorized
from ccdphot.server.ratelimit import RateLimiter
from ccdphot.server.settings import ServerSettings
from ccdphot.server.storage import FrameStore

TOKEN_COOKIE = "ccdphot_token"

bearer = HTTPBearer(auto_error=False, description="the observer's API token")


@dataclass
class ServerState:
    settings: ServerSettings
    sessions: object  # sqlalchemy sessionmaker
    store: FrameStore
    dispatcher: Dispatcher
    limiter: RateLimiter


def get_state(request: Request) -> ServerState:
    return request.app.state.server


def get_session(state: ServerState = Depends(get_state)):
    with state.sessions() as session:
        yield session


def _observer(session, token):
    if not token:
        return None
    observer = observer_by_token(session, token)
    if observer is None:
        raise Unauthorized("unknown API token; ask the server's admin for yours")
    return observer


def optional_observer(request: Request,
                      credentials: HTTPAuthorizationCredentials = Security(bearer),
                      session=Depends(get_session)):
    """The caller by bearer token (API) or by the web pages' cookie; None if anonymous."""
    token = credentials.credentials if credentials is not None else \
        request.cookies.get(TOKEN_COOKIE)
    return _observer(session, token)


def require_observer(observer=Depends(optional_observer)):
    if observer is None:
        raise Unauthorized("this needs an API token: send the header "
                           "'Authorization: Bearer TOKEN'")
    return observer


def require_admin(observer=Depends(require_observer)):
    if not observer.is_admin:
        raise Forbidden("this needs an admin's API token")
    return observer
