#!/usr/bin/env bash
# Build VARTOOLS 1.51 (GPL-3.0, not packaged for Debian or PyPI) into DEST (default
# .venv/bin/vartools). The one recipe used by setup.sh and the Dockerfile.
#
#   bash tools/build_vartools.sh [DEST]
#
# Source, in this order:
#   1. $VARTOOLS_ARCHIVE, or ../shared/vendor/vartools-1.51-8a92ff7.tar.gz beside the
#      checkout: checked against its sha256;
#   2. otherwise the upstream GitHub archive of the same commit, downloaded: GitHub
#      does not promise byte-stable archives, so it is checked by the commit id
#      `git archive` writes into its pax header instead.
# Needs gcc make gfortran libgsl-dev libcfitsio-dev (apt-packages.txt). Exit code 3
# when no source can be had: ccdphot then uses its native period engine.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$(realpath -m "${1:-$repo/.venv/bin/vartools}")
commit=8a92ff71f40167f7ace57b69dd0b193dde5787fe
vendor_name=vartools-1.51-8a92ff7.tar.gz
vendor_sha256=18b16896986be3f464e1aafc1fc15f47471bdb69655a4dd010f027e61eb7a2bd
upstream_url=https://github.com/joeldhartman/vartools/archive/$commit.tar.gz
python=${PYTHON:-python3}

work=$(mktemp -d "${TMPDIR:-/tmp}/vartools-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
archive=${VARTOOLS_ARCHIVE:-$repo/../shared/vendor/$vendor_name}

if [ -f "$archive" ]; then
    echo "vartools: building from $archive"
    echo "$vendor_sha256  $archive" | sha256sum --check --quiet - || {
        echo "vartools: $archive does not have the expected sha256 $vendor_sha256" >&2
        exit 2
    }
else
    echo "vartools: no $archive; downloading commit ${commit:0:7}"
    archive=$work/upstream.tar.gz
    if ! "$python" - "$upstream_url" "$archive" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=60) as answer, open(sys.argv[2], "wb") as out:
        out.write(answer.read())
except OSError as err:
    sys.exit(f"vartools: download failed: {getattr(err, 'reason', err)}")
PY
    then
        echo "vartools: cannot get the source (no vendor archive, no download from" \
             "$upstream_url); ccdphot's native period engine answers without VARTOOLS" >&2
        exit 3
    fi
    found=$("$python" -c 'import sys, tarfile; print(tarfile.open(sys.argv[1]).pax_headers.get("comment", ""))' "$archive")
    if [ "$found" != "$commit" ]; then
        echo "vartools: the downloaded archive is commit '$found', not $commit" >&2
        exit 2
    fi
fi

mkdir "$work/src"
tar xzf "$archive" -C "$work/src" --strip-components=1
cd "$work/src"
start=$SECONDS
# A plain top-level make stops at the example files the archive leaves out: build
# libltdl and src only (vendor README).
./configure --disable-shared > configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
make -j"$(nproc)" -C libltdl > make.log 2>&1 && make -j"$(nproc)" -C src >> make.log 2>&1 \
    || { tail -20 make.log >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
install -m 0755 src/vartools "$dest.tmp" && mv -f "$dest.tmp" "$dest"
echo "vartools: built $("$dest" -version 2>&1 | grep -o 'version [0-9.]*' | head -1 || true) in" \
     "$((SECONDS - start)) s -> $dest"
