"""The buttons of okrbot's cards, and the answer to a click on one: pure functions, no SDK.

A button whose answer takes the card's place (the form's submit, No change, any core ``Button``
with ``replaces``) is a Universal Action: ``Action.Execute``, which Teams sends as an
``adaptiveCard/action`` invoke and which okrbot answers with the new card in the HTTP response.
It needs a card of version 1.5; a Teams client that predates Universal Actions shows the
``fallback`` instead, the same button as an ``Action.Submit`` with the same data, answered the
older way (a message carrying ``value``, the card then updated through ``replyToId``). Every
Execute sits in an ActionSet at the top of a card's body, never in ``actions``: some older clients
ignore the fallback of a card-level action, and :func:`executes` need look no deeper.
"""

from __future__ import annotations

from typing import Any

from adapters.teams.translate import COMMAND_ACTION, REPLACES_KEY, SUBMIT_KEY
from bot.messages import Button, Form

EXECUTE_VERSION = "1.5"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_TYPE = "application/vnd.microsoft.activity.message"
ERROR_TYPE = "application/vnd.microsoft.error"
COMMAND_MAX = 500  # characters of a button's command
ROW = 5  # buttons per ActionSet: more do not fit a phone's width
STYLES = {"primary": "positive", "danger": "destructive"}


def submit(title: str, data: dict[str, Any], style: str = "default", *, inputs: bool = True) -> dict[str, Any]:
    """An Action.Submit; ``inputs=False`` sends none of the card's inputs (nor checks them)."""
    action: dict[str, Any] = {"type": "Action.Submit", "title": title[:80], "data": data}
    if not inputs:
        action["associatedInputs"] = "none"
    if style in ("positive", "destructive"):
        action["style"] = style
    return action


def execute(
    title: str, verb: str, data: dict[str, Any], style: str = "default", *, inputs: bool = True
) -> dict[str, Any]:
    """An Action.Execute with its Action.Submit twin as the fallback, so both paths carry one data."""
    fallback = submit(title, data, style, inputs=inputs)
    return {**fallback, "type": "Action.Execute", "verb": verb, "fallback": fallback}


def clip(command: str, limit: int = COMMAND_MAX) -> str:
    """A command within ``limit`` characters, cut between words: a word cut short ("KR-12" of
    "KR-123") could name another key result."""
    if len(command) <= limit:
        return command
    cut = command.rfind(" ", 0, limit + 1)
    return command[: cut if cut > 0 else limit]


def button(b: Button) -> dict[str, Any]:
    """A core Button as an action. It never sends the card's inputs: a button runs its command
    whatever a form beside it holds, and an input left empty must not stop it."""
    data: dict[str, Any] = {SUBMIT_KEY: COMMAND_ACTION, "command": clip(b.command)}
    style = STYLES.get(b.style, "default")
    if not b.replaces:
        return submit(b.label, data, style, inputs=False)
    data[REPLACES_KEY] = True
    return execute(b.label, COMMAND_ACTION, data, style, inputs=False)


def form_submit(form: Form) -> dict[str, Any]:
    """The form's submit: the card's inputs merged into its data, the answer in the form's place."""
    return execute(form.submit_label, form.action, {SUBMIT_KEY: form.action}, "positive")


def action_sets(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "ActionSet", "actions": actions[i : i + ROW]} for i in range(0, len(actions), ROW)]


def executes(body: list[dict[str, Any]]) -> bool:
    """Whether a card's body holds an Action.Execute, so the card must be of version 1.5."""
    return any(
        element.get("type") == "ActionSet" and any(a.get("type") == "Action.Execute" for a in element["actions"])
        for element in body
    )


# -- the answer to an adaptiveCard/action invoke: HTTP 200, the outcome in the body's statusCode ---


def card_answer(card: dict[str, Any]) -> dict[str, Any]:
    """The card that takes the clicked one's place."""
    return {"statusCode": 200, "type": CARD_TYPE, "value": card}


def message_answer(text: str) -> dict[str, Any]:
    """A sentence Teams shows by the card, which stays as it was (a refusal: nothing to replace)."""
    return {"statusCode": 200, "type": MESSAGE_TYPE, "value": text}


def error_answer(status: int, code: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "type": ERROR_TYPE, "value": {"code": code, "message": message}}
