#!/usr/bin/env bash
# Build the ccdphot image and check it as a user would (on demand, not in CI):
#   1. build with docker, or without a Docker daemon with podman (chroot isolation);
#      the base debian:bookworm-slim is pulled, or made from Debian's package archive
#      by docker/build-base.sh when no registry answers;
#   2. in the image (podman run, or buildah run where the OCI runtime cannot start
#      containers), as a non-root user not known to it: `ccdphot tools --check`, the
#      catalogue cache and configuration volumes, `dask` (scheduler and worker role);
#      every ccdphot module imported (server, batch, stack, periods...); with the HAT-P-32
#      frames of ../shared/data: `run`, `lightcurve --detrend biweight`, `period` (VARTOOLS);
#   3. the demo in the image and `bash setup.sh demo` locally: photometry.txt compared;
#   4. image size and build time.
#
#   bash docker/check.sh            (IMAGE=ccdphot:check; CHECK_USER=uid:gid to choose
#                                    the user, default the caller's, 4321:4321 for root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
image=${IMAGE:-ccdphot:check}
base=debian:bookworm-slim
local_base=localhost/ccdphot-base:bookworm
demo=(run tests/data/ngc6871/NGC6871.fits --out RESULTS
      --refcat tests/data/catalogs/apass_dr10_ngc6871.csv)

say() { echo "check: $*"; }
fail() { echo "check: FAILED: $*" >&2; exit 1; }

# 1. Engine, base image, build context, build.
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=docker; build=(docker build)
elif command -v podman >/dev/null; then
    engine=podman; build=(podman build --isolation chroot)
else
    fail "no container engine: install Docker and start its daemon" \
         "(https://docs.docker.com/engine/install/), or on Debian/Ubuntu without Docker:" \
         "sudo apt-get install podman buildah debootstrap"
fi
say "engine $engine ($("$engine" --version))"

if "$engine" image inspect "$base" >/dev/null 2>&1 \
        || timeout 120 "$engine" pull -q "$base" >/dev/null 2>&1; then
    say "base $base"
else
    if ! "$engine" image inspect "$local_base" >/dev/null 2>&1; then
        say "cannot pull $base: making it from Debian's archive (docker/build-base.sh)"
        bash docker/build-base.sh "$engine" "$local_base"
    fi
    base=$local_base
    say "base $base (debootstrap minbase bookworm)"
fi

