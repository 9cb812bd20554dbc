"""Real headless Chromium (Debian's ``chromium``, which ./dev.sh installs): the DOM it built and
a screenshot of what it painted, decoded here (PNG: zlib + the five row filters)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

#: seconds one Chromium run may take (it starts in about 2 s on this machine)
TIMEOUT = 90


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run ./dev.sh setup (it installs Debian's chromium)")
    return path


def _argv(profile: Path, *extra: str) -> list[str]:
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
            f"--user-data-dir={profile}", *extra]


def dump_dom(html_file: Path, profile: Path) -> str:
    r = subprocess.run(_argv(profile, "--dump-dom", html_file.as_uri()), capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def screenshot(html_file: Path, out: Path, profile: Path, width: int = 1200, height: int = 2400) -> Path:
    r = subprocess.run(_argv(profile, f"--window-size={width},{height}", f"--screenshot={out}",
                             html_file.as_uri()), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and out.is_file(), r.stderr[-2000:]
    return out


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows if bpp == 3 else [bytes(r[i] for i in range(len(r)) if i % 4 != 3) for r in rows]


def pixel_stats(path: Path, step: int = 3) -> dict[str, int]:
    """Sampled pixel counts: non-white, red-ish (the top cause, failed steps), dark (text)."""
    width, height, rows = read_png(path)
    stats = {"width": width, "height": height, "sampled": 0, "non_white": 0, "red": 0, "dark": 0}
    for y in range(0, height, step):
        row = rows[y]
        for x in range(0, width, step):
            r, g, b = row[3 * x], row[3 * x + 1], row[3 * x + 2]
            stats["sampled"] += 1
            if r < 240 or g < 240 or b < 240:
                stats["non_white"] += 1
            if r > 170 and g < 90 and b < 90:
                stats["red"] += 1
            if r < 80 and g < 80 and b < 80:
                stats["dark"] += 1
    return stats
