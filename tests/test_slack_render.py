"""Block Kit rendering and Slack payload translation: pure functions, dicts in and out."""

from __future__ import annotations

import json

from adapters.slack import render, translate
from bot.commands.checkin import CHOICES
from bot.forms import FormRequest, form_request
from bot.messages import (
    Actions,
    Button,
    Context,
    Divider,
    Fields,
    File,
    Form,
    FormField,
    FormGroup,
    Header,
    Image,
    Mention,
    Message,
    Progress,
    Text,
    UserText,
)


def all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_every_block_renders_within_limits():
    message = Message.of(
        Header(("H" * 400,)),
        Text(("x" * 7000,), strong=True),
        Fields(tuple((f"label {i}", ("v" * 2500,)) for i in range(23))),
        Progress(("KR-7 ", UserText("Active teams")), 0.4, "40 / 100 users", 7, "green", "KR-7"),
        Context(("small",)),
        Divider(),
        Actions(tuple(Button("B" * 100, "show KR-7" + "x" * 3000, "primary") for _ in range(30))),
    )
    blocks = render.to_blocks(message)
    header = blocks[0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    sections = [b for b in blocks if b["type"] == "section" and "text" in b]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert sum(b["text"]["text"].count("x") for b in sections) == 7000  # split, not lost
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 3]
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(b["elements"]) for b in actions] == [25, 5]
    for element in actions[0]["elements"]:
        assert len(element["text"]["text"]) <= 75 and len(element["value"]) <= 2000
    assert len({e["action_id"] for b in actions for e in b["elements"]}) == 30


def test_progress_has_bar_colour_and_checkin_button():
    block = render.to_blocks(Message.of(Progress(("KR-7 ", UserText("Go")), 0.4, "40 / 100", 2, "red", "KR-7")))[0]
    text = block["text"]["text"]
    assert ":red_circle:" in text and "████░░░░░░" in text and "40%" in text and "*2*/10" in text
    assert block["accessory"]["action_id"].startswith(render.CHECKIN_ACTION) and block["accessory"]["value"] == "KR-7"
    without_ref = render.to_blocks(Message.of(Progress(("x",), 1.0, "1 / 1", None, "grey")))[0]
    assert "accessory" not in without_ref and ":white_circle:" in without_ref["text"]["text"]


def test_user_text_is_escaped_and_mentions_are_real():
    evil = "<!channel> <!here> <@U999> <https://x.example|click> & co"
    message = Message.of(
        Header((UserText(evil),)),
        Text(("by ", Mention("U12345", "alice"), ": ", UserText(evil))),
        Fields((("Title", (UserText(evil),)),)),
        Context((UserText(evil),)),
    )
    rendered = all_text(render.to_blocks(message))
    for token in ("<!channel>", "<!here>", "<@U999>", "<https://"):
        assert token not in rendered
    assert "&lt;!channel&gt;" in rendered and "&amp; co" in rendered
    assert "<@U12345>" in rendered
    assert "<!channel>" not in render.fallback(message)


def test_long_messages_split_into_several_within_limits():
    message = Message.of(
        *[Progress((f"KR-{i} ", UserText("t" * 200)), 0.5, "5 / 10", 5, "yellow", f"KR-{i}") for i in range(140)],
        visibility="channel",
    )
    parts = render.to_messages(message)
    assert len(parts) >= 4
    assert sum(len(p["blocks"]) for p in parts) == 140
    for part in parts:
        assert len(part["blocks"]) <= 50
        assert len(all_text(part["blocks"])) <= 12_000
        assert 0 < len(part["text"]) <= 3000


def test_images_and_files_render_no_blocks():
    message = Message.of(Text(("digest",)), Image(b"png", "chart"), File("x.csv", "text/csv", "a,b"))
    assert [b["type"] for b in render.to_blocks(message)] == ["section"]
    assert render.to_messages(Message.of(File("x.csv", "text/csv", "a,b"))) == []


def form(error: str | None = None) -> Form:
    ref = "KR-7"
    return Form(
        title="A very long check-in form title",
        groups=(
            FormGroup(
                ref,
                ("KR-7 ", UserText("<!channel> teams")),
                (
                    FormField(f"{ref}.value", "Value (users)", "number", "40", error=error),
                    FormField(f"{ref}.confidence", "Confidence 0–10", "choice", "7", CHOICES),
                    FormField(f"{ref}.note", "Note", "text", optional=True),
                ),
            ),
        ),
        submit_label="Check in",
        action="checkin",
    )


def test_checkin_modal_follows_the_view_schema():
    view = render.form_modal(form(), {"channel": "C1"})
    assert view["type"] == "modal" and view["callback_id"] == render.FORM_CALLBACKS["checkin"]
    assert len(view["title"]["text"]) <= 24 and json.loads(view["private_metadata"]) == {"channel": "C1"}
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    number = inputs["KR-7.value"]["element"]
    assert number["type"] == "number_input" and number["is_decimal_allowed"] is True
    assert number["initial_value"] == "40" and isinstance(number["initial_value"], str)
    select = inputs["KR-7.confidence"]["element"]
    assert select["type"] == "static_select" and len(select["options"]) == 11
    assert select["initial_option"]["value"] == "7"
    note = inputs["KR-7.note"]
    assert note["optional"] is True and note["element"]["multiline"] is True
    assert "<!channel>" not in all_text(view)


