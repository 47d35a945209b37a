"""``okrbot teams package --app-id ID [--host HOST] [--out okrbot-teams.zip]``: the Teams app zip.

The zip holds ``manifest.json`` (from ``appPackage/manifest.json`` with ``${{MICROSOFT_APP_ID}}``
and ``${{BOT_DOMAIN}}`` filled in) and the two icons Teams requires at its root: ``color.png``
192x192 and ``outline.png`` 32x32 (white on transparent). Upload it in Teams → Apps → Manage your
apps → Upload an app.
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import zipfile
import zlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).parent / "appPackage"
ICONS = {"color.png": 192, "outline.png": 32}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")


def manifest(app_id: str, host: str) -> dict:
    text = (PACKAGE_DIR / "manifest.json").read_text(encoding="utf-8")
    text = text.replace("${{MICROSOFT_APP_ID}}", app_id).replace("${{BOT_DOMAIN}}", host)
    left = re.findall(r"\$\{\{\w+\}\}", text)
    if left:
        raise ValueError(f"manifest.json has placeholders the packager does not know: {', '.join(sorted(set(left)))}")
    return json.loads(text)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (ValueError if it is no PNG)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def write_png(path: Path, size: int, pixel) -> None:  # type: ignore[no-untyped-def]
    """An RGBA PNG of ``size``², ``pixel(x, y) -> (r, g, b, a)``; no imaging library needed."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    )


def _target(size: int, x: int, y: int) -> bool:
    """A target: a ring and a bull's-eye, the shape of the okrbot icon."""
    c = (size - 1) / 2
    r = ((x - c) ** 2 + (y - c) ** 2) ** 0.5 / (size / 2)
    return 0.62 <= r <= 0.82 or r <= 0.3


def make_icons(folder: Path = PACKAGE_DIR) -> None:
    """Draw color.png (white target on okrbot blue) and outline.png (white target, transparent)."""
    write_png(
        folder / "color.png", 192, lambda x, y: (255, 255, 255, 255) if _target(192, x, y) else (46, 107, 230, 255)
    )
    write_png(folder / "outline.png", 32, lambda x, y: (255, 255, 255, 255) if _target(32, x, y) else (0, 0, 0, 0))


def build(app_id: str, host: str, out: Path) -> Path:
    if not _GUID.match(app_id):
        raise ValueError(f"--app-id {app_id[:40]!r} is not the bot's Microsoft App ID (a GUID like 1b2c…-…).")
    host = host.strip().removeprefix("https://").rstrip("/")
    if not _HOST.match(host):
        raise ValueError(f"--host {host[:60]!r} is not a host name like okrbot.example.com.")
    data = manifest(app_id, host)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(data, indent=2, ensure_ascii=False))
        for name, size in ICONS.items():
            icon = (PACKAGE_DIR / name).read_bytes()
            if png_size(icon) != (size, size):
                raise ValueError(f"{name} must be {size}x{size} pixels")
            archive.writestr(name, icon)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="okrbot teams package", description="Write the Teams app package (zip).")
    parser.add_argument("--app-id", required=True, help="the bot's Microsoft App ID (MICROSOFT_APP_ID)")
    parser.add_argument("--host", default="okrbot.example.com", help="the public host serving /api/messages")
    parser.add_argument("--out", default="okrbot-teams.zip", help="where to write the zip")
    args = parser.parse_args(argv)
    try:
        out = build(args.app_id.strip(), args.host, Path(args.out))
    except (ValueError, OSError) as exc:
        print(f"okrbot teams package: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {out}: upload it in Teams → Apps → Manage your apps → Upload an app.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
