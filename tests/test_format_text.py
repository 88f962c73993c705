"""Plain text and the findings table read well: one item a sample, 100 columns, no mid-word wraps."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from rich.cells import cell_len

from reporter.alerts import Alert, Unexplained
from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from reporter.digest import FindingsReport, build
from reporter.format import Templates, alert_format, digest_format
from reporter.format.table import TableFormat
from reporter.format.text import wrap
from tests.fakes import NOW, finding, full_digest, history, hostile, run

WIDE = "界" * 120  # two columns a character


def test_one_item_per_sample_with_a_line_per_platform() -> None:
    text = digest_format("text", Templates()).digest(full_digest())
    failures = text.split("REAL FAILURES (fix these first)\n", 1)[1].split("\n\n", 1)[0]
    assert failures.count("broken.ts") == 1
    assert failures.splitlines()[:2] == [
        "  * broken.ts (#7)  https://sp.example/sample/7",
        "    linux    ....xxxxxx  6/10 failed, since run 30 (a1b2c3d) NEW",
    ]
    assert "    windows  ....xxxxxx  6/10 failed, since run 30 (a1b2c3d) NEW" in failures
    assert "  * fixed.ts (#10) linux" in text  # recovered, one line a sample too


@pytest.mark.parametrize("name", ["sample.ts", "n" * 5000, WIDE, "a b " * 400])
def test_text_lines_are_at_most_100_columns(name: str) -> None:
    digest = full_digest()
    long = replace(
        digest.failing[0].finding, sample_name=name, error_types=tuple(f"type_{n}" for n in range(40))
    )
    digest = replace(digest, failing=(replace(digest.failing[0], finding=long), *digest.failing[1:]))
    text = digest_format("text", Templates()).digest(digest)
    assert max(cell_len(line) for line in text.splitlines()) <= 100
    assert "type_39" in text and "https://sp.example/sample/7" in text  # wrapped, not lost
    alert = Alert(run(5, "c" * 40, {7}), (Unexplained(7, name, ("exit_code_mismatch",) * 30),))
    assert (
        max(cell_len(line) for line in alert_format("text", Templates()).alert(alert, "x").splitlines())
        <= 100
    )


def test_wrapping_breaks_at_spaces_and_indents_the_rest() -> None:
    words = "  * " + " ".join(f"word{n}" for n in range(40))
    lines = wrap(words, 60)
    assert all(len(line) <= 60 for line in lines) and lines[1].startswith("      word")
    assert " ".join(line.strip() for line in lines) == words.strip()  # no word cut


def test_the_first_digest_lists_regressions_fixed_within_the_window() -> None:
    result = analyse(history("xxxxxx...................."), AnalysisSettings())
    assert [f.classification for f in result.findings] == ["fixed"]

    def digest(previous: tuple[str, str] | None) -> str:
        made = build(
            result, period="2026-11-20", generated_at=NOW, window_days=30, web_url="https://sp.example",
            previous=previous,
        )  # fmt: skip
        return digest_format("text", Templates()).digest(made)

    assert "RECOVERED\n  * sample.ts (#99) linux\n" in digest(None)
    assert "RECOVERED" not in digest(("2026-11-19", '{"findings": {}, "counts": {}}'))  # said before


def test_every_time_is_in_the_configured_zone() -> None:
    kolkata = full_digest("Asia/Kolkata")
    html = digest_format("html", Templates()).digest(kolkata)
    assert "2026-11-19 12:00 IST" in html and "made 2026-11-20 12:30 IST" in html  # 06:30 and 07:00 UTC
    assert "UTC" not in html.split("<body>", 1)[1].replace("Asia/Kolkata", "")
    assert "(`a1b2c3d`, 2026-11-19)" in digest_format("markdown", Templates()).digest(kolkata)
    angeles = digest_format("html", Templates()).digest(full_digest("America/Los_Angeles"))
    days = re.findall(r'<tr class="days">.*?</tr>', angeles)[0]
    assert re.findall(r'title="(Nov \d\d): ', days) == [
        "Nov 17",
        "Nov 18",
        "Nov 19",
    ]  # 00:00 UTC: the day before


def table(findings: list[object], **terminal: object) -> str:
    return TableFormat(**terminal).findings(FindingsReport(findings, NOW, 30, "https://sp.example"))  # type: ignore[arg-type]


def test_the_table_on_a_terminal_fits_its_width_and_cuts_names_with_an_ellipsis() -> None:
    rows = [
        finding(7, "a-very-long-sample-name " * 8, "windows", "flaky", "..x..x.x"),
        finding(8, WIDE, "linux", "failing", "xx"),
    ]
    for width in (120, 80, 60):
        out = table(rows, width=width, terminal=True)
        lines = out.splitlines()
        assert len(lines) == 4 and all(cell_len(line) <= width for line in lines)  # a line a finding
        assert "…" in lines[2] and " 7 " in lines[2] and "windows" in lines[2]
    assert "history" in table(rows, width=120, terminal=True) and "history" not in table(
        rows, width=60, terminal=True
    )


def test_the_table_off_a_terminal_is_a_plain_line_per_finding() -> None:
    rows = [
        finding(7, "a-very-long-sample-name " * 8, "windows", "flaky", "..x..x.x"),
        finding(8, "b.ts", "linux", "failing", "xx"),
    ]
    lines = table(rows, width=80).splitlines()
    assert lines[0].split() == [
        "sample",
        "id",
        "platform",
        "class",
        "score",
        "fail/runs",
        "same-commit",
        "history",
    ]
    assert len(lines) == 4 and lines[2].startswith("a-very-long-sample-name " * 7 + "a-very-long-sample-name")
    assert re.split(r"\s{2,}", lines[3]) == ["b.ts", "8", "linux", "failing", "12.5", "2/2", "0", "xx"]
    assert "…" not in "".join(lines)


def test_hostile_findings_keep_the_table_one_line_a_finding() -> None:
    rows = [hostile(finding(7, "x", "linux", "flaky", "..x"), "line\nbreak\x1b[2J " * 50)]
    for terminal in (True, False):
        assert len(table(rows, width=80, terminal=terminal).splitlines()) == 3
