"""The check-in form: every key result answered in one submit, or nothing written."""

from __future__ import annotations

from conftest import command

from bot.messages import Form


async def setup_two_krs(chat):
    await chat("alice", 'team add growth "Growth"')
    await chat("alice", 'objective add "Grow" --team growth')
    await chat("alice", 'kr add O-1 "Active teams" --target 100 --unit teams')
    await chat("alice", 'kr add O-1 "Churn" --start 10 --target 5 --unit %')


async def test_checkin_without_arguments_is_a_form_of_my_key_results(chat):
    await setup_two_krs(chat)
    reply = await chat("alice", "checkin")
    (form,) = [b for b in reply.blocks if isinstance(b, Form)]
    assert [g.ref for g in form.groups] == ["KR-1", "KR-2"]
    assert [f.name for f in form.groups[1].fields] == ["KR-2.value", "KR-2.confidence", "KR-2.note"]
    assert form.groups[1].fields[0].initial == "10" and form.groups[1].fields[1].initial == "5"


async def test_submit_records_every_key_result_at_once(bot, chat):
    await setup_two_krs(chat)
    values = {
        "KR-1.value": "40",
        "KR-1.confidence": "7",
        "KR-1.note": "two pilots",
        "KR-2.value": "8",
        "KR-2.confidence": "",
    }
    reply = await bot.submit_form(command("alice", ""), "checkin", values)
    assert reply.errors == {}
    assert "Checked in 2 key results" in reply.message.text
    assert "40 / 100 teams" in (await chat("bob", "show KR-1")).text
    shown = (await chat("bob", "show KR-2")).text
    assert "8 / 5 %" in shown and "Confidence: 5/10" in shown  # confidence left blank keeps the last one


async def test_one_bad_field_records_nothing_and_names_the_field(bot, chat):
    await setup_two_krs(chat)
    before = (await chat("alice", "export json")).text
    values = {"KR-1.value": "40", "KR-1.confidence": "11", "KR-2.value": "abc"}
    reply = await bot.submit_form(command("alice", ""), "checkin", values)
    assert set(reply.errors) == {"KR-1.confidence", "KR-2.value"}
    assert "0 to 10" in reply.errors["KR-1.confidence"]
    (form,) = [b for b in reply.message.blocks if isinstance(b, Form)]
    assert form.groups[0].fields[1].error == reply.errors["KR-1.confidence"]
    assert (await chat("alice", "export json")).text == before


async def test_someone_else_may_not_submit_my_key_results(bot, chat):
    await setup_two_krs(chat)
    reply = await bot.submit_form(command("mallory", ""), "checkin", {"KR-1.value": "99"})
    assert reply.message.is_error and "Only the owner of KR-1" in reply.message.text
    assert "0 / 100" in (await chat("alice", "show KR-1")).text


async def test_a_key_result_of_another_workspace_is_unknown(bot, chat):
    await setup_two_krs(chat)
    reply = await bot.submit_form(command("alice", "", workspace="other"), "checkin", {"KR-1.value": "99"})
    assert reply.message.is_error and "no key result KR-1 in this workspace" in reply.message.text
