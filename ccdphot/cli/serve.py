"""``ccdphot serve`` (the calibration server) and ``ccdphot observer`` (its API tokens).

The server's modules (FastAPI, SQLAlchemy, Dask) are imported only when one
of these commands runs, so ``ccdphot run`` starts without them.
"""

import logging
import sys
from pathlib import Path

from ccdphot.config import thaw
from ccdphot.frame.steps import STEP_NAMES

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def _add_place_options(parser):
    from ccdphot.server.settings import DEFAULT_DATA_DIR

    parser.add_argument("--data", metavar="DIR", default=DEFAULT_DATA_DIR,
                        help="the server's files: frames, products "
                             f"(default: ./{DEFAULT_DATA_DIR})")
    parser.add_argument("--db", metavar="URL",
                        help="database URL: sqlite:///FILE or postgresql://USER:PASSWORD@HOST/"
                             "NAME (default: an SQLite file in --data)")


def _database_url(args):
    from ccdphot.server.settings import default_database_url

    return args.db or default_database_url(args.data)


def _cmd_serve(args, load_config):
    import uvicorn

    from ccdphot.server.app import create_app
    from ccdphot.server.settings import ServerSettings

    steps = tuple(s.strip() for s in args.steps.split(",") if s.strip()) if args.steps else None
    settings = ServerSettings(
        data_dir=Path(args.data).resolve(), database_url=_database_url(args),
        engine_config=thaw(load_config(args)), steps=steps, scheduler=args.scheduler,
        workers=args.workers, max_upload_bytes=int(args.max_upload_mb * 1e6),
        max_megapixels=args.max_megapixels, uploads_per_minute=args.uploads_per_minute,
        targets_public=not args.private_targets)
    server_log = logging.getLogger("ccdphot.server")  # jobs and uploads, beside uvicorn's log
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    server_log.addHandler(handler)
    server_log.setLevel(logging.DEBUG if args.debug else logging.INFO)
    server_log.propagate = False
    app = create_app(settings)
    print(f"ccdphot serve: http://{args.host}:{args.port}/ (API docs at /docs), data in "
          f"{settings.data_dir}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                timeout_graceful_shutdown=10)
    return 0


def _sessions(args):
    from ccdphot.server.database import connect

    return connect(_database_url(args))


def _cmd_observer_add(args):
    from ccdphot.server.auth import create_observer

    with _sessions(args)() as session:
        observer, token = create_observer(session, args.name, args.admin)
    print(f"observer {observer.name}{' (admin)' if observer.is_admin else ''}; API token "
          "(shown only now, keep it):", file=sys.stderr)
    print(token)
    return 0


def _cmd_observer_token(args):
    from ccdphot.server.auth import reissue_token

    with _sessions(args)() as session:
        token = reissue_token(session, args.name)
    print(f"observer {args.name}: new API token (the old one no longer works):",
          file=sys.stderr)
    print(token)
    return 0


def _cmd_observer_list(args):
    from sqlalchemy import select

    from ccdphot.server.models import Observer

    with _sessions(args)() as session:
        for observer in session.scalars(select(Observer).order_by(Observer.name)):
            print(f"{observer.name}\t{'admin' if observer.is_admin else 'observer'}\t"
                  f"since {observer.created_utc:%Y-%m-%d}")
    return 0


def add_serve_parsers(sub, add_config_options, load_config):
    """Register ``serve`` and ``observer``; ``load_config(args)`` gives the engine config."""
    serve = sub.add_parser("serve", help="run the calibration server (HTTP API, web pages, "
                                         "jobs on Dask)")
    _add_place_options(serve)
    serve.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler (tcp://host:8786) whose workers see --data at the "
                            "same path (default: a local cluster)")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="worker processes of the local cluster (default: one per CPU)")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--steps", metavar="a,b,...",
                       help=f"steps of every frame, from: {','.join(STEP_NAMES)} "
                            "(default: the configured sequence)")
    serve.add_argument("--max-upload-mb", type=float, default=100.0, metavar="MB",
                       help="largest upload accepted (default 100 MB)")
    serve.add_argument("--max-megapixels", type=float, default=100.0, metavar="MPIX",
                       help="largest image accepted (default 100 megapixels)")
    serve.add_argument("--uploads-per-minute", type=int, default=60, metavar="N",
                       help="uploads per observer token and minute (default 60)")
    serve.add_argument("--private-targets", action="store_true",
                       help="new targets' light curves are private (default: public)")
    add_config_options(serve)
    serve.set_defaults(func=lambda args: _cmd_serve(args, load_config))

    observer = sub.add_parser("observer", help="the calibration server's observers and "
                                               "their API tokens")
    actions = observer.add_subparsers(dest="action", required=True)
    for name, handler, text in (("add", _cmd_observer_add, "add an observer; print its token"),
                                ("token", _cmd_observer_token,
                                 "issue a new token for an observer (the old one stops)"),
                                ("list", _cmd_observer_list, "list the observers")):
        action = actions.add_parser(name, help=text)
        if name != "list":
            action.add_argument("name", help="observer name")
        if name == "add":
            action.add_argument("--admin", action="store_true",
                                help="may add observers and see every upload")
        _add_place_options(action)
        action.set_defaults(func=handler)