def test_modal_submission_values_become_field_names():
    view = {
        "private_metadata": json.dumps({"channel": "C1"}),
        "state": {
            "values": {
                "KR-7.value": {"value": {"type": "number_input", "value": "42.5"}},
                "KR-7.confidence": {"value": {"type": "static_select", "selected_option": {"value": "8"}}},
                "KR-7.note": {"value": {"type": "plain_text_input", "value": None}},
            }
        },
    }
    assert translate.form_values(view) == {"KR-7.value": "42.5", "KR-7.confidence": "8", "KR-7.note": ""}
    assert translate.metadata(view) == {"channel": "C1"}
    assert translate.metadata({"private_metadata": "not json"}) == {}


def test_slash_command_text_keeps_mentions_and_unescapes():
    payload = {
        "team_id": "T1",
        "user_id": "U1",
        "user_name": "alice",
        "channel_id": "C1",
        "text": 'kr add O-1 "A &amp; B &lt;x&gt;" --owner <@U22ABC|bob> <!channel> <#C9|general>',
    }
    command = translate.to_command(payload)
    assert command.workspace.platform == "slack" and command.workspace.external_id == "T1"
    assert command.actor.external_id == "U1" and command.channel == "C1" and command.source == "slack"
    assert command.text == 'kr add O-1 "A & B <x>" --owner <@U22ABC|bob> @channel #general'
    assert command.mentions == {"U22ABC": "bob"}


def test_actor_from_users_info():
    actor = translate.actor_from_user(
        {"id": "U1", "name": "al", "tz": "Europe/Paris", "is_owner": True, "profile": {"display_name": "Alice"}}
    )
    assert (actor.display_name, actor.timezone, actor.is_platform_admin) == ("Alice", "Europe/Paris", True)


def test_form_request():
    assert form_request("checkin") == FormRequest("checkin", "")
    assert form_request("checkin kr-7") == FormRequest("checkin", "KR-7")
    assert form_request(" Grade ") == FormRequest("grade", "")
    assert form_request("grade KR-3") == FormRequest("grade", "KR-3")
    assert form_request("checkin KR-7 40") is None
    assert form_request("grade KR-7 0.5") is None


def test_a_button_answered_in_place_has_its_own_action():
    actions = Actions((Button("No change", "no change KR-1 KR-2", replaces=True), Button("Show", "show KR-1")))
    (block,) = render.to_blocks(Message.of(actions))
    assert [(e["action_id"], e["value"]) for e in block["elements"]] == [
        ("okr_replace:0", "no change KR-1 KR-2"),
        ("okr_run:1", "show KR-1"),
    ]


DM = {"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": "show KR-1", "ts": "1.1"}


def test_a_typed_dm_or_mention_as_a_command():
    command = translate.typed_command("T1", {**DM, "text": "/okr checkin KR-2 45 7 good &amp; &lt;fine&gt;"}, "UBOT")
    assert command is not None
    assert (command.workspace.external_id, command.actor.external_id, command.channel) == ("T1", "U1", "D1")
    assert command.text == "checkin KR-2 45 7 good & <fine>"
    mention = {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT|okrbot> digest team growth"}
    assert translate.typed_command("T1", mention, "UBOT").text == "digest team growth"  # type: ignore[union-attr]
    owner = translate.typed_command(
        "T1", {**mention, "text": '<@UBOT> kr add O-1 "x" --target 1 --owner <@U22ABC>'}, "UBOT"
    )
    assert owner is not None and owner.mentions == {"U22ABC": ""}  # only okrbot's leading mention goes


def test_typed_text_loses_only_a_leading_okrbot_mention_and_okr():
    assert translate.typed_text("<@UBOT> /okr help", "UBOT") == "help"
    assert translate.typed_text("  OKR: list mine", "UBOT") == "list mine"
    assert translate.typed_text("/okr", "UBOT") == ""
    assert translate.typed_text("okrs are great", "UBOT") == "okrs are great"
    assert translate.typed_text("<@U2> help", "UBOT") == "<@U2> help"  # someone else's mention stays


def test_events_okrbot_leaves_alone_are_no_command():
    for changed in ({"subtype": "message_changed"}, {"bot_id": "B1"}, {"bot_profile": {"id": "B1"}},
                    {"user": "UBOT"}, {"channel_type": "channel"}, {"channel_type": "mpim"}, {"user": ""},
                    {"text": " "}, {"text": None}, {"channel": 7}, {"text": "x" * 40_000}, {"type": "reaction_added"}):  # fmt: skip
        assert translate.typed_command("T1", {**DM, **changed}, "UBOT") is None, changed
    assert translate.typed_command("", DM, "UBOT") is None
    assert translate.typed_command("T1", {**DM, "type": "app_mention"}, "UBOT") is None  # a DM's text is a message


def test_the_message_a_button_sits_on():
    prompt = {"blocks": render.to_blocks(Message.of(Actions((Button("No change", "no change", replaces=True),))))}
    digest = {"blocks": render.to_blocks(Message.of(Progress(("KR-1",), 0.5, "5 / 10", 5, "yellow", "KR-1")))}
    container = {"type": "message", "channel_id": "D1", "message_ts": "17.1", "is_ephemeral": False}
    assert translate.button_message({"container": container}) == ("D1", "17.1")
    assert translate.prompt_of({"container": container, "message": prompt}) == ("D1", "17.1")
    assert translate.prompt_of({"container": container, "message": digest}) is None  # everyone's message stays
    assert translate.prompt_of({"container": {**container, "is_ephemeral": True}, "message": prompt}) is None
    assert translate.button_message({"container": {"type": "view", "view_id": "V1"}}) is None
    assert translate.button_message({}) is None
