"""The command grammar: words in, a command spec and typed arguments out.

Every command is declared once with :func:`command` (its words, its usage line, its
arguments), so parsing, ``help`` and every error message come from the same declaration.
Anything the parser refuses raises :class:`UsageError` with the problem and the right form.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import UsageError, UserError

MAX_TITLE, MAX_NOTE, MAX_UNIT = 200, 2000, 40
_OPEN_QUOTES = {'"': '"', "“": "”", "„": "”", "«": "»"}
_DASHES = ("—", "–")  # phones and Macs turn "--" into a dash
_PLACEHOLDER_MARKS = '<>"'
_LEADING_DASHES = re.compile(r"[—–-]+")
_MENTION = re.compile(r"<@[^|<>\s]+(\|[^<>]*)?>")


# ---------------------------------------------------------------------------------------------
# lexing


class UnclosedQuote(UserError):
    """Raised by the lexer, which does not know the command; the parser adds its usage line."""


def shown(text: str) -> str:
    """Typed text as an error sentence quotes it: on one line, long enough to recognise, never a
    wall of text (a quoted title may hold line breaks; the sentence must stay one line)."""
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"


def _dashes_as_hyphens(word: str) -> str:
    """``—team``, ``–team`` and ``—-team`` (what phones and Macs make of ``--team``) as ``--team``."""
    if len(word) > 1 and word.startswith(_DASHES):
        run = _LEADING_DASHES.match(word)
        assert run is not None
        return "--" + word[run.end() :]
    return word


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    quoted: bool
    start: int
    end: int

    @property
    def shown(self) -> str:
        return shown(self.text)

    @property
    def is_flag(self) -> bool:
        return not self.quoted and len(self.text) > 2 and self.text.startswith("--") and self.text[2] != "-"


class Lexer:
    """Tokens on demand, so a note can be taken as the raw rest of the line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def next(self) -> Token | None:
        self._skip_space()
        if self.pos >= len(self.text):
            return None
        start, char = self.pos, self.text[self.pos]
        if char in _OPEN_QUOTES:
            return self._quoted(start, _OPEN_QUOTES[char])
        mention = _MENTION.match(self.text, start)
        if mention:  # a display name may hold spaces: <@U123|Bob Smith>
            self.pos = mention.end()
            return Token(mention.group(), False, start, self.pos)
        while self.pos < len(self.text) and not self.text[self.pos].isspace():
            self.pos += 1
        return Token(_dashes_as_hyphens(self.text[start : self.pos]), False, start, self.pos)

    def _quoted(self, start: int, close: str) -> Token:
        out: list[str] = []
        i = start + 1
        while i < len(self.text):
            char = self.text[i]
            if char == "\\" and i + 1 < len(self.text) and self.text[i + 1] in '"\\”':
                out.append(self.text[i + 1])
                i += 2
                continue
            if char == close or (close == "”" and char == '"'):
                self.pos = i + 1
                return Token("".join(out), True, start, self.pos)
            out.append(char)
            i += 1
        raise UnclosedQuote('A quote is not closed: put the text between two double quotes, like "Grow revenue".')

    def peek(self) -> Token | None:
        saved = self.pos
        try:
            return self.next()
        finally:
            self.pos = saved

    def rest(self) -> str:
        """The raw text not yet read, as typed."""
        rest = self.text[self.pos :].strip()
        self.pos = len(self.text)
        return rest


# ---------------------------------------------------------------------------------------------
# argument kinds: each converts one token or raises ValueError with the problem


class Kind:
    placeholder = "<value>"

    def convert(self, token: Token) -> Any:
        return token.text

    def looks_like(self, token: Token) -> bool:
        """Whether an optional argument of this kind should try to read ``token``."""
        return True


