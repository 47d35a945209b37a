"""Teams activities → Commands, and Messages → Adaptive Cards: pure functions, dicts in and out."""

from __future__ import annotations

import json

import pytest

from adapters.teams.actions import clip
from adapters.teams.render import MAX_CARD_BYTES, escape, size, to_activities, to_cards
from adapters.teams.translate import (
    NotForUs,
    command_text,
    execution,
    reference_key,
    submission,
    to_command,
)
from bot.commands.checkin import CHOICES
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

BOT = {"id": "28:bot-app-id", "name": "okrbot"}


def activity(text: str, *, kind: str = "personal", entities=(), tenant: str = "tenant-1", **extra):
    conversation = {"id": "a:1personal", "conversationType": kind, "tenantId": tenant}
    if kind == "channel":
        conversation["id"] = "19:chan@thread.tacv2;messageid=1700000000000"
    return {
        "type": "message",
        "text": text,
        "from": {"id": "29:alice", "name": "Alice Doe", "aadObjectId": "aad-alice"},
        "recipient": BOT,
        "conversation": conversation,
        "channelData": {"tenant": {"id": tenant}},
        "serviceUrl": "https://smba.example/amer/",
        "entities": list(entities),
        **extra,
    }


def at(teams_id: str, name: str, **more) -> dict:
    return {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": teams_id, "name": name, **more}}


def test_personal_chat_message_is_a_command_of_the_tenant_and_aad_user():
    cmd = to_command(activity("list mine", localTimezone="Europe/Helsinki"))
    assert cmd.workspace.platform == "teams" and cmd.workspace.external_id == "tenant-1"
    assert cmd.actor.external_id == "aad-alice" and cmd.actor.display_name == "Alice Doe"
    assert cmd.actor.timezone == "Europe/Helsinki"
    assert cmd.text == "list mine" and cmd.source == "teams"
    assert not cmd.seen_by_others  # a private reply (a token from `token add`) may be shown here


def test_a_channel_or_group_chat_sees_every_reply():
    for kind in ("channel", "groupChat"):
        assert to_command(activity("token add ci", kind=kind)).seen_by_others, kind


def test_channel_mention_of_the_bot_and_okr_prefix_are_stripped():
    a = activity("<at>okrbot</at> okr show KR-3", kind="channel", entities=[at(BOT["id"], "okrbot")])
    assert to_command(a).text == "show KR-3"
    assert command_text(activity("OKR: help"))[0] == "help"
    assert command_text(activity("okrs"))[0] == "okrs"  # a word that merely starts with okr stays


def test_group_chat_mention_of_a_person_becomes_a_member_reference():
    a = activity(
        '<at>okrbot</at> kr add O-1 "Ship it" --target 5 --owner <at>Bob Smith</at>',
        kind="groupChat",
        entities=[at(BOT["id"], "okrbot"), at("29:bob", "Bob Smith")],
    )
    text, mentions = command_text(a, {"29:bob": "aad-bob"})
    assert text == 'kr add O-1 "Ship it" --target 5 --owner <@aad-bob|Bob Smith>'
    assert mentions == {"aad-bob": "Bob Smith"}
    # the entity's own aadObjectId wins; an unknown person stays words, never a guessed id
    assert command_text(activity("nudge <at>Bob</at>", entities=[at("29:bob", "Bob", aadObjectId="aad-b")]))[0] == (
        "nudge <@aad-b|Bob>"
    )
    assert command_text(activity("nudge <at>Bob</at>", entities=[at("29:bob", "Bob")]))[0] == "nudge @Bob"
    assert command_text(activity("<at>Eve</at> x"))[0] == "@Eve x"  # no entity: no mention


def test_html_entities_and_tags_are_read_as_typed():
    assert command_text(activity("checkin KR-1 4 7 a&nbsp;&lt;b&gt; &amp; c"))[0] == "checkin KR-1 4 7 a <b> & c"


def test_activity_without_tenant_or_aad_user_is_not_for_us():
    with pytest.raises(NotForUs):
        to_command(activity("help", tenant="", channelData={}))
    a = activity("help")
    a["from"] = {"id": "29:x", "name": "X"}
    with pytest.raises(NotForUs):
        to_command(a)


def test_an_action_execute_reads_like_its_submit_fallback():
    data = {"okrbot": "command", "command": "no change KR-1 KR-2", "replaces": True}
    invoke = activity("", type="invoke", name="adaptiveCard/action")
    invoke["value"] = {"action": {"type": "Action.Execute", "verb": "command", "data": data}, "trigger": "manual"}
    assert execution(invoke) == submission(activity("", value=data))
    assert execution(invoke).replaces and execution(invoke).command == "no change KR-1 KR-2"
    form = {"okrbot": "checkin", "KR-1.value": "40", "KR-1.confidence": "7"}
    invoke["value"]["action"] |= {"verb": "checkin", "data": form}
    assert execution(invoke).action == "checkin" and execution(invoke).values == {
        "KR-1.value": "40",
        "KR-1.confidence": "7",
    }
    invoke["value"]["action"]["data"] = {"x": 1}  # not one of okrbot's cards
    assert execution(invoke) is None
    assert execution(activity("", type="invoke", name="composeExtension/query", value={})) is None
    assert submission(activity("", value={"okrbot": "command", "command": "help"})).replaces is False


def test_a_replacing_button_is_an_action_execute_on_a_1_5_card_with_a_submit_fallback():
    (c,) = to_cards(Message.of(Text(("Hi",)), Actions((Button("No change", "no change KR-1", replaces=True),))))
    (action,) = c["body"][-1]["actions"]
    assert c["version"] == "1.5" and action["type"] == "Action.Execute" and action["verb"] == "command"
    assert action["fallback"] == {
        "type": "Action.Submit",
        "title": "No change",
        "data": {"okrbot": "command", "command": "no change KR-1", "replaces": True},
        "associatedInputs": "none",
    }
    assert clip("no change " + " ".join(f"KR-{n}" for n in range(100, 200))).endswith(" KR-169")
    assert len(clip("x" * 600)) == 500


def test_submissions_and_reference_keys():
    form = activity("", value={"okrbot": "checkin", "KR-1.value": "40", "KR-1.confidence": "7", "KR-1.note": "ok"})
    assert submission(form).action == "checkin"
    assert submission(form).values == {"KR-1.value": "40", "KR-1.confidence": "7", "KR-1.note": "ok"}
    button = activity("", value={"okrbot": "command", "command": "checkin"})
    assert submission(button).command == "checkin"
    assert submission(activity("help")) is None
    assert submission(activity("", value={"other": 1})) is None
    assert reference_key(activity("x")) == ("user", "aad-alice")
    assert reference_key(activity("x", kind="channel")) == ("channel", "19:chan@thread.tacv2")
    assert reference_key(activity("x", kind="groupChat")) == ("channel", "a:1personal")


# --- rendering -----------------------------------------------------------------------------------


def card_json(message: Message) -> str:
    return json.dumps(to_cards(message), ensure_ascii=False)


def test_every_block_renders_to_adaptive_card_1_4_elements():
    message = Message.of(
        Header(("Team web",)),
        Text(("Strong words",), strong=True),
        Fields((("Owner", (Mention("aad-bob", "Bob"),)), ("Cycle", ("2026-Q4",)))),
        Progress(("KR-7 ", UserText("Active teams")), 0.4, "40 / 100 users", 3, "red", ref="KR-7"),
        Progress(("KR-8",), 0.9, "9 / 10", 8, "green"),
        Progress(("KR-9",), 0.5, "5 / 10", 5, "yellow"),
        Context(("small print",)),
        Divider(),
        Actions((Button("Show", "show KR-7", "primary"),)),
        Image(b"\x89PNG fake", "weekly chart"),
    )
    cards = to_cards(message)
    assert all(c["type"] == "AdaptiveCard" and c["version"] == "1.4" for c in cards)
    elements = [e for c in cards for e in c["body"]]
    kinds = [e["type"] for e in elements]
    assert {"TextBlock", "FactSet", "ColumnSet", "Container", "ActionSet", "Image"} <= set(kinds)
    assert elements[0]["weight"] == "Bolder" and elements[1]["weight"] == "Bolder"
    text = json.dumps(cards, ensure_ascii=False)
    assert '"color": "attention"' in text and '"color": "good"' in text and '"color": "warning"' in text
    assert "████░░░░░░" in text
    assert '{"okrbot": "command", "command": "checkin KR-7"}' in text  # the progress line's Check in
    assert '{"okrbot": "command", "command": "show KR-7"}' in text
    image = next(e for e in elements if e["type"] == "Image")
    assert image["url"].startswith("data:image/png;base64,") and image["altText"] == "weekly chart"
    fact_card = next(c for c in cards if any(e["type"] == "FactSet" for e in c["body"]))
    assert fact_card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"id": "aad-bob", "name": "Bob"}}
    ]


