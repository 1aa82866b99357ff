#!/bin/sh
# Remove, below each folder given, what Python packages install only for building and
# installing, which the run stage (no compiler, installs nothing) never reads: C, C++
# and Cython sources and headers, static libraries, and pip's bytecode (pip stays, to
# extend the image; it compiles on its rare start). About 20 MB of the venv.
set -e
for folder in "$@"; do
    find "$folder" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \
        -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.a' \) -delete
    find "$folder" -type d -path '*/site-packages/pip/*' -name __pycache__ -prune \
        -exec rm -rf {} +
done
