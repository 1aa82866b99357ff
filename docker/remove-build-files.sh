#!/bin/sh
# Remove what Python packages install only for building against them, below each folder
# given: C, C++ and Cython sources and headers, static libraries (about 12 MB of the
# virtual environment). The run stage has no compiler, so nothing there reads them.
set -e
for folder in "$@"; do
    find "$folder" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \
        -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.a' \) -delete
done
