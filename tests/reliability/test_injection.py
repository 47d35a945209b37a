"""Hostile text in every free-text field (team and capability names, objective and key-result
titles, units, notes) is rendered inert by the Slack, Teams and web chat renderers, and
SQL-looking text is stored and shown verbatim."""

from __future__ import annotations

import json

from harness import no_secret_in_logs  # noqa: F401  (an autouse fixture)

from adapters.slack.render import to_blocks
from adapters.teams.render import to_cards
from adapters.webchat.render import to_json

HOSTILE = (
    "<!channel> <!here> <@U666> <https://x|y> [x](https://evil) <script>alert(1)</script> <img src=x onerror=alert(2)>"
)
RAW = ["<!channel>", "<!here>", "<@U666>", "<https://x|y>", "<script>", "<img "]
SQL = "Robert'); DROP TABLE objective;-- ' OR 1=1 --"


async def test_hostile_text_is_inert_everywhere_and_sql_is_verbatim(chat) -> None:
    for line in [f'team add growth "{HOSTILE}"', f'capability add cap "{HOSTILE}"',
                 f'objective add "{HOSTILE}" --team growth --capability cap', f'objective add "{SQL}" --team growth',
                 f'kr add O-1 "{HOSTILE}" --target 10 --unit users', f"checkin KR-1 3 7 {HOSTILE}"]:  # fmt: skip
        reply = await chat("ada", line)
        assert not reply.is_error, (line, reply.text)
    for line in ("show O-1", "show KR-1", "list all", "tree", "team list", "capability list", "digest team growth"):
        message = await chat("ada", line)
        slack = json.dumps(to_blocks(message), ensure_ascii=False)
        teams = json.dumps(to_cards(message), ensure_ascii=False)
        assert not [raw for raw in RAW if raw in slack], (line, slack[:500])
        i = teams.find("evil)")
        assert "[x](https://evil)" not in teams, (line, teams[max(0, i - 80) : i + 20])
        for block in to_json(message)["blocks"]:
            for span in _spans(block):
                if "<script>" in span.get("text", "") or "<!channel>" in span.get("text", ""):
                    assert span.get("user") is True, (line, span)  # data for the page to show as text
    shown = (await chat("ada", "show O-2")).text
    assert SQL in shown


def _spans(node):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        if "text" in node and isinstance(node["text"], str):
            yield node
        for value in node.values():
            yield from _spans(value)
    elif isinstance(node, list):
        for item in node:
            yield from _spans(item)
