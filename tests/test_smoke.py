async def test_first_member_creates_team_and_checks_in(chat):
    assert "Created team growth" in (await chat("alice", 'team add growth "Growth"')).text
    await chat("alice", 'objective add "Grow" --team growth')
    await chat("alice", 'kr add O-1 "Active teams" --target 100')
    reply = await chat("alice", "checkin KR-1 40 7 good week")
    assert not reply.is_error, reply.text
    assert "40 / 100" in reply.text
