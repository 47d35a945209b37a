"""Backup and restore: the whole database as one versioned JSON document, and back.

``okrbot backup FILE`` reads every table okrbot owns (every workspace, with history; Slack tokens
as stored, that is sealed) in one read transaction, so the document is consistent as of one
moment while the server goes on writing (REPEATABLE READ on PostgreSQL; on SQLite the WAL
snapshot of the transaction's first read). Tables are read as the database has them, not as
today's models say, so the document names its schema revision and ``okrbot restore FILE`` loads
it into an empty database of either kind at that revision, then migrates to the newest. The rows
go in one transaction: a document that does not fit restores nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from store.db import Database
from store.migrate import alembic_config, head_revision, upgrade

FORMAT = "okrbot-backup"
VERSION = 1
_VERSIONS = "alembic_version"


class BackupError(Exception):
    """A backup that cannot be restored, or a database it cannot go into: one sentence."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def _reflect(connection: sa.Connection) -> sa.MetaData:
    metadata = sa.MetaData()
    metadata.reflect(connection)
    return metadata


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.utcoffset() is not None else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _decoder(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return lambda v: None if v is None else dt.datetime.fromisoformat(v).astimezone(dt.UTC)
    if isinstance(kind, sa.Date):
        return lambda v: None if v is None else dt.date.fromisoformat(v)
    if isinstance(kind, sa.Boolean):
        return lambda v: None if v is None else bool(v)
    return lambda v: v


async def backup(db: Database) -> dict[str, Any]:
    """Every table okrbot owns, as it is at one moment."""
    options = {} if db.is_sqlite else {"isolation_level": "REPEATABLE READ"}
    async with db.engine.connect() as connection:
        connection = await connection.execution_options(**options)
        async with connection.begin():
            schema = (await connection.execute(sa.text(f"SELECT version_num FROM {_VERSIONS}"))).scalar_one()
            metadata = await connection.run_sync(_reflect)
            tables: dict[str, Any] = {}
            for table in metadata.sorted_tables:
                if table.name == _VERSIONS:
                    continue
                order = list(table.primary_key.columns) or list(table.columns)
                rows = (await connection.execute(sa.select(table).order_by(*order))).all()
                tables[table.name] = {
                    "columns": [c.name for c in table.columns],
                    "rows": [[_encode(v) for v in row] for row in rows],
                }
    taken = dt.datetime.now(dt.UTC).isoformat()
    return {"format": FORMAT, "version": VERSION, "schema": schema, "taken_at": taken, "tables": tables}


def write_backup(document: Mapping[str, Any], path: Path) -> None:
    """Write next to ``path``, then rename: a crash never leaves half a backup under its name."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False, separators=(",", ":"))
    partial.replace(path)


def read_backup(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"Cannot read {path}: {exc.__class__.__name__}.") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BackupError(
            f"{path} is not a whole JSON document (line {exc.lineno}: {exc.msg}): it may be cut short; "
            "use a file written by okrbot backup."
        ) from None
    _check_shape(document, path)
    return document


def _check_shape(document: Any, path: Path) -> None:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f'{path} is not an okrbot backup: it has no "format": "{FORMAT}".')
    if document.get("version") != VERSION:
        raise BackupError(
            f"{path} is a backup of format version {document.get('version')!r}; this okrbot reads version {VERSION}: "
            "restore it with the okrbot that wrote it."
        )
    tables = document.get("tables")
    if not isinstance(document.get("schema"), str) or not isinstance(tables, dict):
        raise BackupError(f"{path} has no schema revision or no tables: use a file written by okrbot backup.")
    for name, table in tables.items():
        columns = table.get("columns") if isinstance(table, dict) else None
        rows = table.get("rows") if isinstance(table, dict) else None
        if not isinstance(columns, list) or not isinstance(rows, list):
            raise BackupError(f"Table {name!r} of {path} has no columns or rows list.")
        for number, row in enumerate(rows, 1):
            if not isinstance(row, list) or len(row) != len(columns):
                raise BackupError(
                    f"Row {number} of table {name!r} has {_count(row)} values for {len(columns)} columns."
                )


def _count(row: Any) -> str:
    return str(len(row)) if isinstance(row, list) else "no list of"


def _known_revisions() -> list[str]:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [s.revision for s in scripts.walk_revisions()]


async def restore(db: Database, document: Mapping[str, Any]) -> int:
    """Load ``document`` into ``db``, which must be empty (and migrated: the CLI migrates first).
    The number of rows restored."""
    schema = document["schema"]
    if schema not in _known_revisions():
        raise BackupError(
            f"This backup is of schema {schema}, newer than this okrbot knows ({head_revision()}): "
            "upgrade okrbot, then restore."
        )
    await _refuse_unless_empty(db)
    older = schema != head_revision()
    if older:  # the rows fit the schema they were read from: go there, load, come back
        await db.engine.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(db.url), schema)
    try:
        return await _load(db, document["tables"])
    finally:
        if older:
            await db.engine.dispose()
            await asyncio.to_thread(upgrade, db.url)


async def _refuse_unless_empty(db: Database) -> None:
    async with db.engine.connect() as connection:
        metadata = await connection.run_sync(_reflect)
        for table in metadata.sorted_tables:
            if table.name == _VERSIONS:
                continue
            if (await connection.execute(sa.select(sa.func.count()).select_from(table))).scalar_one():
                raise BackupError(
                    f"This database already holds data (table {table.name}): restore only into an empty "
                    "database, so nothing is mixed or overwritten."
                )


async def _load(db: Database, tables: Mapping[str, Any]) -> int:
    restored = 0
    async with db.engine.begin() as connection:  # one transaction: all the rows, or none
        metadata = await connection.run_sync(_reflect)
        unknown = sorted(set(tables) - set(metadata.tables))
        if unknown:
            raise BackupError(f"The backup has a table this schema does not: {unknown[0]}; nothing was restored.")
        for table in metadata.sorted_tables:
            if table.name in tables:
                restored += await _load_table(connection, table, tables[table.name])
        if not db.is_sqlite:
            await _reset_sequences(connection, metadata)
    return restored


async def _load_table(connection: AsyncConnection, table: sa.Table, saved: Mapping[str, Any]) -> int:
    columns, rows = saved["columns"], saved["rows"]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise BackupError(f"Table {table.name} has no column {missing[0]}; nothing was restored.")
    decode = [_decoder(table.columns[c]) for c in columns]
    try:
        values = [{c: d(v) for c, d, v in zip(columns, decode, row, strict=True)} for row in rows]
    except (TypeError, ValueError) as exc:
        raise BackupError(f"Table {table.name} holds a value that is not what its column takes ({exc}).") from None
    if values:
        try:
            await connection.execute(table.insert(), values)
        except (IntegrityError, DBAPIError, StatementError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
            raise BackupError(
                f"The rows of table {table.name} do not fit ({reason}): two rows may share a number; "
                "nothing was restored."
            ) from None
    return len(values)


async def _reset_sequences(connection: AsyncConnection, metadata: sa.MetaData) -> None:
    """PostgreSQL: each serial id goes on after the largest restored, not from 1."""
    for table in metadata.sorted_tables:
        if "id" not in table.columns or not isinstance(table.columns["id"].type, sa.Integer):
            continue
        sequence = (
            await connection.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
        ).scalar_one()
        if sequence:
            await connection.execute(
                sa.text(f'SELECT setval(:s, COALESCE((SELECT max(id) FROM "{table.name}"), 0) + 1, false)'),
                {"s": sequence},
            )
