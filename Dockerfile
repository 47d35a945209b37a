# okrbot: one process serving Slack, Teams, the web chat, /healthz and /metrics, with the scheduler.
#   docker build -t okrbot .
#   docker run -p 127.0.0.1:3978:3978 -e OKRBOT_WEBCHAT_PUBLIC=true -v okrbot-data:/data okrbot
# (the web chat answers only its own machine; a container's own machine is the container, so
# trying it from the host needs OKRBOT_WEBCHAT_PUBLIC=true with the port published on 127.0.0.1 only.)
# On PostgreSQL, set DATABASE_URL (or OKRBOT_DATABASE_URL) and run `okrbot db upgrade` once per release.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY store ./store
COPY scheduler ./scheduler
RUN pip install . \
    && useradd --create-home --uid 10001 --user-group okrbot \
    && mkdir /data \
    && chown okrbot:okrbot /data

USER okrbot
# The SQLite default (okrbot.db in the working directory) lands on the volume.
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3978

# Same port rule as okrbot: OKRBOT_PORT, then PORT, then 3978.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; port = os.environ.get('OKRBOT_PORT') or os.environ.get('PORT') or '3978'; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"

# exec form: okrbot is PID 1 and gets SIGTERM itself, so in-flight requests finish on docker stop
CMD ["okrbot", "serve", "--host", "0.0.0.0"]
