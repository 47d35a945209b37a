"""The platforms' own checkers, over what okrbot sends them.

Slack's Block Kit is checked against Slack's TypeScript types (``@slack/types``, compiled with
``tsc --strict``: an unknown field, a wrong type or a missing one fails), and every Teams card
against Microsoft's Adaptive Cards parser (``adaptivecards``, in Chromium: parse events,
validation failures, and whether it renders). Both come from npm into ``tests/validators``
(``.ci/run`` installs them); without Node or Chromium the checks skip, saying why.

The fakes of the Slack Web API and the Bot Connector hand every payload they receive to
:func:`record_slack` and :func:`record_card`, so the last test of a run checks all of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "validators"
TSC = HERE / "node_modules" / "typescript" / "bin" / "tsc"
ADAPTIVE_CARDS = HERE / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CARD_TYPE = "application/vnd.microsoft.card.adaptive"

#: What the fakes received this run: Slack messages' blocks, Slack views, Teams cards.
RECORDED: dict[str, list[Any]] = {"blocks": [], "views": [], "cards": []}
_SEEN: set[str] = set()


def _keep(kind: str, payload: Any) -> None:
    if "PYTEST_CURRENT_TEST" not in os.environ:
        return  # a benchmark using the fakes: nothing to check, nothing to keep
    key = kind + json.dumps(payload, sort_keys=True, default=str)
    if key not in _SEEN:  # the same prompt sent 300 times is checked once
        _SEEN.add(key)
        RECORDED[kind].append(payload)


def record_slack(method: str, args: dict[str, Any]) -> None:
    """A Web API call as the fake received it: its blocks or its view, if it has any."""
    for name in ("blocks", "view"):
        value = args.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if name == "blocks" and isinstance(value, list) and value:
            _keep("blocks", value)
        elif name == "view" and isinstance(value, dict):
            _keep("views", value)


def record_card(card: Any) -> None:
    if isinstance(card, dict):
        _keep("cards", card)


def cards_of(activity: dict[str, Any]) -> list[dict[str, Any]]:
    """The Adaptive Cards an activity (or an invoke response's value) carries."""
    found = [a.get("content") for a in activity.get("attachments") or [] if a.get("contentType") == CARD_TYPE]
    if activity.get("type") == CARD_TYPE:
        found.append(activity.get("value"))
    return [card for card in found if isinstance(card, dict)]


# -- Slack: tsc --strict over @slack/types ---------------------------------------------------------


def slack_missing() -> str | None:
    if shutil.which("node") is None:
        return "Node is not installed: Slack's Block Kit types cannot be checked"
    if not TSC.exists():
        return "tests/validators has no node_modules: run `npm ci --prefix tests/validators`"
    return None


def block_kit_errors(blocks: list[list[dict[str, Any]]], views: list[dict[str, Any]]) -> list[str]:
    """tsc's complaints, each naming the payload it is about; [] when every payload type-checks."""
    lines = ['import type { KnownBlock, View } from "@slack/types";', ""]
    where: list[tuple[int, str]] = []
    for i, value in enumerate(blocks):
        where.append((len(lines) + 1, f"message blocks #{i}: {json.dumps(value)[:300]}"))
        lines.append(f"export const blocks{i}: KnownBlock[] = {json.dumps(value)};")
    for i, value in enumerate(views):
        where.append((len(lines) + 1, f"view #{i}: {json.dumps(value)[:300]}"))
        lines.append(f"export const view{i}: View = {json.dumps(value)};")
    with tempfile.TemporaryDirectory(dir=HERE) as folder:
        source = Path(folder) / "payloads.ts"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = subprocess.run(
            ["node", str(TSC), "--strict", "--noEmit", "--skipLibCheck", "--target", "es2020",
             "--moduleResolution", "node", "--module", "commonjs", str(source)],
            capture_output=True, text=True, timeout=300, cwd=HERE, check=False,
        )  # fmt: skip
    errors = []
    for line in (result.stdout + result.stderr).splitlines():
        if "error TS" not in line:
            continue
        number = int(line.split("(", 1)[1].split(",", 1)[0]) if "(" in line else 0
        payload = next((what for start, what in reversed(where) if start <= number), "?")
        errors.append(f"{line.split(': ', 1)[-1]}  ← {payload}")
    if result.returncode != 0 and not errors:
        errors.append(f"tsc failed: {(result.stdout + result.stderr)[:500]}")
    return errors


# -- Teams: Microsoft's adaptivecards, in Chromium ---------------------------------------------------

_CHECK_CARDS = """
(cards) => cards.map((json) => {
  const problems = [];
  const card = new AdaptiveCards.AdaptiveCard();
  const context = new AdaptiveCards.SerializationContext();
  card.parse(json, context);
  for (let i = 0; i < context.eventCount; i++) {
    const e = context.getEventAt(i);
    problems.push(AdaptiveCards.ValidationEvent[e.event] + ": " + e.message);
  }
  for (const e of card.validateProperties().validationEvents) {
    problems.push(AdaptiveCards.ValidationEvent[e.event] + ": " + e.message);
  }
  if (!card.render()) problems.push("the card does not render");
  return problems;
})
"""


def cards_missing() -> str | None:
    if not ADAPTIVE_CARDS.exists():
        return "tests/validators has no node_modules: run `npm ci --prefix tests/validators`"
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed: Adaptive Cards cannot be parsed"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    return None


async def card_errors(cards: list[dict[str, Any]]) -> list[str]:
    """What Microsoft's parser finds wrong with each card; [] when every card is clean."""
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page()
            await page.set_content("<!doctype html><html><body></body></html>")
            await page.add_script_tag(path=str(ADAPTIVE_CARDS))
            found = await page.evaluate(_CHECK_CARDS, cards)
        finally:
            await browser.close()
    return [
        f"{problem}  ← card #{i}: {json.dumps(card)[:300]}"
        for i, (card, problems) in enumerate(zip(cards, found, strict=True))
        for problem in problems
    ]