def test_user_text_cannot_link_format_or_mention():
    evil = UserText("[click](https://evil.example) **bold** _it_ <at>Bob</at> <b>x</b>\n- item\n1. one")
    message = Message.of(Text(("note: ", evil, " by ", Mention("aad-bob", "Bob"))))
    body = to_cards(message)[0]["body"][0]["text"]
    assert "[click](" not in body and "**bold**" not in body and "_it_" not in body
    assert "\\[click\\]\\(https://evil.example\\)" in body
    assert "<at>Bob</at>" in body  # the real mention, once …
    assert body.count("<at>") == 1  # … and the typed one is inert
    assert "<b>" not in body and "\n- item" not in body and "\n1. one" not in body
    assert escape("a_b") == "a\\_b"


def test_check_in_form_card_has_inputs_per_kr_and_submit_and_shows_errors():
    fields = (
        FormField("KR-7.value", "Value (users)", "number", "40", error="Give KR-7 a value, like 42."),
        FormField("KR-7.confidence", "Confidence 0–10", "choice", "5", CHOICES),
        FormField("KR-7.note", "Note", "text", optional=True),
    )
    form = Form("Weekly check-in", (FormGroup("KR-7", ("KR-7 ", UserText("Users")), fields),), "Check in", "checkin")
    (c,) = to_cards(Message.of(form))
    groups = [element for element in c["body"] if element["type"] == "Container"]
    inputs = {e["id"]: e for group in groups for e in group["items"] if e["type"].startswith("Input.")}
    assert inputs["KR-7.value"]["type"] == "Input.Number" and inputs["KR-7.value"]["value"] == 40
    assert inputs["KR-7.confidence"]["type"] == "Input.ChoiceSet"
    assert [choice["value"] for choice in inputs["KR-7.confidence"]["choices"]] == [str(n) for n in range(11)]
    assert inputs["KR-7.note"]["type"] == "Input.Text" and inputs["KR-7.note"]["isRequired"] is False
    submit = {"type": "Action.Submit", "title": "Check in", "data": {"okrbot": "checkin"}, "style": "positive"}
    assert c["version"] == "1.5" and "actions" not in c  # in an ActionSet, where every client sees the fallback
    assert c["body"][-1] == {
        "type": "ActionSet",
        "actions": [{**submit, "type": "Action.Execute", "verb": "checkin", "fallback": submit}],
    }
    assert "Give KR-7 a value, like 42." in json.dumps(c, ensure_ascii=False)


