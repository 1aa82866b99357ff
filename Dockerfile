# ccdphot in a container: Debian 12 with the external tools from the same apt
# list the setup script and CI use, and ccdphot installed with pip.
#
#   docker build -t ccdphot .
#   docker run --rm -v "$PWD":/data ccdphot run frame.fits      # results in ./RESULTS
#   docker run --rm ccdphot tools
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    USER=ccdphot \
    VIRTUAL_ENV=/opt/ccdphot \
    PATH=/opt/ccdphot/bin:$PATH

COPY apt-packages.txt /tmp/apt-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e 's/[[:space:]]//g' /tmp/apt-packages.txt | grep -v '^$' \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*

# VARTOOLS with the same recipe as setup.sh: from the upstream archive of the pinned
# commit here (or from VARTOOLS_ARCHIVE, a vendor archive copied into the context).
COPY . /src/ccdphot
RUN python3 -m venv /opt/ccdphot \
 && /opt/ccdphot/bin/pip install /src/ccdphot \
 && bash /src/ccdphot/tools/build_vartools.sh /opt/ccdphot/bin/vartools \
 && rm -rf /src/ccdphot \
 && ccdphot tools --check

WORKDIR /data
ENTRYPOINT ["ccdphot"]
CMD ["--help"]