class Word(Kind):
    def __init__(self, placeholder: str, pattern: str, problem: str, *, lower: bool = True) -> None:
        self.placeholder, self.pattern, self.problem, self.lower = placeholder, re.compile(pattern), problem, lower

    def convert(self, token: Token) -> str:
        text = token.text.lower() if self.lower else token.text
        if not self.pattern.fullmatch(text):
            raise ValueError(self.problem.format(token.shown))
        return text


class Title(Kind):
    """Free text: one quoted token, or (as the last argument before flags) the raw words."""

    greedy = True

    def __init__(self, placeholder: str = '"<title>"', what: str = "title", limit: int = MAX_TITLE) -> None:
        self.placeholder, self.what, self.limit = placeholder, what, limit

    def check(self, text: str) -> str:
        if not text.strip():
            raise ValueError(f"The {self.what} is empty.")
        if len(text) > self.limit:
            raise ValueError(f"The {self.what} is {len(text)} characters long; the most is {self.limit}.")
        return text


class Rest(Title):
    """The raw rest of the line (a note): may be empty."""

    def check(self, text: str) -> str:
        if len(text) > self.limit:
            raise ValueError(f"The {self.what} is {len(text)} characters long; the most is {self.limit}.")
        return text


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?%?")


class Number(Kind):
    def __init__(self, placeholder: str = "<num>", what: str = "number") -> None:
        self.placeholder, self.what = placeholder, what

    def convert(self, token: Token) -> float:
        text = token.text
        if _GROUPED.fullmatch(text):
            text = text.replace(",", "")
        if not _NUMBER.fullmatch(text):
            raise ValueError(f'The {self.what} must be a number like 42 or 3.5, not "{token.shown}".')
        value = float(text.rstrip("%"))
        if not math.isfinite(value) or abs(value) >= 1e15:
            raise ValueError(f"The {self.what} {token.shown} is too large.")
        return value


@dataclass(frozen=True, slots=True)
class Move:
    """A check-in's value as typed: a value to set (``45``), an amount to add (``+5``), or a share
    of the way from start to target (``55%``)."""

    amount: float
    how: str = "set"  # "set", "add" or "share"


_ADD = re.compile(r"\+(\d+(\.\d*)?|\.\d+)")
_SHARE = re.compile(r"(\d+(\.\d*)?|\.\d+)%")


class Value(Kind):
    """A check-in's value: ``45``, ``-3``, ``+5`` (added to the current value), ``55%``."""

    def __init__(self, placeholder: str = "<value>", what: str = "value") -> None:
        self.placeholder, self.what = placeholder, what
        self._number = Number(placeholder, what)

    def convert(self, token: Token) -> Move:
        text = token.text
        if _ADD.fullmatch(text):
            return Move(self._finite(text[1:], token), "add")
        if _SHARE.fullmatch(text):
            return Move(self._finite(text[:-1], token), "share")
        if not text.endswith("%") and not text.startswith("+"):
            try:
                return Move(self._number.convert(token))
            except ValueError:
                pass
        raise ValueError(
            f"The {self.what} must be a number like 42, an amount to add like +5, or a share of the way "
            f'to the target like 55%, not "{token.shown}".'
        )

    def _finite(self, text: str, token: Token) -> float:
        value = float(text)
        if not math.isfinite(value) or abs(value) >= 1e15:
            raise ValueError(f"The {self.what} {token.shown} is too large.")
        return value


class Integer(Kind):
    def __init__(self, placeholder: str, what: str, low: int, high: int) -> None:
        self.placeholder, self.what, self.low, self.high = placeholder, what, low, high

    def looks_like(self, token: Token) -> bool:
        return not token.quoted and bool(_NUMBER.fullmatch(token.text))

    def convert(self, token: Token) -> int:
        if not re.fullmatch(r"[+-]?\d{1,9}", token.text) or not self.low <= int(token.text) <= self.high:
            raise ValueError(
                f'The {self.what} must be a whole number from {self.low} to {self.high}, not "{token.shown}".'
            )
        return int(token.text)


