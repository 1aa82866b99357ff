# ccdphot in a container: Debian 12 with the external tools of apt-packages.txt,
# ccdphot and its Python dependencies at the versions of constraints.txt, and VARTOOLS.
# The `build` stage compiles (PyRAF's C extension, VARTOOLS); the image is the `run`
# stage, which holds only what runs. See docs/docker.rst.
#
#   docker build -t ccdphot .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD":/data ccdphot run frame.fits
#   docker run --rm ccdphot tools --check
#   docker run --rm ccdphot dask scheduler      # and `dask worker`: docker/compose.yaml
#
# Without access to Docker Hub, docker/build-base.sh makes the base from Debian's
# archive: --build-arg BASE_IMAGE=localhost/ccdphot-base:bookworm (docker/check.sh).
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS base
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8
COPY docker/dpkg-nodoc.cfg /etc/dpkg/dpkg.cfg.d/ccdphot-nodoc
COPY apt-packages.txt /tmp/apt-packages.txt

FROM base AS build
RUN apt-get update \
 && grep -v -E '#[[:space:]]*test' /tmp/apt-packages.txt \
    | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
# docker/vendor/ (filled by docker/check.sh, empty in git) may hold source archives, found
# by tools/build_vartools.sh as ../shared/vendor/ (else it downloads the pinned upstream
# commit), and *.crt certificates of a proxy that re-signs TLS, trusted here by pip.
COPY docker/vendor/ /src/shared/vendor/
RUN if ls /src/shared/vendor/*.crt >/dev/null 2>&1; then \
        cp /src/shared/vendor/*.crt /usr/local/share/ca-certificates/ \
        && update-ca-certificates >/dev/null; \
    fi
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/ccdphot/bin:$PATH
# The virtual environment first: VARTOOLS' configure wants a `python` on the PATH.
RUN python3 -m venv /opt/ccdphot
COPY tools/build_vartools.sh /src/ccdphot/tools/
RUN bash /src/ccdphot/tools/build_vartools.sh /opt/ccdphot/bin/vartools
# Every Python dependency at its pinned version, then ccdphot itself; pip check fails the
# build when constraints.txt no longer satisfies setup.cfg (tools/update_constraints.sh).
# setuptools goes: nothing imports it at run time, and pip builds in isolation.
COPY constraints.txt /src/ccdphot/
RUN pip install -r /src/ccdphot/constraints.txt
COPY setup.cfg pyproject.toml README.rst /src/ccdphot/
COPY ccdphot /src/ccdphot/ccdphot
COPY wrappers /src/ccdphot/wrappers
COPY default_params /src/ccdphot/default_params
COPY docker/remove-test-suites.sh docker/remove-build-files.sh /tmp/
RUN pip install --no-deps /src/ccdphot \
 && pip uninstall -q -y setuptools \
 && pip check \
 && sh /tmp/remove-test-suites.sh /opt/ccdphot/lib \
 && sh /tmp/remove-build-files.sh /opt/ccdphot/lib

FROM base AS run
COPY docker/remove-test-suites.sh /tmp/
RUN apt-get update \
 && grep -v -E '#[[:space:]]*build' /tmp/apt-packages.txt | grep -v -E '#[[:space:]]*test' \
    | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' \
    | xargs apt-get install -y --no-install-recommends \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /tmp/apt-packages.txt \
 && sh /tmp/remove-test-suites.sh /usr/lib/python3/dist-packages \
 && rm /tmp/remove-test-suites.sh
COPY --from=build /opt/ccdphot /opt/ccdphot
COPY docker/entrypoint.sh /usr/local/bin/ccdphot-entrypoint
# A user ccdphot (uid 1000) by default; any other `--user UID:GID` works too: HOME and the
# volume folders are writable by everyone (sticky, like /tmp), and IRAF gets a private
# HOME and uparm per job inside the results folder.
RUN useradd --uid 1000 --user-group --home-dir /home/ccdphot --create-home ccdphot \
 && mkdir -p /data /cache /config \
 && chown ccdphot:ccdphot /data /cache /config \
 && chmod 1777 /home/ccdphot /data /cache /config \
 && mkdir /tmp/tools-check && HOME=/tmp/tools-check /opt/ccdphot/bin/ccdphot tools --check \
 && rm -rf /tmp/tools-check
ENV PATH=/opt/ccdphot/bin:$PATH \
    VIRTUAL_ENV=/opt/ccdphot \
    HOME=/home/ccdphot \
    USER=ccdphot \
    CCDPHOT_CACHE_DIR=/cache \
    CCDPHOT_CONFIG_DIR=/config
VOLUME ["/cache", "/config"]
USER ccdphot
WORKDIR /data
ENTRYPOINT ["ccdphot-entrypoint"]
CMD ["--help"]
