"""The ``okrbot`` command: the composition root that knows every piece."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from adapters.console.adapter import ConsoleAdapter, is_interactive
from adapters.local import LOCAL_NAME
from adapters.settings import Settings
from bot.command import Command
from store.db import Database, redacted
from store.installations import seal_installations
from store.migrate import upgrade
from store.secrets import HOW, SETTING, SecretKeyError, new_key

log = logging.getLogger("okrbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="okrbot", description="OKR check-ins where your team talks.")
    parser.add_argument("--database-url", help="overrides OKRBOT_DATABASE_URL / DATABASE_URL")
    sub = parser.add_subparsers(
        dest="action",
        required=True,
        metavar="{chat,serve,db,import,demo,send,deliveries,token,forget,secret-key,secrets,backup,restore}",
    )

    chat = sub.add_parser("chat", help="the terminal chat (one command per line when input is piped)")
    chat.add_argument("--user", required=True, help="who you are, e.g. alice")
    chat.add_argument("--workspace", default="local", help="the local workspace (default: local)")

    serve = sub.add_parser("serve", help="the HTTP server for Slack, Teams and the web chat")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--webchat", action="store_true", help="the web chat at / even with Slack or Teams configured")
    serve.add_argument("--demo", action="store_true", help="load the demo organisation first (once) and open it")
    serve.add_argument("--log-format", choices=["text", "json"], default="text", help="json: one object a line")

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("db_action", choices=["upgrade"], help="upgrade: run the migrations")

    imp = sub.add_parser("import", help="import OKRs from a CSV in the format of `export csv`")
    imp.add_argument("file", type=Path)
    _as_person(imp, user="who imports (owner of rows with no owner)")
    sub.add_parser("demo", help="load a sample organisation (workspace 'demo') with ten weeks of check-ins")

    teams = sub.add_parser("teams", help="Microsoft Teams tools: `teams package --app-id ID` writes the app zip")
    teams.add_argument("teams_action", choices=["package"])
    teams.add_argument("rest", nargs=argparse.REMAINDER, help="--app-id ID [--host HOST] [--out FILE]")
    send = sub.add_parser("send", help="queue this period's prompts, reminders, digests or grading now, and send them")
    send.add_argument("what", choices=["prompts", "reminders", "digests", "grading"])
    send.add_argument("--team", help="one team's (its key)")
    send.add_argument("--workspace", help="one workspace's (its id or external id)")
    token = sub.add_parser("token", help="API tokens for /api/v1: add NAME, list, revoke NAME (as an admin)")
    token.add_argument("token_action", choices=["add", "list", "revoke"])
    token.add_argument("name", nargs="?", default="", help="the token's name (add, revoke)")
    _as_person(token)
    forget = sub.add_parser("forget", help="erase a person who left (their platform id or local name), as an admin")
    forget.add_argument("person", help="the person's platform id (Slack U…, Teams AAD id) or local name")
    _as_person(forget)
    saved = sub.add_parser("backup", help="write the whole database to FILE as one JSON document, while it runs")
    saved.add_argument("file", type=Path)
    back = sub.add_parser("restore", help="load a backup FILE into an empty database (SQLite or PostgreSQL)")
    back.add_argument("file", type=Path)
    sub.add_parser("secret-key", help="print a fresh key for OKRBOT_SECRET_KEY")
    rotate = sub.add_parser(
        "secrets", help="rotate: encrypt every stored secret again with OKRBOT_SECRET_KEY's first key"
    )
    rotate.add_argument("secrets_action", choices=["rotate"])
    deliveries = sub.add_parser("deliveries", help="list the delivery outbox, newest first")
    deliveries.add_argument("--status", choices=["pending", "sending", "sent", "failed"])
    return parser


def _as_person(parser: argparse.ArgumentParser, user: str = "who runs it: an admin of the workspace") -> None:
    parser.add_argument("--user", required=True, help=f"{user}; on Slack or Teams their platform id")
    parser.add_argument(
        "--workspace", default="local", help="the workspace: a local name, a Slack team id, a tenant id"
    )
    parser.add_argument("--platform", default="local", choices=["local", "slack", "teams"])


def _person_command(args: argparse.Namespace, text: str, source: str) -> Command:
    """``text`` as a command of ``--user`` in ``--workspace`` (local names are lowercase)."""
    from bot.command import Actor, WorkspaceRef

    local = args.platform == "local"
    return Command(
        workspace=WorkspaceRef(args.platform, args.workspace.lower() if local else args.workspace, args.workspace),
        actor=Actor(args.user.lower() if local else args.user, args.user),
        text=text,
        source=source,
    )


def _settings(args: argparse.Namespace) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SystemExit(f"okrbot: the setting {first['loc'][0]} is not valid: {first['msg']}.") from None
    if args.database_url:
        settings.database_url = args.database_url
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(
            f"okrbot: OKRBOT_TIMEZONE={settings.timezone!r} is not an IANA timezone like Europe/Paris."
        ) from None
    return settings


def _name(value: str, what: str) -> str:
    if not LOCAL_NAME.fullmatch(value):
        raise SystemExit(f"okrbot: {what} {value!r} must be one word of letters, digits, '.', '_' or '-'.")
    return value


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except SecretKeyError as exc:  # a missing or wrong OKRBOT_SECRET_KEY: its sentence, no traceback
        raise SystemExit(f"okrbot: {exc.sentence}") from None


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.action == "teams":  # needs no settings and no database
        from adapters.teams.package import main as package

        return package(args.rest)
    if args.action == "secret-key":
        print(new_key())
        return 0
    settings = _settings(args)
    from adapters.logs import configure, secrets_of

    configure(settings.log_level, getattr(args, "log_format", "text"), secrets_of(settings))
    try:
        upgrade(settings.database_url, secret_key=settings.secret_box())
    except SecretKeyError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreachable or unwritable database: one sentence, no traceback
        reason = (str(exc).strip().splitlines() or [""])[0]  # not SQLAlchemy's "(Background on this error …)" line
        for secret in secrets_of(settings):
            reason = reason.replace(secret, "***")
        raise SystemExit(
            f"okrbot: cannot open the database {redacted(settings.database_url)}: {exc.__class__.__name__}: {reason}"
        ) from None
    if args.action == "db":
        print(f"Database {redacted(settings.database_url)} is up to date.")
        return 0
    if args.action == "chat":
        return _chat(settings, _name(args.user, "--user"), _name(args.workspace, "--workspace"))
    if args.action == "import":
        return asyncio.run(_import(settings, args))
    if args.action == "demo":
        return asyncio.run(_demo(settings))
    if args.action == "send":
        return asyncio.run(_send(settings, args))
    if args.action == "deliveries":
        return asyncio.run(_deliveries(settings, args))
    if args.action == "token":
        return asyncio.run(_token(settings, args))
    if args.action == "forget":
        person = args.person.lower() if args.platform == "local" else args.person
        return asyncio.run(_typed(settings, args, f"forget <@{person}>"))
    if args.action == "secrets":
        return asyncio.run(_rotate(settings))
    if args.action in ("backup", "restore"):
        return asyncio.run(_backup(settings, args))
    from adapters.server import serve

    if args.webchat:  # as OKRBOT_WEBCHAT=on would
        settings = settings.model_copy(update={"webchat": settings.webchat.model_copy(update={"mode": "on"})})
    if args.demo:
        asyncio.run(_load_demo(settings))
    return serve(settings, host=args.host, port=args.port)


async def _load_demo(settings: Settings) -> None:
    from bot.demo import load_demo

    db = Database(settings.database_url)
    try:
        log.info("%s", await load_demo(db, timezone=settings.timezone))
    finally:
        await db.dispose()


def _chat(settings: Settings, user: str, workspace: str) -> int:
    from bot.core import Bot

    with asyncio.Runner() as runner:
        db = Database(settings.database_url)
        adapter = ConsoleAdapter(Bot(db, timezone=settings.timezone), user=user, workspace=workspace)
        try:
            if is_interactive():
                adapter.run_repl(runner)
            else:
                runner.run(adapter.run_lines(sys.stdin, sys.stdout))
        finally:
            runner.run(db.dispose())
    return 0


async def _demo(settings: Settings) -> int:
    from bot.demo import load_demo

    db = Database(settings.database_url)
    try:
        print(await load_demo(db, timezone=settings.timezone))
    finally:
        await db.dispose()
    print("Try it: okrbot chat --workspace demo --user <name>, then tree or digest all.")
    return 0


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core import Bot

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"okrbot: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    db = Database(settings.database_url)
    try:
        command = _person_command(args, "import csv", "import")
        ok, sentence = await Bot(db, timezone=settings.timezone).import_csv(command, text)
    finally:
        await db.dispose()
    print(sentence, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


async def _send(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.server import outbounds
    from scheduler.ops import send

    db = Database(settings.database_url)
    try:
        queued, stats, pending = await send(db, outbounds(settings, db), args.what, team=args.team,
                                            workspace=args.workspace)  # fmt: skip
    finally:
        await db.dispose()
    print(f"Queued {queued} {args.what}; sent {stats.sent}, failed {stats.failed}, {pending} waiting to be sent.")
    return 0


async def _token(settings: Settings, args: argparse.Namespace) -> int:
    if args.token_action != "list" and not args.name:
        print(f"okrbot: token {args.token_action} needs a name, e.g. okrbot token {args.token_action} ci-deploys",
              file=sys.stderr)  # fmt: skip
        return 2
    return await _typed(settings, args, " ".join(w for w in ("token", args.token_action, args.name) if w))


async def _typed(settings: Settings, args: argparse.Namespace, words: str) -> int:
    """``words`` typed by ``--user`` in ``--workspace``: the reply on stdout, or stderr and 1."""
    from bot.core import Bot

    db = Database(settings.database_url)
    try:
        message = await Bot(db, timezone=settings.timezone).handle(_person_command(args, words, "console"))
    finally:
        await db.dispose()
    print("\n".join(block.plain() for block in message.blocks), file=sys.stderr if message.is_error else sys.stdout)
    return 1 if message.is_error else 0


async def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from store.backup import BackupError, backup, read_backup, restore, write_backup

    db = Database(settings.database_url)
    try:
        if args.action == "backup":
            document = await backup(db)
            await asyncio.to_thread(write_backup, document, args.file)
            rows = sum(len(t["rows"]) for t in document["tables"].values())
            print(
                f"Wrote {rows} rows of {len(document['tables'])} tables (schema {document['schema']}) to {args.file}."
            )
            return 0
        try:
            document = await asyncio.to_thread(read_backup, args.file)
            rows = await restore(db, document)
        except BackupError as exc:
            print(f"okrbot: {exc.sentence}", file=sys.stderr)
            return 1
        print(
            f"Restored {rows} rows from {args.file} (taken {document.get('taken_at', '?')}, schema {document['schema']})."
        )
        return 0
    finally:
        await db.dispose()


async def _rotate(settings: Settings) -> int:
    box = settings.secret_box()
    if box is None:
        raise SecretKeyError(f"{SETTING} is not set: {HOW}, and list the old key after it, comma-separated.")
    db = Database(settings.database_url)
    try:
        changed = await seal_installations(db, box, again=True)
    finally:
        await db.dispose()
    print(f"Encrypted the secrets of {changed} Slack installation(s) again with the first key of {SETTING}.")
    return 0


async def _deliveries(settings: Settings, args: argparse.Namespace) -> int:
    from scheduler.ops import deliveries

    db = Database(settings.database_url)
    try:
        lines = await deliveries(db, status=args.status)
    finally:
        await db.dispose()
    print("\n".join(lines) if lines else "No deliveries.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