class Score(Kind):
    placeholder = "<0.0-1.0>"

    def convert(self, token: Token) -> float:
        if not _NUMBER.fullmatch(token.text) or token.text.endswith("%") or not 0 <= float(token.text) <= 1:
            raise ValueError(f'A score is a number from 0.0 to 1.0, like 0.7, not "{token.shown}".')
        return float(token.text) + 0.0  # "-0" is a score of 0.00, not -0.00


class Date(Kind):
    def __init__(self, placeholder: str = "<YYYY-MM-DD>", what: str = "date") -> None:
        self.placeholder, self.what = placeholder, what

    def convert(self, token: Token) -> dt.date:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", token.text):
                raise ValueError
            return dt.date.fromisoformat(token.text)
        except ValueError:
            raise ValueError(
                f'The {self.what} must be a date written YYYY-MM-DD, like 2026-12-31, not "{token.shown}".'
            ) from None


class Ref(Kind):
    """``O-12`` / ``KR-7``: gives ``("O", 12)`` or ``("KR", 7)``."""

    def __init__(self, *prefixes: str) -> None:
        self.prefixes = prefixes
        self.placeholder = " | ".join(f"{p}-n" for p in prefixes)

    def convert(self, token: Token) -> tuple[str, int]:
        match = re.fullmatch(r"(?i)(O|KR)-?(\d{1,9})", token.text)
        if not match or match.group(1).upper() not in self.prefixes:
            wanted = " or ".join(f"{p}-12" for p in self.prefixes)
            raise ValueError(f'Expected an id like {wanted}, not "{token.shown}".')
        return match.group(1).upper(), int(match.group(2))


@dataclass(frozen=True, slots=True)
class Person:
    """A mentioned person: the platform's id, and the name the mention carried (may be empty)."""

    external_id: str
    name: str = ""


class MemberRef(Kind):
    """A mention in the core's form ``<@id>`` or ``<@id|name>``: gives a :class:`Person`."""

    placeholder = "@user"

    def convert(self, token: Token) -> Person:
        match = re.fullmatch(r"<@([^|<>\s]{1,128})(?:\|([^<>]*))?>", token.text)
        if not match:
            raise ValueError(f'Expected a person as an @mention, not "{token.shown}".')
        return Person(match.group(1), (match.group(2) or "").strip())


class Switch(Kind):
    placeholder = ""


KEY = Word(
    "<key>",
    r"[a-z0-9][a-z0-9_-]{0,39}",
    'A key is a short slug like "growth" (letters, digits, - and _, up to 40), not "{}".',
)
CYCLE = Word(
    "<name>", r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", 'A cycle name is a short name like 2026-Q4, not "{}".', lower=False
)
# A unit is shown as okrbot's own text (in "40 / 100 users"), so it may not hold the characters
# that chat platforms read as markup: Slack's <!channel> or <@U1> would notify people.
UNIT = Word(
    "<text>",
    r"[^\s<>&`]{1,40}",
    'A unit is one short word like "%" or "users", without < > & or `, not "{}".',
    lower=False,
)
CONFIDENCE = Integer("<confidence 0-10>", "confidence", 0, 10)


# ---------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Arg:
    name: str
    kind: Kind
    required: bool = True


@dataclass(frozen=True)
class Flag:
    kind: Kind
    required: bool = False
    attr: str = ""


Handler = Callable[..., Awaitable[Any]]
#: A command writes, or not, or depending on its values (``checkin`` alone only shows a form).
Writes = bool | Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Spec:
    words: tuple[str, ...]
    form: str
    summary: str
    args: tuple[Arg, ...]
    flags: dict[str, Flag]
    writes: Writes
    handler: Handler = field(compare=False)
    #: The handler locks the workspace itself, as it writes (store.repo.LOCKS_LATE).
    locks_late: bool = False
    #: Its one write is its last statement, which checks what was read: PostgreSQL runs it
    #: without a transaction (store.db.Database.write(single=True)).
    single_write: bool = False

    def writes_with(self, values: Mapping[str, Any]) -> bool:
        """Whether this command, with these values, runs in a write transaction."""
        return self.writes(values) if callable(self.writes) else self.writes

    @property
    def usage(self) -> str:
        return " ".join(self.words) + (f" {self.form}" if self.form else "")


