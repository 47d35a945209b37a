"""`okrbot teams package`: the zip a user uploads to Teams holds a valid manifest and both icons."""

from __future__ import annotations

import json
import zipfile

from adapters.teams.package import main, png_size

APP_ID = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"


def test_package_holds_the_manifest_and_the_icons_at_teams_sizes(tmp_path, capsys):
    out = tmp_path / "okrbot-teams.zip"
    assert main(["--app-id", APP_ID, "--host", "okr.example.org", "--out", str(out)]) == 0
    assert "Upload an app" in capsys.readouterr().out
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color, outline = archive.read("color.png"), archive.read("outline.png")
    assert "${{" not in json.dumps(manifest)
    assert manifest["manifestVersion"] == "1.19" and "v1.19" in manifest["$schema"]
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["okr.example.org"]
    assert manifest["developer"]["websiteUrl"].startswith("https://okr.example.org")
    bot = manifest["bots"][0]
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    commands = bot["commandLists"][0]["commands"]
    assert {"checkin", "list", "show", "digest", "help"} <= {c["title"] for c in commands}
    assert len(commands) <= 10 and all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands)
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert png_size(color) == (192, 192) and png_size(outline) == (32, 32)
    # the outline icon is white on transparent, nothing else
    import zlib

    raw = zlib.decompress(outline[outline.index(b"IDAT") + 4 : outline.index(b"IEND") - 8])
    pixels = [raw[row * 129 + 1 + i * 4 : row * 129 + 5 + i * 4] for row in range(32) for i in range(32)]
    assert set(pixels) == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}


def test_a_wrong_app_id_or_host_is_refused_with_a_sentence(tmp_path, capsys):
    assert main(["--app-id", "not-a-guid", "--out", str(tmp_path / "x.zip")]) == 2
    assert "Microsoft App ID" in capsys.readouterr().err
    assert main(["--app-id", APP_ID, "--host", "bad host/", "--out", str(tmp_path / "x.zip")]) == 2
    assert "host name" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_okrbot_teams_package_command_writes_the_zip(tmp_path):
    import subprocess
    import sys
    import zipfile

    out = tmp_path / "okrbot-teams.zip"
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "teams", "package", "--app-id", "11111111-2222-3333-4444-555555555555", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert "11111111-2222-3333-4444-555555555555" in archive.read("manifest.json").decode()
    assert not (tmp_path / "okrbot.db").exists()  # packaging touches no database
