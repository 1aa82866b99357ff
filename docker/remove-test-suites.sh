#!/bin/sh
# Remove the test suites Python packages install beside their code, below each folder
# given: they are not part of what runs (about 170 MB of the image's pip and Debian
# packages). astropy/tests stays: astropy imports its test runner at start-up.
set -e
for folder in "$@"; do
    find "$folder" -depth -type d -name tests ! -path '*/astropy/tests' -exec rm -rf {} +
done