REGISTRY: dict[tuple[str, ...], Spec] = {}


def command(
    words: str,
    form: str,
    summary: str,
    *args: Arg,
    writes: Writes = False,
    locks_late: bool = False,
    single_write: bool = False,
    **flags: Flag,
) -> Callable[[Handler], Handler]:
    """Declare a command; the decorated coroutine receives ``ctx`` and the parsed arguments."""

    def register(handler: Handler) -> Handler:
        key = tuple(words.split())
        REGISTRY[key] = Spec(key, form, summary, args, flags, writes, handler, locks_late, single_write)
        return handler

    return register


def group_usage(first: str) -> str:
    return " | ".join(spec.usage for words, spec in REGISTRY.items() if words[0] == first)


@dataclass(frozen=True)
class Parsed:
    spec: Spec
    values: dict[str, Any]


def parse(text: str) -> Parsed:
    """The command ``text`` names, with its typed values; anything else is a :class:`UserError`.

    Parsing is a function of the text alone, so the short texts people repeat (``list mine``,
    ``checkin``) are parsed once; the values are never changed by anyone (handlers take copies).
    """
    if len(text) > _KEPT_TEXT:
        return _parse(text)
    return _parse_kept(text)


_KEPT_TEXT = 60  # characters: commands without titles or notes


def _parse(text: str) -> Parsed:
    _check_storable(text)
    lexer = Lexer(text)
    spec = _match(lexer)
    try:
        return Parsed(spec, _arguments(spec, lexer))
    except UnclosedQuote as exc:
        raise UsageError(exc.sentence, spec.usage) from None


_parse_kept = functools.lru_cache(maxsize=1024)(_parse)


