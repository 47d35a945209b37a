"""The web chat in a real browser: Playwright for Python driving Debian's Chromium against
``okrbot serve --demo`` started as a person starts it (a subprocess, its own SQLite file).

The pushed digest takes the road a scheduled one takes: ``okrbot send digests`` (another
process, as an operator or cron would run it) queues it in the outbox of the same database, and
the server's dispatcher sends it through the web chat's Outbound into the open page, live.
"""

from __future__ import annotations

import os
import re
import shutil

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


@pytest.fixture
def served(tmp_path):
    server = Served(tmp_path, "--demo")
    try:
        server.wait_healthy(seconds=120)  # the demo loads first
        yield server
    finally:
        code, _out, err = server.stop()
        assert code == 0, err[-2000:]


@pytest.fixture
def page(served, tmp_path):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.dialogs = []  # type: ignore[attr-defined]
        tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
        tab.errors = []  # type: ignore[attr-defined]
        tab.on("pageerror", lambda error: tab.errors.append(str(error)))  # type: ignore[attr-defined]
        try:
            yield tab
        finally:
            tab.screenshot(path=str(tmp_path / "webchat-last.png"))
            browser.close()


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
    form.locator("button[type=submit]").click()
    expect(last_reply(page, "direct")).to_contain_text("Checked in")
    expect(last_reply(page, "direct")).to_contain_text("KR-81 Pages served")
    expect(form).to_have_class(re.compile(r"\bdone\b"))
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
