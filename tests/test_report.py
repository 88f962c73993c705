"""The HTML report in a real browser: headless Chromium renders the grid and the trend chart."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reporter import jobs
from reporter.format import Templates
from reporter.format.html import HtmlFormat
from reporter.simulator import SimulatedPlatform
from reporter.store import Store
from tests.fakes import make_settings

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = (
        "HEADLESS CHROMIUM IS NOT INSTALLED: the HTML report was not checked in a browser. "
        "Install Debian's chromium package (.ci/run does)."
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG into rows of pixel bytes (stdlib only)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, data, width, height, channels = 8, b"", 0, 0, 4
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        body = png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += body
        offset += 12 + length
    raw, rows, stride, previous = zlib.decompress(data), [], width * channels, bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                nearest = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                line[x] = (line[x] + nearest) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, channels, rows


def count_colour(png: bytes, rgb: tuple[int, int, int]) -> int:
    width, channels, rows = pixels(png)
    return sum(1 for row in rows for x in range(width) if tuple(row[x * channels : x * channels + 3]) == rgb)


# Measures the laid-out page and writes the figures into <body data-*> for --dump-dom to show.
PROBE = """<script>
const px = (e) => e.getBoundingClientRect();
const names = [...document.querySelectorAll("td.name a")].map((a) => px(a).height);
const grid = document.querySelector(".grid table");
const cells = grid.querySelector("tr").querySelectorAll("td").length;
Object.assign(document.body.dataset, {
  viewport: innerWidth,
  page: document.documentElement.scrollWidth,
  table: Math.round(px(document.querySelector(".rows table")).width),
  tallestName: Math.max(...names),
  lineHeight: parseFloat(getComputedStyle(document.querySelector("td.name")).lineHeight),
  gridCells: cells,
  commitLabels: grid.querySelectorAll("tr.commits td").length,
  daySpans: [...grid.querySelectorAll("tr.days td")].reduce((n, td) => n + td.colSpan, 0),
});
</script>"""


def measure(browser: str, report: Path, width: int, profile: str) -> dict[str, float]:
    probed = report.with_name(f"probed-{width}.html")
    probed.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},2000", "--dump-dom",
         probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    return {k: float(v) for k, v in re.findall(r'data-([a-z-]+)="([0-9.]+)"', body.group(1))}


def screenshot(browser: str, report: Path, width: int, profile: str) -> bytes:
    shot = report.with_name(f"report-{width}.png")
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},2400",
         f"--screenshot={shot}", report.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    return shot.read_bytes()


@pytest.mark.slow
def test_report_renders_the_grid_in_chromium(tmp_path: Path, platform: SimulatedPlatform) -> None:
    browser = chromium()
    settings = make_settings(
        tmp_path, platform.base_url, analysis={"window_days": 3650}, schedule={"timezone": "Asia/Kolkata"}
    )
    now = datetime.now(UTC)
    with Store(settings.state.path) as store:
        jobs.poll(settings, store)
        for days_ago in (3, 2, 1):  # earlier digests make the trend
            jobs.run_digest(settings, store, channels=[], now=now - timedelta(days=days_ago))
        digest = jobs.build_digest(settings, store, now)
    report = tmp_path / "report.html"
    report.write_text(HtmlFormat(Templates()).digest(digest))
    assert "http://" not in report.read_text().split("<body>")[0]  # no external assets in the head
    profile = tempfile.mkdtemp()
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert dom.count('<td class="fail"') > 0 and dom.count('<td class="pass"') > 0
    lines = re.findall(r'<polyline [^>]*points="([^"]*)"', dom)
    assert [len(points.split()) for points in lines] == [4, 4]  # flaky and failing: a point a digest
    ticks = re.findall(r'<text [^>]*text-anchor="end">(\d+)</text>', dom)
    assert ticks[0] == "0" and len(ticks) >= 2 and ">samples</text>" in dom  # a labelled scale
    assert "Same-commit evidence." in dom and "IST" in dom and " UTC" not in dom
    if digest.failing:
        failing = dom.split("<h2>Real failures", 1)[1].split("</table>", 1)[0]
        assert "Failing since" in failing and "■■■■■" not in failing  # a date, not a solid red bar
    for width in (1400, 800):
        figures = measure(browser, report, width, profile)
        assert figures["page"] <= figures["viewport"] == width  # nothing wider than the window
        assert figures["table"] >= 0.9 * width - 50  # full width, not a narrow column
        assert figures["tallest-name"] < 1.6 * figures["line-height"]  # a name on one line
        assert (
            figures["commit-labels"] == figures["day-spans"] == figures["grid-cells"]
        )  # an axis under every column
        png = screenshot(browser, report, width, profile)
        assert count_colour(png, (0xCF, 0x22, 0x2E)) > 200  # failed cells
        assert count_colour(png, (0x2D, 0xA4, 0x4E)) > 200  # passed cells
