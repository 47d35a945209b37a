"""The deploy artefacts say what their platforms need: app.json (Heroku button), Procfile,
Dockerfile, .env.example, and the Teams app manifest; every variable okrbot reads is described."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_deploy_serve import Served

from adapters.settings import SchedulerSettings, Settings, SlackSettings, TeamsSettings, WebChatSettings

ROOT = Path(__file__).resolve().parents[1]
HEROKU_ONLY = {"PORT", "DATABASE_URL"}  # set by the platform and the add-on, not by the person deploying
# tuning and test knobs: in .env.example, not asked of someone pressing the deploy button
NOT_FOR_DEPLOY = {"OKRBOT_SLACK_API_URL", "OKRBOT_HOST", "OKRBOT_PORT", "OKRBOT_DATABASE_URL",
                  "OKRBOT_MISFIRE_GRACE_HOURS", "OKRBOT_DISPATCH_WORKERS", "OKRBOT_DISPATCH_LEASE_SECONDS",
                  "OKRBOT_BODY_TIMEOUT_SECONDS", "OKRBOT_ACCESS_LOG", "OKRBOT_DATABASE_POOL",
                  "OKRBOT_API_RATE"}  # fmt: skip


def variables() -> set[str]:
    """Every environment variable okrbot reads: the settings' names and each os.environ.get."""
    names: set[str] = set()
    for model in (Settings, SlackSettings, TeamsSettings, WebChatSettings, SchedulerSettings):
        for field in model.model_fields.values():
            alias = field.validation_alias
            choices = getattr(alias, "choices", None)
            names.update(choices if choices else [alias] if isinstance(alias, str) else [])
    for path in [*ROOT.glob("adapters/**/*.py"), *ROOT.glob("scheduler/*.py"), *ROOT.glob("store/*.py")]:
        names.update(re.findall(r"""environ(?:\.get)?[\[(]["']([A-Z][A-Z0-9_]+)["']""", path.read_text()))
    return names


def test_every_variable_is_seen():
    assert {"SLACK_BOT_TOKEN", "MICROSOFT_APP_ID", "DATABASE_URL", "PORT", "OKRBOT_WEBCHAT"} <= variables()


def test_app_json_has_what_a_heroku_button_needs():
    app = json.loads((ROOT / "app.json").read_text())
    assert app["name"] == "okrbot"
    assert app["description"] and len(app["description"]) <= 200
    assert "okr" in app["keywords"]
    assert any(addon["plan"].startswith("heroku-postgresql") for addon in app["addons"])
    assert app["formation"]["web"]["quantity"] >= 1
    assert app["scripts"]["postdeploy"] == "okrbot db upgrade"
    env = app["env"]
    for name, spec in env.items():
        assert spec["description"], name
        assert isinstance(spec.get("required", True), bool), name
    assert env["OKRBOT_TIMEZONE"]["required"] is True
    assert env["OKRBOT_WEBCHAT_PUBLIC"]["value"] == "false"  # a public host never opens the web chat by default
    missing = variables() - env.keys() - HEROKU_ONLY - NOT_FOR_DEPLOY
    assert not missing, f"app.json does not describe {sorted(missing)}"


def test_procfile_migrates_on_release_and_serves_on_heroku_port():
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert lines["release"].strip() == "okrbot db upgrade"
    web = shlex.split(lines["web"])
    assert web[:2] == ["okrbot", "serve"] and "0.0.0.0" in web and "$PORT" in web


def test_dockerfile_is_slim_unprivileged_and_checks_its_health():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert 'CMD ["okrbot", "serve", "--host", "0.0.0.0"]' in text
    assert "pip install ." in text
    assert "OKRBOT_DATABASE_URL=" not in text and "OKRBOT_PORT=" not in text  # would hide DATABASE_URL and PORT


def test_the_dockerfile_healthcheck_command_passes_against_a_running_server(tmp_path):
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    command = shlex.split(re.search(r"^HEALTHCHECK .*? CMD (.+)$", text, re.M).group(1))
    assert command[:2] == ["python", "-c"]
    served = Served(tmp_path)
    try:
        served.wait_healthy()
        env = {k: v for k, v in served.env.items() if k != "OKRBOT_PORT"} | {"PORT": str(served.port)}
        ok = subprocess.run([sys.executable, "-c", command[2]], env=env, capture_output=True, timeout=30, check=False)
    finally:
        served.stop()
    assert ok.returncode == 0, ok.stderr
    down = subprocess.run([sys.executable, "-c", command[2]], env=env, capture_output=True, timeout=30, check=False)
    assert down.returncode == 1  # Docker reads 1 as unhealthy (2 is reserved)


def test_env_example_documents_every_variable_and_sets_none():
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", text, re.M))
    missing = variables() - documented
    assert not missing, f".env.example does not document {sorted(missing)}"
    assert not re.findall(r"^[A-Z_]+=", text, re.M), "an uncommented empty value would be read as a value"


def test_teams_manifest_is_valid_json_with_the_fields_teams_requires():
    path = ROOT / "adapters" / "teams" / "appPackage" / "manifest.json"
    if not path.exists():
        pytest.skip("no Teams app manifest yet")
    manifest = json.loads(path.read_text())
    for key in ("$schema", "manifestVersion", "version", "id", "developer", "name", "description", "icons",
                "accentColor"):  # fmt: skip
        assert manifest.get(key), key
    assert {"name", "websiteUrl", "privacyUrl", "termsOfUseUrl"} <= manifest["developer"].keys()
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["full"]) <= 4000
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", manifest["accentColor"])
    for icon in manifest["icons"].values():
        assert (path.parent / icon).exists(), icon
    bot = manifest["bots"][0]
    assert bot["botId"] and set(bot["scopes"]) <= {"personal", "team", "groupChat"}