def _check_storable(text: str) -> None:
    """Refuse what no database column can hold (PostgreSQL rejects NUL; UTF-8 rejects lone surrogates)."""
    if "\x00" in text:
        raise UserError("The text holds a NUL character (\\0), which cannot be saved; type it again without it.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError("The text holds a broken character that cannot be saved; type it again.") from None


def _match(lexer: Lexer) -> Spec:
    words: list[str] = []
    best: tuple[Spec, int] | None = None
    while (token := _peek_word(lexer, best is not None)) is not None and not token.quoted and len(words) < 3:
        words.append(token.text.lower())
        lexer.next()
        if tuple(words) in REGISTRY:
            best = (REGISTRY[tuple(words)], lexer.pos)
        elif not any(key[: len(words)] == tuple(words) for key in REGISTRY):
            break
    if best is None:
        if not words:
            raise UserError("Type a command, or `help` to see them all.")
        if any(key[0] == words[0] for key in REGISTRY):
            problem = (
                f'"{" ".join(words[1:])[:40]}" is not a {words[0]} command{_did_you_mean(words)}'
                if len(words) > 1
                else f'"{words[0]}" needs one more word.'
            )
            raise UsageError(problem, group_usage(words[0]))
        nearest = _nearest(words[0], {key[0] for key in REGISTRY})
        if nearest:
            raise UserError(f"I don't know `{words[0][:40]}`; did you mean `{nearest}`?")
        raise UserError(f'I don\'t know the command "{words[0][:40]}"; type `help` to see them all.')
    lexer.pos = best[1]
    return best[0]


def _nearest(word: str, known: Iterable[str]) -> str | None:
    """The known word closest to a mistyped one (``chekin`` → ``checkin``), if one is close."""
    found = difflib.get_close_matches(word.lower(), sorted(known), n=1, cutoff=0.75)
    return found[0] if found else None


def _did_you_mean(words: list[str]) -> str:
    """ "; did you mean `team add`?" for a second word that is nearly one the first word takes."""
    seconds = {key[1] for key in REGISTRY if key[0] == words[0] and len(key) > 1}
    nearest = _nearest(words[1], seconds)
    return f"; did you mean `{words[0]} {nearest}`?" if nearest else "."


def _peek_word(lexer: Lexer, matched: bool) -> Token | None:
    """The next token; an unclosed quote after a known command is left for its arguments to report."""
    try:
        return lexer.peek()
    except UnclosedQuote:
        if matched:
            return None
        raise


def _arguments(spec: Spec, lexer: Lexer) -> dict[str, Any]:
    values: dict[str, Any] = {}
    pending = list(spec.args)

    def fail(problem: str) -> UsageError:
        return UsageError(problem, spec.usage)

    while True:
        if pending and isinstance(rest := pending[0].kind, Rest):
            arg = pending.pop(0)
            values[arg.name] = _checked(rest, lexer.rest(), fail)
            break
        token = lexer.next()
        if token is None:
            break
        if token.is_flag:
            name = token.text[2:].lower()
            flag = spec.flags.get(name.replace("-", "_"))
            if flag is None:
                nearest = _nearest(name, [n.replace("_", "-") for n in spec.flags])
                hint = f"; did you mean --{nearest}?" if nearest else "."
                raise fail(f'"{token.text[:40]}" is not an option of {" ".join(spec.words)}{hint}')
            attr = flag.attr or name.replace("-", "_")
            if attr in values:
                raise fail(f"{token.shown} is given twice.")
            if isinstance(flag.kind, Switch):
                values[attr] = True
                continue
            value = lexer.next()
            if value is None or value.is_flag:
                raise fail(f"{token.shown} needs a value.")
            values[attr] = _convert(flag.kind, value, fail)
            continue
        if not pending:
            raise fail(f'"{token.text[:40]}" is more than {" ".join(spec.words)} takes.')
        arg = pending.pop(0)
        if not arg.required and not arg.kind.looks_like(token):
            lexer.pos = token.start  # not this optional argument: the next one reads it
            continue
        if isinstance(arg.kind, Title):
            values[arg.name] = _title(arg.kind, token, lexer, greedy=not pending, fail=fail)
        else:
            values[arg.name] = _convert(arg.kind, token, fail)
    for arg in pending:
        if arg.required:
            raise fail(f"The {arg.kind.placeholder.strip(_PLACEHOLDER_MARKS)} is missing.")
    for name, flag in spec.flags.items():
        if flag.required and (flag.attr or name) not in values:
            raise fail(f"--{name.replace('_', '-')} is required.")
    return values


def _title(kind: Title, first: Token, lexer: Lexer, *, greedy: bool, fail: Callable[[str], UsageError]) -> str:
    """A quoted title, or the raw words up to the next option when it is the last argument."""
    end = first.end
    if greedy and not first.quoted:  # a quoted title is whole: words after it are extra
        while (token := lexer.peek()) is not None and not token.is_flag:
            lexer.next()
            end = token.end
    text = first.text if end == first.end and first.quoted else lexer.text[first.start : end]
    return _checked(kind, text, fail)


def read_as(kind: Kind, text: str) -> Any:
    """``text`` read as one argument of ``kind``, as the chat reads it: its value, or ValueError
    with the chat's sentence (the HTTP API says the same of the same value)."""
    if isinstance(kind, Title):
        return kind.check(text)
    return kind.convert(Token(text, False, 0, len(text)))


def _convert(kind: Kind, token: Token, fail: Callable[[str], UsageError]) -> Any:
    try:
        if isinstance(kind, Title):
            return kind.check(token.text)
        return kind.convert(token)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _checked(kind: Title, text: str, fail: Callable[[str], UsageError]) -> str:
    try:
        return kind.check(text)
    except ValueError as exc:
        raise fail(str(exc)) from None
