"""The web chat in a real browser: Playwright for Python driving Debian's Chromium against
``okrbot serve --demo`` started as a person starts it (a subprocess, its own SQLite file).

The pushed digest takes the road a scheduled one takes: ``okrbot send digests`` (another
process, as an operator or cron would run it) queues it in the outbox of the same database, and
the server's dispatcher sends it through the web chat's Outbound into the open page, live. The
weekly prompt takes the same road (``okrbot send prompts``) and is answered where it arrived.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from contextlib import closing

import pytest
from test_deploy_serve import Served

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"]  # fmt: skip
TITLE = "<img src=x onerror=alert(1)> Ship the web chat"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[dev]')"
)
if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
    pytest.skip(
        f"Chromium is not at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )
expect = sync_api.expect
#: Every click on the page, trusted or not: how many a person needs to answer a prompt.
COUNT_CLICKS = "window.clicks = 0; document.addEventListener('click', () => { window.clicks += 1; }, true);"


def running(server: Served, *, seconds: float):
    try:
        server.wait_healthy(seconds=seconds)
        yield server
    finally:
        code, _out, err = server.stop()
        assert code == 0, err[-2000:]


@pytest.fixture
def served(tmp_path):
    yield from running(Served(tmp_path, "--demo"), seconds=120)  # the demo loads first


@pytest.fixture
def fresh(tmp_path):
    """A server on an empty database, for a test that builds its own workspace."""
    yield from running(Served(tmp_path), seconds=60)


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        finally:
            chromium.close()


def new_tab(browser):
    """A tab that keeps the dialogs it was shown and the errors its script threw."""
    tab = browser.new_page()
    tab.set_default_timeout(15_000)
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    tab.errors = []  # type: ignore[attr-defined]
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))  # type: ignore[attr-defined]
    return tab


@pytest.fixture
def page(served, browser, tmp_path):
    tab = new_tab(browser)
    yield tab
    tab.screenshot(path=str(tmp_path / "webchat-last.png"))


def send(page, pane: str, text: str):
    """Type a command in a pane; its reply (waited for) as a locator."""
    replies = page.locator(f"#log-{pane} .msg.from-bot")
    before = replies.count()
    composer = page.locator(f'.composer[data-pane="{pane}"] input')
    composer.fill(text)
    composer.press("Enter")
    expect(replies).to_have_count(before + 1)
    return replies.nth(before)


def last_reply(page, pane: str):
    return page.locator(f"#log-{pane} .msg.from-bot").last


def test_a_person_tries_okrbot_in_the_browser(served, page, tmp_path):
    assert f"open http://127.0.0.1:{served.port}/ in your browser" in served.out.read_text()
    page.goto(f"{served.url}/")
    expect(page.locator("#workspace-name")).to_have_text("Demo")
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#whoami option")).to_have_count(15)

    # who am I: Priya, who leads Customer Research
    page.select_option("#whoami", "priya")
    expect(page.locator("#log-channel .system")).to_have_text("You are Priya Raman in #general.")

    # an objective whose title tries to be HTML, and a key result under it
    send(page, "channel", f'/okr objective add "{TITLE}" --team research')
    reply = last_reply(page, "channel")
    expect(reply).to_contain_text(f"Created O-26 {TITLE} for team research")
    assert reply.locator("img").count() == 0
    send(page, "channel", 'kr add O-26 "Pages served" --target 100')
    expect(last_reply(page, "channel")).to_contain_text("Added KR-81 Pages served to O-26")

    # the check-in form in the direct-message pane: a wrong value is answered next to its field
    send(page, "direct", "checkin")
    form = page.locator("#log-direct form.b-form").first
    value = form.locator('input[name="KR-81.value"]')
    value.fill("lots")
    form.locator('select[name="KR-81.confidence"]').select_option("7")
    form.locator('input[name="KR-81.note"]').fill("first pages out")
    form.locator("button[type=submit]").click()
    error = form.locator('.field-error[data-field="KR-81.value"]')
    expect(error).not_to_be_empty()
    expect(form.locator(".form-field.invalid")).to_have_count(1)
    value.fill("40")
    replies = page.locator("#log-direct .msg.from-bot")
    before = replies.count()
    form.locator("button[type=submit]").click()
    answered = last_reply(page, "direct")
    expect(answered).to_contain_text("Checked in")
    expect(answered).to_contain_text("KR-81 Pages served")
    expect(answered).to_have_class(re.compile(r"\banswered\b"))  # the form's message, now its answer
    expect(page.locator("#log-direct form.b-form")).to_have_count(0)
    expect(replies).to_have_count(before)
    send(page, "direct", "show KR-81")
    shown = last_reply(page, "direct")
    expect(shown).to_contain_text("40 / 100")
    expect(shown.locator(".b-progress .confidence")).to_have_text("7/10")
    expect(shown.locator(".b-progress .fill.green")).to_have_count(1)

    # a digest scheduled for this channel, sent by the scheduler's road, arrives live
    send(page, "channel", "subscribe digest team research")
    expect(last_reply(page, "channel")).to_contain_text("This channel gets the digest of team research")
    sent = served.okrbot("send", "digests", "--team", "research", "--workspace", "demo")
    assert sent.returncode == 0 and "Queued 1 digests" in sent.stdout, sent.stdout + sent.stderr
    pushed = page.locator("#log-channel .msg.from-bot", has=page.locator(".msg-note", has_text="scheduled"))
    expect(pushed).to_have_count(1, timeout=20_000)
    expect(pushed).to_contain_text("Digest")
    expect(pushed).to_contain_text(TITLE)

    # the hostile title is text everywhere: no element made from it, no dialog
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("document.querySelectorAll('img[onerror]').length") == 0
    expect(page.get_by_text(TITLE).first).to_be_visible()
    assert page.dialogs == [] and page.errors == []
    page.screenshot(path=str(tmp_path / "webchat.png"), full_page=False)


def test_buttons_run_their_command_and_exports_download(served, page, tmp_path):
    page.goto(f"{served.url}/?workspace=demo&user=amelie")
    expect(page.locator("#status")).to_have_text("live")
    send(page, "direct", "list mine")
    first = last_reply(page, "direct").locator(".b-progress button", has_text="Check in").first
    first.click()
    form = last_reply(page, "direct").locator("form.b-form")
    expect(form.locator("fieldset")).to_have_count(1)  # the form for that key result only

    send(page, "direct", "export csv")
    link = last_reply(page, "direct").locator("a.download")
    with page.expect_download() as download:
        link.click()
    path = tmp_path / "export.csv"
    download.value.save_as(path)
    assert path.read_text(encoding="utf-8-sig").splitlines()[0].count(",") >= 3

    # a chart comes as a picture
    send(page, "channel", "digest all")
    expect(last_reply(page, "channel").locator(".b-header").first).to_contain_text("Digest")
    page.screenshot(path=str(tmp_path / "webchat-digest.png"))
    assert page.errors == []


# -- the weekly prompt, answered in place ---------------------------------------------------------


def open_as(page, served: Served, user: str) -> None:
    page.goto(f"{served.url}/?workspace=acme&user={user}")
    expect(page.locator("#status")).to_have_text("live")


def three_key_results(page, served: Served, user: str, objective: int) -> None:
    """``user`` owns O-``objective`` in team growth and its three key results."""
    open_as(page, served, user)
    send(page, "direct", f'objective add "{user.title()} grows the beta" --team growth')
    for title in ("Signups", "Demos booked", "Pages fixed"):
        send(page, "direct", f'kr add O-{objective} "{title}" --target 10')


def scheduled_prompt(page):
    """The prompt pushed into the direct-message pane (it keeps its "scheduled" note once answered)."""
    pushed = page.locator("#log-direct .msg.from-bot", has=page.locator(".msg-note", has_text="scheduled"))
    expect(pushed).to_have_count(1, timeout=20_000)
    expect(pushed).to_contain_text("how did your key results move this week?")
    return pushed


def clicks_from_here(page):
    page.evaluate("window.clicks = 0")
    return lambda: page.evaluate("window.clicks")


def check_ins(served: Served, person: str) -> list[tuple[int, float, str]]:
    """What the database holds, read beside the server: (KR number, value, note) in order."""
    with closing(sqlite3.connect(served.db_url.removeprefix("sqlite:///"))) as db:
        return db.execute(
            "SELECT k.number, c.value, c.note FROM check_in c JOIN key_result k ON k.id = c.key_result_id "
            "JOIN member m ON m.id = c.member_id WHERE m.external_id = ? ORDER BY c.id",
            (person,),
        ).fetchall()


def test_a_weekly_prompt_is_answered_in_one_click_in_its_own_place(fresh, browser):
    page = new_tab(browser)
    page.add_init_script(COUNT_CLICKS)
    open_as(page, fresh, "zoe")
    send(page, "direct", 'team add growth "Growth"')
    three_key_results(page, fresh, "zoe", 1)  # KR-1..3
    three_key_results(page, fresh, "yann", 2)  # KR-4..6
    sent = fresh.okrbot("send", "prompts", "--team", "growth", "--workspace", "acme")
    assert sent.returncode == 0 and "Queued 2 prompts" in sent.stdout, sent.stdout + sent.stderr

    # Zoé: nothing moved. The prompt offers Check in and No change side by side, the fields folded.
    open_as(page, fresh, "zoe")
    prompt = scheduled_prompt(page)
    expect(prompt.locator(".form-buttons button")).to_have_text(["Check in", "No change"])
    expect(prompt.locator("fieldset").first).to_be_hidden()
    expect(prompt.locator(".b-progress")).to_have_count(3)
    expect(prompt.locator(".b-progress button")).to_have_count(0)  # the form has every key result
    messages = page.locator("#log-direct .msg")
    before, clicks = messages.count(), clicks_from_here(page)
    prompt.get_by_role("button", name="No change").click()
    expect(prompt).to_contain_text("No change ✓ recorded for KR-1, KR-2, KR-3 on ")
    expect(prompt).to_have_class(re.compile(r"\banswered\b"))
    expect(prompt.locator("form")).to_have_count(0)
    assert clicks() == 1
    expect(messages).to_have_count(before)  # in the prompt's place, nothing added below
    assert check_ins(fresh, "zoe") == [(1, 0.0, "no change"), (2, 0.0, "no change"), (3, 0.0, "no change")]
    expect(send(page, "direct", "show KR-1")).to_contain_text("no change")

    # another copy of the same prompt (a second tab) asks nothing twice
    other = new_tab(browser)
    open_as(other, fresh, "zoe")
    copy = scheduled_prompt(other)
    copy.get_by_role("button", name="No change").click()
    expect(copy).to_contain_text("Nothing more recorded: KR-1, KR-2, KR-3 already checked in this week.")
    assert len(check_ins(fresh, "zoe")) == 3

    # Yann: Check in opens the form in the prompt; typing, and Check in again saves all three
    open_as(page, fresh, "yann")
    prompt = scheduled_prompt(page)
    clicks = clicks_from_here(page)
    prompt.get_by_role("button", name="Check in", exact=True).click()
    value = prompt.locator('input[name="KR-4.value"]')
    expect(value).to_be_focused()
    value.fill("4")
    prompt.locator('input[name="KR-5.value"]').fill("7")
    prompt.locator('input[name="KR-6.value"]').fill("2")
    prompt.locator('input[name="KR-6.note"]').fill("the <b>hard</b> ones")
    prompt.get_by_role("button", name="Check in", exact=True).click()
    expect(prompt).to_contain_text("Checked in 3 key results ✓ Thank you, @yann!")
    expect(prompt.locator(".b-progress")).to_contain_text(["4 / 10", "7 / 10", "2 / 10"])
    assert clicks() == 2
    assert check_ins(fresh, "yann") == [(4, 4.0, ""), (5, 7.0, ""), (6, 2.0, "the <b>hard</b> ones")]
    prompt.screenshot(path="/tmp/webchat-prompt.png")
    assert page.errors == [] and other.errors == [] and page.dialogs == []
