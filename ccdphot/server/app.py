"""The server application: database, files, job dispatcher, API and pages in one ASGI app.

:func:`create_app` opens (and migrates) the database and the data folder at
once, so a wrong ``--db`` or ``--data`` fails before the server listens; the
dispatcher and its Dask cluster start with the application and stop with it.
"""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ccdphot import __version__
from ccdphot.errors import CCDPhotError, ConfigError, InputError
from ccdphot.server import api, web
from ccdphot.server.database import connect
from ccdphot.server.dispatcher import Dispatcher
from ccdphot.server.errors import RateLimited, RequestError, Unauthorized
from ccdphot.server.ratelimit import RateLimiter
from ccdphot.server.schemas import API_PREFIX
from ccdphot.server.state import ServerState
from ccdphot.server.storage import FrameStore

log = logging.getLogger(__name__)

# Room for the multipart encoding and the form fields beside the file.
FORM_OVERHEAD_BYTES = 64 * 1024

DESCRIPTION = """\
Upload FITS frames of a target and get calibrated photometry back: each frame
runs through the ccdphot engine on the server's Dask workers (standard
magnitude or 5-sigma upper limit, BJD_TDB, zero point and its quality), and a
target's light curve combines every telescope (JSON, CSV, AAVSO extended format).

Send your API token as `Authorization: Bearer TOKEN`. You see and change only
your own uploads; public targets' light curves need no token.
"""


def _status_of(err):
    if isinstance(err, RequestError):
        return err.status_code
    if isinstance(err, (InputError, ConfigError)):
        return 422
    return 500


def _error_response(request, err):
    status = _status_of(err)
    headers = {}
    if isinstance(err, RateLimited):
        headers["Retry-After"] = str(err.retry_after_s)
    if isinstance(err, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, err)
    if request.url.path.startswith(API_PREFIX):
        return JSONResponse({"detail": str(err)}, status_code=status, headers=headers)
    return web.render(request, "error.html", status_code=status, message=str(err))


def create_app(settings):
    """The ASGI application of one server."""
    store = FrameStore(settings.data_dir)
    sessions = connect(settings.database_url)
    state = ServerState(settings=settings, sessions=sessions, store=store,
                        dispatcher=Dispatcher(settings, sessions, store),
                        limiter=RateLimiter(settings.uploads_per_minute))

    @asynccontextmanager
    async def lifespan(_app):
        store.clear_incoming()
        state.dispatcher.start()
        try:
            yield
        finally:
            state.dispatcher.stop()

    app = FastAPI(title=settings.title, version=__version__, description=DESCRIPTION,
                  lifespan=lifespan,
                  max_body_size=settings.max_upload_bytes + FORM_OVERHEAD_BYTES)
    app.state.server = state
    app.add_exception_handler(CCDPhotError, _error_response)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, err: RequestValidationError):
        detail = "; ".join(f"{'.'.join(str(part) for part in error['loc'][1:]) or 'request'}: "
                           f"{error['msg']}" for error in err.errors())
        return JSONResponse({"detail": detail}, status_code=422)

    app.include_router(api.router)
    app.include_router(web.router)
    return app
