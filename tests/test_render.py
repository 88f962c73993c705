"""Templates render every section, escape platform text per output, and can be overridden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from reporter.digest import FindingsReport
from reporter.errors import RenderError
from reporter.format import Templates, digest_format
from reporter.format.json import JsonFormat
from reporter.format.templates import escape_mrkdwn
from tests.fakes import EVIL, NOW, digest_named, history


def test_mrkdwn_escapes_only_the_three_control_characters() -> None:
    assert escape_mrkdwn("a & <b> *c* _d_") == "a &amp; &lt;b&gt; *c* _d_"
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


def test_mrkdwn_digest_never_pings_or_links_from_sample_names() -> None:
    text = digest_format("mrkdwn", Templates()).digest(digest_named(EVIL))
    assert "<!channel>" not in text and "<https://evil.example|click>" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert "<https://sp.example/sample/99|" in text


def test_html_digest_autoescapes() -> None:
    html = digest_format("html", Templates()).digest(digest_named(EVIL))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://sp.example/sample/99"' in html


def test_text_digest_has_sections_and_legend() -> None:
    text = digest_format("text", Templates()).digest(digest_named("sample.ts"))
    assert "NEW FLAKY\n  * sample.ts (#99)  https://sp.example/sample/99\n" in text
    assert "    linux    ..x....x.....x..x....  4/21 failed, score " in text
    assert "Legend: history oldest to newest, x = failed, . = passed" in text


def test_all_clear_digest_is_short() -> None:
    text = digest_format("text", Templates()).digest(digest_named("ok.ts", ".........."))
    assert "All clear" in text and len(text.splitlines()) < 10


def test_user_templates_override_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("custom {{ d.period }}: {{ d.trend.flaky[1] }} flaky\n")
    assert (
        digest_format("text", Templates(tmp_path)).digest(digest_named("x.ts"))
        == "custom 2026-11-20: 1 flaky\n"
    )
    assert "<html" in digest_format("html", Templates(tmp_path)).digest(digest_named("x.ts"))  # falls back


def test_broken_user_template_is_named(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("{{ d.nope }}\n")
    with pytest.raises(RenderError, match=r"digest.txt.j2:.*template error"):
        digest_format("text", Templates(tmp_path)).digest(digest_named("x.ts"))


def test_findings_json_schema() -> None:
    result = analyse(history("..x....x.....x..x...."), AnalysisSettings())
    body = json.loads(JsonFormat().findings(FindingsReport(result.findings, NOW, 30, "https://sp.example")))
    assert body["schema_version"] == 2 and body["clusters"] == []
    finding = body["findings"][0]
    for key in (
        "sample_id",
        "sample_name",
        "platform",
        "classification",
        "score",
        "confidence",
        "runs",
        "failures",
        "flips",
        "same_commit_disagreements",
        "first_failure",
        "last_failure",
        "error_types",
        "regression_ids",
        "history",
        "links",
        "evidence",
        "cluster",
        "independent_failures",
        "noise_failures",
        "earlier_flaky",
    ):
        assert key in finding
    assert finding["first_failure"]["url"] == "https://sp.example/test/3"
    assert finding["links"]["sample"] == "https://sp.example/sample/99"
