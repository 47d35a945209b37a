"""Log lines for people (``text``) or for a log pipeline (``json``, one object a line), with every
configured secret replaced by ``[redacted]`` whatever logged it: okrbot, an SDK or a traceback."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Literal

from adapters.settings import Settings
from store.db import url_password

REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold (tokens, passwords, the database password)."""
    slack, teams = settings.slack, settings.teams
    values = [slack.bot_token, slack.signing_secret, slack.app_token, slack.client_secret, slack.state_secret]
    values.append(settings.secret_key)
    found = [v.get_secret_value() for v in values if v is not None] + [teams.app_password.get_secret_value()]
    if settings.secret_key is not None:
        found += settings.secret_key.get_secret_value().split(",")  # each key alone too
    password = url_password(settings.database_url)
    if password:
        found.append(password)
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)  # longest first: no partial leak


class _Redacting:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = list(secrets)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(TEXT_FORMAT)
        self.redacting = _Redacting(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.redacting.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and the traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redacting = _Redacting(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redacting.redact(record.getMessage()),
        }
        if record.exc_info:
            line["exception"] = self.redacting.redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(level: str, form: LogFormat, secrets: Iterable[str]) -> None:
    """The root logger writes to standard error in ``form``; secrets never reach a line."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(secrets) if form == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # two lines a minute, every minute
