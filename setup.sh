#!/usr/bin/env bash
# ccdphot setup: the external tools (apt-packages.txt), a virtual environment at
# .venv with ccdphot installed into it, VARTOOLS built into .venv/bin, then one action:
#   bash setup.sh demo    set up, then run the pipeline on the bundled NGC 6871 frame, offline,
#                         against the bundled APASS DR10 extract -> RESULTS/
#   bash setup.sh test    set up, then run the test suite (extra arguments go to pytest)
#   bash setup.sh         set up only
# Idempotent: a second call installs nothing unless the sources changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
action=${1:-install}
[ $# -gt 0 ] && shift

# 1. External tools, from the one apt list (also used by .ci/run and the Dockerfile).
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' apt-packages.txt | grep -v '^$')
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. Virtual environment with ccdphot (a real, non-editable install) and the test extras,
#    its dependencies at the versions pinned in constraints.txt (as in the image).
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=$( (cat setup.cfg pyproject.toml constraints.txt; find ccdphot wrappers default_params -type f \
          ! -name '*.pyc' -print0 | sort -z | xargs -0 cat) | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.ccdphot-installed 2>/dev/null)" != "$stamp" ]; then
    echo "setup: installing ccdphot into .venv"
    rm -rf build  # setuptools reuses build/: a stale module there would be installed too
    .venv/bin/python -m pip install -q -c constraints.txt ".[test]"
    echo "$stamp" > .venv/.ccdphot-installed
fi

# 3. VARTOOLS, built from source into .venv/bin when missing (tools/build_vartools.sh;
#    about 30 s). Without its source the native period engine is used instead.
if [ ! -x .venv/bin/vartools ]; then
    # VARTOOLS' configure looks for a `python` command: the venv has one, plain Debian may not.
    PATH="$PWD/.venv/bin:$PATH" bash tools/build_vartools.sh .venv/bin/vartools \
        || echo "setup: VARTOOLS not built; \`ccdphot period\` uses its native engine" >&2
fi

# 4. The action.
case "$action" in
    demo) exec .venv/bin/ccdphot run tests/data/ngc6871/NGC6871.fits --out RESULTS \
              --refcat tests/data/catalogs/apass_dr10_ngc6871.csv "$@" ;;
    test) exec .venv/bin/pytest "$@" ;;
    install) .venv/bin/ccdphot tools ;;
    *) echo "usage: bash setup.sh [demo|test]" >&2; exit 2 ;;
esac
