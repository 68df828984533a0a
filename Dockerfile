# ccd in a container. Configuration comes from the environment (CCD_*, nested with "__",
# e.g. CCD_DATABASE_URL, CCD_HTTP__PORT, CCD_NODES as a JSON list) or a TOML file mounted
# at /etc/ccd/ccd.toml. See docker-compose.example.yml.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ccd ./ccd
COPY migrations ./migrations
RUN python -m venv /opt/ccd && /opt/ccd/bin/pip install --no-cache-dir /src

FROM python:3.11-slim
RUN groupadd --system --gid 10001 ccd \
    && useradd --system --uid 10001 --gid ccd --home-dir /var/lib/ccd --create-home \
       --shell /usr/sbin/nologin ccd
COPY --from=build /opt/ccd /opt/ccd
ENV PATH=/opt/ccd/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CCD_LOG_FORMAT=json \
    CCD_DATA_DIR=/var/lib/ccd \
    CCD_HTTP__HOST=0.0.0.0 \
    CCD_HTTP__PORT=8080
USER 10001:10001
WORKDIR /var/lib/ccd
EXPOSE 8080
# Liveness from inside the container; slim images have no curl, Python has urllib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CCD_HTTP__PORT', '8080') + '/healthz', timeout=4)"]
# SIGTERM stops ccd gracefully: no new calls, live ones finish (give it stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["ccd"]
CMD ["run"]
