#!/bin/sh
# Entry point of the ccdphot image: `dask scheduler` / `dask worker ADDRESS` start a
# Dask scheduler or worker of this same image; anything else is a ccdphot command line.
set -e
if [ "${1:-}" = dask ]; then
    exec "$@"
fi
exec ccdphot "$@"
