"""Outside text reaches a terminal, a log or a report printable, on one line and bounded."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from reporter.cli import main
from reporter.digest import FindingsReport
from reporter.format import Templates, digest_format
from reporter.format.json import JsonFormat
from reporter.format.table import TableFormat
from reporter.logs import configure_logging
from reporter.shown import FULL, SHOWN, one_line, printable, shown
from tests.fakes import NOW, QuietHTTPServer, digest_named, finding, full_digest, hostile

# a screen clear, an OSC 8 hyperlink, a title change, 8-bit CSI, bell, backspace, carriage return,
# a right-to-left override and a lone surrogate (which cannot even be encoded)
NASTY = "a\x1b[2Jb\x1b]8;;https://evil.example\x07c\x1b]8;;\x07d\x1b]0;pwned\x1b\\e\x9b31mf\x07\x08\rg\u202eh\ud800i"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def test_printable_removes_whole_escape_sequences_and_keeps_text() -> None:
    assert printable(NASTY) == "abcde\u00a0fgh\ufffdi".replace("\u00a0", "")
    assert printable("line 1\n\tline 2 é 界 🟥") == "line 1\n\tline 2 é 界 🟥"
    assert one_line("a\nb\tc\r\nd") == "a b c d"
    assert printable("\x1b") == "" and printable("x\x1b[") == "x"


def test_shown_bounds_every_string_and_keeps_a_longer_title() -> None:
    digest = shown(digest_named("n" * 1_000_000))
    name = digest.new_flaky[0].finding.sample_name
    assert len(name) == SHOWN and name.endswith("…")
    assert len(name.full) == FULL and name.full.endswith("…")  # type: ignore[attr-defined]
    clean = full_digest()
    assert shown(clean) is clean  # nothing to change: no copy


@pytest.mark.parametrize("fmt", ["text", "markdown", "mrkdwn", "html", "slack", "email"])
def test_no_format_lets_a_control_character_through(fmt: str) -> None:
    page = digest_format(fmt, Templates()).digest(hostile(full_digest(), NASTY))
    if fmt in ("slack", "email"):
        page = json.dumps(json.loads(page), ensure_ascii=False)
    assert not CONTROL.findall(page.replace("\n", "").replace("\t", ""))
    assert "abcde" in page  # the text around the sequences is kept


def test_the_findings_table_and_json_are_safe_to_print() -> None:
    findings = [finding(7, NASTY, "linux", "flaky", "..x..x")]
    report = FindingsReport(findings, NOW, 30, "https://sp.example")
    for terminal in (True, False):
        table = TableFormat(width=80, color=terminal, terminal=terminal).findings(report)
        ours = re.sub(r"\x1b\[[0-9;]*m", "", table)  # the table's own colours
        assert not CONTROL.findall(ours.replace("\n", "")) and "abcdefgh" in ours
    text = JsonFormat().findings(report)
    assert not CONTROL.findall(text.replace("\n", "")) and "\\u001b[2J" in text and "\\u009b" in text
    assert json.loads(text)["findings"][0]["sample_name"] == NASTY  # data kept exactly for scripts
    text.encode()  # a lone surrogate is escaped, not printed


def test_a_huge_sample_name_makes_no_huge_report() -> None:
    digest = digest_named("<b>" + "n" * 1_000_000)
    for fmt in ("text", "markdown", "mrkdwn", "html", "slack"):
        page = digest_format(fmt, Templates()).digest(digest)
        assert len(page) < 30_000, fmt
        page = json.dumps(json.loads(page), ensure_ascii=False) if fmt == "slack" else page
        assert "n" * (SHOWN - 4) + "…" in re.sub(r"\n +", "", page), fmt  # text wraps it
    html = digest_format("html", Templates()).digest(digest)
    assert f'title="&lt;b&gt;{"n" * (FULL - 4)}…"' in html  # a longer form where the format has a title
    email = json.loads(digest_format("email", Templates()).digest(digest))
    assert len(email["text"]) + len(email["html"]) < 90_000


def test_log_lines_are_printable(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(1)
    logging.getLogger("reporter.test").warning("platform said %s", NASTY)
    err = capsys.readouterr().err
    assert "platform said abcde" in err and not CONTROL.findall(err.replace("\n", ""))


@pytest.fixture
def rejecting_platform() -> Iterator[str]:
    """A platform stand-in answering every request 400 with escape sequences in its message."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"code": "bad_request", "message": NASTY, "details": {}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_api_error_message_reaches_the_terminal_printable(
    rejecting_platform: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", "t0ken")
    config = tmp_path / "reporter.yaml"
    config.write_text(f"platform:\n  base_url: {rejecting_platform}\nstate:\n  path: s.sqlite3\n")
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(config), "-v", "poll"])
    assert exit_.value.code == 3
    captured = capsys.readouterr()
    assert "HTTP 400 abcde" in captured.err
    assert not CONTROL.findall((captured.out + captured.err).replace("\n", ""))


def test_one_templates_renders_each_report_with_its_own_text() -> None:
    templates = Templates()
    for name in ("first.ts", "second.ts", "first.ts"):
        page = digest_format("text", templates).digest(digest_named(name))
        assert f"  * {name} (#99)" in page and page.count(".ts (#99)") == 1
    digest = digest_named("same.ts")
    assert templates.shown(digest) is templates.shown(digest)  # the formats of one report share the walk
