"""The CSV of ``export csv``, read back: every row checked before anything is written.

One row per key result; an objective with no key result has one row with the key-result
columns empty. Blank ``objective`` / ``kr`` columns get new numbers, so a spreadsheet
written by hand imports too: its rows are grouped into objectives by cycle, team and title.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from bot.errors import UserError
from bot.grammar import CONFIDENCE, CYCLE, KEY, MAX_TITLE, MAX_UNIT, UNIT, Date, Kind, Number, Ref, Score, Token

COLUMNS = [
    "cycle", "cycle_start", "cycle_end", "team", "team_name",
    "objective", "objective_title", "objective_owner", "kind", "capability", "capability_name", "parent",
    "objective_archived", "kr", "kr_title", "kr_owner", "unit", "start", "target", "current", "confidence",
    "score", "kr_archived",
]  # fmt: skip
REQUIRED = {"team", "objective_title"}
MAX_BYTES = 5_000_000


@dataclass
class KrRow:
    line: int
    number: int | None
    title: str
    owner: str
    unit: str
    start: float
    target: float
    current: float
    confidence: int
    score: float | None
    archived: bool


@dataclass
class ObjectiveRow:
    line: int
    label: str  # "O-3", or a key made of cycle, team and title when the column is blank
    number: int | None
    title: str
    team: str
    team_name: str
    owner: str
    kind: str
    cycle: str
    cycle_start: dt.date | None
    cycle_end: dt.date | None
    capability: str
    capability_name: str
    parent: str
    archived: bool
    krs: list[KrRow] = field(default_factory=list)


@dataclass
class ImportPlan:
    objectives: list[ObjectiveRow]

    @property
    def kr_count(self) -> int:
        return sum(len(o.krs) for o in self.objectives)

    @property
    def max_objective_number(self) -> int:
        return max((o.number or 0 for o in self.objectives), default=0)

    @property
    def max_kr_number(self) -> int:
        return max((kr.number or 0 for o in self.objectives for kr in o.krs), default=0)


class RowError(Exception):
    pass


def _value(kind: Kind, text: str) -> Any:
    try:
        return kind.convert(Token(text.strip(), False, 0, len(text)))
    except ValueError as exc:
        raise RowError(str(exc).rstrip(".")) from None


def _text(row: dict[str, str], name: str, limit: int = MAX_TITLE, required: bool = False) -> str:
    text = (row.get(name) or "").strip()
    if required and not text:
        raise RowError(f"the {name} column is empty")
    if len(text) > limit:
        raise RowError(f"the {name} is {len(text)} characters long; the most is {limit}")
    return text


def _unit(row: dict[str, str]) -> str:
    """Units follow the grammar's rule (one short word, no markup characters)."""
    text = _text(row, "unit", MAX_UNIT)
    return _value(UNIT, text) if text else ""


def _yes(row: dict[str, str], name: str) -> bool:
    text = (row.get(name) or "").strip().lower()
    if text not in ("", "yes", "no", "true", "false", "1", "0"):
        raise RowError(f'{name} must be "yes" or empty, not "{text[:20]}"')
    return text in ("yes", "true", "1")


def _objective(line: int, row: dict[str, str]) -> ObjectiveRow:
    ref = _text(row, "objective")
    number = _value(Ref("O"), ref)[1] if ref else None
    cycle = _text(row, "cycle")
    if cycle:
        _value(CYCLE, cycle)
    start = _value(Date("", "cycle_start"), row["cycle_start"]) if (row.get("cycle_start") or "").strip() else None
    end = _value(Date("", "cycle_end"), row["cycle_end"]) if (row.get("cycle_end") or "").strip() else None
    if start and end and end < start:
        raise RowError(f"cycle_end {end} is before cycle_start {start}")
    kind = _text(row, "kind").lower() or "committed"
    if kind not in ("committed", "aspirational"):
        raise RowError(f'kind must be "committed" or "aspirational", not "{kind[:20]}"')
    parent = _text(row, "parent")
    if parent:
        parent = f"O-{_value(Ref('O'), parent)[1]}"
    capability = _text(row, "capability").lower()
    if capability:
        _value(KEY, capability)
    team = _value(KEY, _text(row, "team", required=True))
    title = _text(row, "objective_title", required=True)
    return ObjectiveRow(
        line=line, label=f"O-{number}" if number is not None else f"{cycle}\x00{team}\x00{title}",
        number=number, title=title, team=team, team_name=_text(row, "team_name"),
        owner=_text(row, "objective_owner", 128), kind=kind, cycle=cycle, cycle_start=start, cycle_end=end,
        capability=capability, capability_name=_text(row, "capability_name"), parent=parent,
        archived=_yes(row, "objective_archived"),
    )  # fmt: skip


