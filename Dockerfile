# The meter service. Settings come from METER_* variables (DESIGN.md "Running it");
# docker-compose.yml runs it with Redis and a ClickHouse server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The package only (not an editable install): what the service needs at run time.
COPY pyproject.toml ./
COPY meter ./meter
RUN pip install . && rm -rf /src

# The installed package sits in site-packages, away from examples/: give the demo pool file a
# fixed place (compose mounts deploy/compose/pool.toml over it). Its tokens are public: on
# 0.0.0.0 the service refuses to start with them, so mount a pool file of your own.
COPY examples/demo-pool.toml /etc/meter/pool.toml

RUN useradd --system --uid 10001 --home-dir /var/lib/meter --create-home --shell /usr/sbin/nologin meter
USER meter
WORKDIR /var/lib/meter

ENV METER_HTTP_HOST=0.0.0.0 \
    METER_HTTP_PORT=8080 \
    METER_CONFIG=/etc/meter/pool.toml \
    METER_DATA_DIR=/var/lib/meter
VOLUME ["/var/lib/meter"]
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('METER_HTTP_PORT', '8080'), timeout=4)"]

# exec form: the server is PID 1 and gets the SIGTERM of `docker stop` directly.
CMD ["meter", "serve"]