def test_long_digest_is_split_into_cards_under_the_limit():
    lines = [Progress((f"KR-{n} ", UserText("x" * 300)), 0.5, "5 / 10", 5, "yellow", ref=f"KR-{n}") for n in range(300)]
    message = Message.of(Header(("Digest",)), *lines, Image(b"\x89PNG" + b"0" * 50_000, "chart"))
    cards = to_cards(message)
    assert len(cards) > 3
    for c in cards:
        assert sum(size(e) for e in c["body"]) + 1_000 <= MAX_CARD_BYTES
    total_ranges = json.dumps(cards)
    assert all(f"KR-{n} " in total_ranges for n in range(300))
    activities = to_activities(message)
    assert len(activities) == len(cards)
    assert activities[0]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert activities[0]["summary"].startswith("== Digest ==")


def test_error_message_is_a_card_in_attention_colour():
    (c,) = to_cards(Message.error('Unknown command "frob"; type help.'))
    assert c["body"][0]["color"] == "attention" and "frob" in c["body"][0]["text"]


def test_a_small_export_arrives_whole_and_exactly_as_written():
    content = 'ref,title,note\nKR-1,"Active *teams* [x](y)",<at>Bob</at> \\ _it_\n'
    cards = to_cards(Message.of(File("okrbot-export.csv", "text/csv", content)))
    assert len(cards) == 1
    box = next(e for e in cards[0]["body"] if e["type"] == "Input.Text")
    assert box["isMultiline"] and box["value"] == content  # not markdown: no escapes to show on mobile
    assert "okrbot-export.csv" in cards[0]["body"][0]["text"] and "text/csv" in cards[0]["body"][0]["text"]


def test_a_large_export_is_a_sentence_not_a_stack_of_cards():
    content = "ref,title\n" + "".join(f"KR-{n},{'x' * 200}\n" for n in range(400))  # ~80 KB
    cards = to_cards(Message.of(File("okrbot-export.csv", "text/csv", content)))
    assert len(cards) == 1 and all(size(c) <= MAX_CARD_BYTES for c in cards)
    text = cards[0]["body"][0]["text"]
    assert "KB, more than a Teams card holds" in text
    assert "x" * 200 not in json.dumps(cards)