# docker/vendor/: the VARTOOLS source (no download needed) and the host's own CA
# certificates (a proxy re-signing TLS); used in the build stage only.
shopt -s nullglob
for file in ../shared/vendor/*.tar.gz /usr/local/share/ca-certificates/*.crt; do
    cmp -s "$file" "docker/vendor/$(basename "$file")" || cp "$file" docker/vendor/
done
shopt -u nullglob

log=${TMPDIR:-/tmp}/ccdphot-image-build.log
start=$SECONDS
"${build[@]}" --build-arg BASE_IMAGE="$base" -t "$image" . > "$log" 2>&1 \
    || { tail -30 "$log" >&2; fail "image build (whole log: $log)"; }
build_s=$((SECONDS - start))
size_b=$("$engine" image inspect --format '{{.Size}}' "$image")
say "built $image in ${build_s} s"

# 2. In the image, as a user it does not know, on folders that user owns. Where the
#    OCI runtime may not start containers (a sandbox refusing its setrlimit calls),
#    `buildah run` with chroot isolation runs them, as the build did.
user=${CHECK_USER:-$(id -u):$(id -g)}
[ "${user%%:*}" = 0 ] && user=4321:4321
as_user=(--user "$user")
[ "$engine" = podman ] && [ "$(id -u)" -ne 0 ] && as_user+=(--userns keep-id)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ccdphot-check.XXXXXX")
container=""
cleanup() {
    [ -z "$container" ] || buildah rm "$container" >/dev/null
    rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$scratch/data/tests/data" "$scratch/cache" "$scratch/config"
cp -r tests/data/ngc6871 tests/data/catalogs "$scratch/data/tests/data/"
hatp32=../shared/data/hatp32/frames
[ -d "$hatp32" ] && cp -r "$hatp32" "$scratch/data/hatp32"
printf '[catalogs]\ncache_max_age_days = 30.0\n' > "$scratch/config/ccdphot.toml"
[ "$(id -u)" -eq 0 ] && chown -R "$user" "$scratch/data" "$scratch/cache"
mounts=(-v "$scratch/data":/data -v "$scratch/cache":/cache -v "$scratch/config":/config:ro)
# in_image_command PROGRAM ARGS... runs any program of the image; in_image ARGS... the
# image's own command (ccdphot, or dask).
if "$engine" run --rm "$image" --version >/dev/null 2>"$scratch/run.err"; then
    in_image_command() {
        "$engine" run --rm "${as_user[@]}" "${mounts[@]}" --entrypoint "$1" "$image" "${@:2}"
    }
elif command -v buildah >/dev/null; then
    say "$engine run fails here ($(tail -1 "$scratch/run.err")): buildah run --isolation chroot"
    container=$(buildah from -q "$image")
    in_image_command() {
        buildah run --isolation chroot "${as_user[@]}" "${mounts[@]}" "$container" -- "$@"
    }
else
    fail "$engine run: $(tail -1 "$scratch/run.err") (where the runtime cannot start" \
         "containers, buildah runs them: sudo apt-get install buildah)"
fi
in_image() { in_image_command ccdphot-entrypoint "$@"; }

say "as user $user: ccdphot tools --check"
in_image tools --check
in_image tools | grep -q '^vartools  *OK' || fail "VARTOOLS is not in the image"
effective=$(in_image config)
grep -q '^cache_dir = "/cache/catalogs"' <<< "$effective" || fail "cache not in /cache"
grep -q '^cache_max_age_days = 30.0' <<< "$effective" || fail "/config/ccdphot.toml not read"
say "cache_dir /cache/catalogs, /config/ccdphot.toml read"
in_image dask scheduler --help > /dev/null && in_image dask worker --help > /dev/null \
    || fail "dask scheduler / dask worker do not start"
say "dask roles: dask scheduler and dask worker there ($(in_image dask --version))"
in_image_command python -c "
import importlib, pkgutil, ccdphot
names = [m.name for m in pkgutil.walk_packages(ccdphot.__path__, 'ccdphot.')
         if not m.name.endswith('__main__') and '.migrations' not in m.name]
for name in names:
    importlib.import_module(name)
print('check: all', len(names), 'ccdphot modules import (server, batch, stack, periods...)')"

if [ -d "$scratch/data/hatp32" ]; then
    say "light curve roles on the HAT-P-32 frames: run, lightcurve --detrend biweight, period"
    mapfile -t frames < <(cd "$scratch/data" && ls hatp32/*.FITS)
    in_image run "${frames[@]}" --out RESULTS-hatp32 --steps header,detect \
        > "$scratch/hatp32.log" 2>&1 \
        || { tail -5 "$scratch/hatp32.log" >&2; fail "ccdphot run on the HAT-P-32 frames"; }
    start=$SECONDS
    in_image lightcurve RESULTS-hatp32 --target-xy 425 287 --out lc --detrend biweight \
        --window-days 0.1 --no-plots | tail -2 | head -1
    say "lightcurve with biweight detrending: $((SECONDS - start)) s"
    in_image period lc/target_lc.ecsv --engine vartools --method ls --max-period 0.3 | head -1
else
    say "no ../shared/data/hatp32: the lightcurve and period roles not run"
fi

say "demo in the image: ccdphot ${demo[*]}"
start=$SECONDS
in_image "${demo[@]}"
say "demo in the image: $((SECONDS - start)) s"
owner=$(stat -c %u:%g "$scratch/data/RESULTS/NGC6871/photometry.txt")
[ "$owner" = "$user" ] || fail "RESULTS belong to $owner, not to $user"
say "RESULTS belong to $owner"

# 3. The local install's demo, and the comparison.
say "local demo: bash setup.sh demo"
bash setup.sh demo > "$scratch/local-demo.log" 2>&1 \
    || { tail -20 "$scratch/local-demo.log" >&2; fail "bash setup.sh demo"; }
if cmp -s RESULTS/NGC6871/photometry.txt "$scratch/data/RESULTS/NGC6871/photometry.txt"; then
    say "photometry.txt: image and local install byte-identical" \
        "($(wc -l < RESULTS/NGC6871/photometry.txt) lines)"
    same=yes
else
    diff RESULTS/NGC6871/photometry.txt "$scratch/data/RESULTS/NGC6871/photometry.txt" \
        | head -20 || true
    say "photometry.txt: image and local install DIFFER (first lines above)"
    same=no
fi

# 4. Figures.
say "image $image: $((size_b / 1000000)) MB ($((size_b / 1048576)) MiB); build ${build_s} s"
[ "$same" = yes ] || exit 1
