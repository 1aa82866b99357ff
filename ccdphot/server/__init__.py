"""The calibration server: observers upload frames, get calibrated points and light curves.

``ccdphot serve`` runs an HTTP API (FastAPI on uvicorn, versioned under
``/api/v1``) and server-rendered pages over a database (SQLAlchemy: SQLite by
default, PostgreSQL by URL; schema by Alembic migrations) and a folder of
files. Frames are processed on Dask workers through the engine's public API,
never inside a request; the server reads the per-frame products (docs/server.rst).
"""