def _kr(line: int, row: dict[str, str]) -> KrRow | None:
    title = _text(row, "kr_title")
    ref = _text(row, "kr")
    if not title:
        if ref or (row.get("target") or "").strip():
            raise RowError("the kr_title column is empty")
        return None
    target = _value(Number("", "target"), _text(row, "target", required=True))
    start = _value(Number("", "start"), row["start"]) if (row.get("start") or "").strip() else 0.0
    if target == start:
        raise RowError("the target equals the start")
    current = _value(Number("", "current"), row["current"]) if (row.get("current") or "").strip() else start
    confidence = _value(CONFIDENCE, row["confidence"]) if (row.get("confidence") or "").strip() else 5
    score = _value(Score(), row["score"]) if (row.get("score") or "").strip() else None
    return KrRow(
        line=line, number=_value(Ref("KR"), ref)[1] if ref else None, title=title,
        owner=_text(row, "kr_owner", 128), unit=_unit(row), start=start, target=target,
        current=current, confidence=confidence, score=score, archived=_yes(row, "kr_archived"),
    )  # fmt: skip


def read_plan(text: str) -> ImportPlan:
    """Check every row; the first bad one raises with its line number and nothing is written."""
    if len(text) > MAX_BYTES:
        raise UserError(f"The file is over {MAX_BYTES // 1_000_000} MB; split it and import the parts.")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = REQUIRED - set(header)
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        problem = f"missing {', '.join(sorted(missing))}" if missing else f"unknown column {unknown[0][:40]}"
        raise UserError(
            f"Line 1: the header has {problem}, so nothing was imported; "
            f"the columns are those of `export csv`: {', '.join(COLUMNS)}."
        )
    reader.fieldnames = header
    objectives: dict[str, ObjectiveRow] = {}
    seen_krs: set[int] = set()
    for row in reader:
        line = _first_line(reader.line_num, row)
        if None in row:
            raise UserError(f"Line {line}: the row has more cells than the header; nothing was imported.")
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            item = _objective(line, row)
            kr = _kr(line, row)
        except RowError as exc:
            raise UserError(f"Line {line}: {exc}; nothing was imported.") from None
        if item.label in objectives:
            _same_objective(objectives[item.label], item, row)
        item = objectives.setdefault(item.label, item)
        if kr is not None:
            if kr.number is not None and kr.number in seen_krs:
                raise UserError(f"Line {line}: KR-{kr.number} appears twice; nothing was imported.")
            if kr.number is not None:
                seen_krs.add(kr.number)
            item.krs.append(kr)
    if not objectives:
        raise UserError("The file has no rows to import; nothing was imported.")
    _no_parent_loop(objectives)
    return ImportPlan(list(objectives.values()))


def _first_line(last_line: int, row: dict[str, str]) -> int:
    """The line a row starts on: the reader counts to its end, past line breaks inside cells."""
    breaks = sum(value.count("\n") for value in row.values() if isinstance(value, str))
    return last_line - breaks


#: the objective columns every row of one objective repeats, and the field each one fills
_OBJECTIVE_COLUMNS = {
    "cycle": "cycle", "cycle_start": "cycle_start", "cycle_end": "cycle_end", "team": "team",
    "team_name": "team_name", "objective_title": "title", "objective_owner": "owner", "kind": "kind",
    "capability": "capability", "capability_name": "capability_name", "parent": "parent",
    "objective_archived": "archived",
}  # fmt: skip


def _same_objective(first: ObjectiveRow, later: ObjectiveRow, row: dict[str, str]) -> None:
    """A later row of an objective may leave its objective cells blank, never say something else.

    Otherwise an edit made on one row of a spreadsheet would be dropped without a word.
    """
    for column, attribute in _OBJECTIVE_COLUMNS.items():
        if (row.get(column) or "").strip() and getattr(later, attribute) != getattr(first, attribute):
            name = f"O-{first.number}" if first.number is not None else f'the objective "{first.title[:40]}"'
            raise UserError(
                f"Line {later.line}: {name} is also on line {first.line} with a different {column}; "
                "every row of one objective repeats the same objective columns, so nothing was imported."
            )


def _no_parent_loop(objectives: dict[str, ObjectiveRow]) -> None:
    """An objective cannot support itself, directly or through its parents."""
    for item in objectives.values():
        chain, parent = [item.label], item.parent
        while parent in objectives and parent not in chain:
            chain.append(parent)
            parent = objectives[parent].parent
        if parent == item.label:
            if len(chain) == 1:
                raise UserError(f"Line {item.line}: {item.label} cannot be its own parent; nothing was imported.")
            loop = " → ".join([*chain, item.label])
            raise UserError(
                f"Line {item.line}: the parents of {item.label} lead back to it ({loop}); nothing was imported."
            )
