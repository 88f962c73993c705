"""Every value a template shows is escaped for its output by the environment, whatever the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from reporter.alerts import Alert, Unexplained
from reporter.format import Templates, alert_format, digest_format
from reporter.format.slack import SlackFormat
from reporter.format.templates import escape_mrkdwn
from tests.fakes import HOSTILE, full_digest, hostile, run

DIGEST = hostile(full_digest())
ALERT = hostile(Alert(run(5, "c" * 40, {7}, pr=None), (Unexplained(7, "x", ("exit_code_mismatch",)),)))
OUR_LINK = re.compile(r"<https://sp\.example/(?:sample|test)/[^<>|]*\|")


def strings(value: Any) -> list[str]:
    """Every string in a parsed JSON payload."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def assert_inert_mrkdwn(text: str) -> None:
    """Slack acts on nothing from the platform: every ``<`` opens one of our own links."""
    assert "<!" not in text and "<@" not in text and "<https://evil" not in text and "<script" not in text
    assert re.sub(OUR_LINK, "", text).count("<") == 0
    assert "&lt;!channel&gt;" in text and "&lt;https://evil.example|err&gt;" in text
    assert "&amp;lt;" not in text  # escaped once, never twice
    assert "&#34;" not in text and "&#39;" not in text and '"quoted"' in text  # quotes read as quotes


def slack_texts(payload: str) -> list[str]:
    message = json.loads(payload)
    return [message["text"], *strings(message["blocks"]), *strings(message["thread"])]


def test_every_field_of_the_slack_digest_is_escaped() -> None:
    texts = slack_texts(digest_format("slack", Templates()).digest(DIGEST))
    every = "\n".join(texts)
    assert_inert_mrkdwn(every)
    for text in texts:  # each string on its own: no field is let through
        assert re.sub(OUR_LINK, "", text).count("<") == 0
    assert every.count("&lt;!channel&gt;") >= 10  # names, platforms, types, ids, PR numbers, ...


def test_every_field_of_the_mrkdwn_digest_and_alerts_is_escaped() -> None:
    assert_inert_mrkdwn(digest_format("mrkdwn", Templates()).digest(DIGEST))
    assert_inert_mrkdwn(alert_format("mrkdwn", Templates()).alert(ALERT, "https://sp.example"))
    assert_inert_mrkdwn(
        "\n".join(slack_texts(alert_format("slack", Templates()).alert(ALERT, "https://sp.example")))
    )


def test_a_user_chat_template_is_escaped_without_asking(tmp_path: Path) -> None:
    (tmp_path / "slack.blocks.j2").write_text(
        '{"type": "section", "text": {"type": "mrkdwn", "text": {{ d.new_flaky[0].finding.sample_name | tojson }}}}\n'
        '{"type": "section", "text": {"type": "mrkdwn", "text": "{{ d.period }} by hand"}}\n'
        '{"type": "section", "text": {"type": "mrkdwn", "text": {{ ("*" ~ d.period ~ "*") | tojson }}}}\n'
        '{"type": "section", "text": {"type": "mrkdwn", "text": {{ {"k": d.period} | tojson | tojson }}}}\n'
    )
    (tmp_path / "slack.text.j2").write_text("{{ d.period }} {{ d.error_types | list | join(' ') }}")
    text, blocks = SlackFormat(Templates(tmp_path)).blocks(DIGEST)
    for value in [text, *(b["text"]["text"] for b in blocks)]:
        assert "<!channel>" not in value and "&lt;!channel&gt;" in value and "&amp;lt;" not in value
    assert blocks[1]["text"]["text"] == escape_mrkdwn(HOSTILE) + " by hand"  # quotes read as quotes


def test_trusted_template_text_and_safe_are_not_escaped(tmp_path: Path) -> None:
    (tmp_path / "digest.mrkdwn.j2").write_text(
        "<!here> from the template {{ '<!channel>' | safe }} {{ d.period }} {% set x %}<{{ d.period }}>{% endset %}{{ x }}"
    )
    text = digest_format("mrkdwn", Templates(tmp_path)).digest(DIGEST)
    assert text.startswith("<!here> from the template <!channel> &lt;!channel&gt;")
    assert text.endswith(f"<{escape_mrkdwn(HOSTILE)}>")


def test_markdown_shows_platform_text_as_text() -> None:
    page = digest_format("markdown", Templates()).digest(DIGEST)
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(page)
    assert "<script" not in rendered and "<!channel>" not in rendered
    assert 'href="https://evil.example' not in rendered  # no link from a name
    assert "<em>it</em>" not in rendered and "<strong>bold</strong>" not in rendered
    assert "<s>gone</s>" not in rendered and "<code>code</code>" not in rendered
    assert (
        "&lt;!channel&gt;" in rendered and "*bold*" in rendered and "[link](https://evil.example)" in rendered
    )
    alert = alert_format("markdown", Templates()).alert(ALERT, "https://sp.example")
    assert "<script" not in MarkdownIt("commonmark").render(alert)


def test_markdown_is_real_markdown() -> None:
    page = digest_format("markdown", Templates()).digest(full_digest())
    html = MarkdownIt("commonmark").enable("table").render(page)
    assert "<h1>Sample Platform flakiness digest, 2026-11-20</h1>" in html
    assert "<h2>Real failures (fix these first)</h2>" in html
    assert '<a href="https://sp.example/sample/7">broken.ts</a>' in html  # our own links are links
    assert "<table>" in html and "<td>exit_code_mismatch</td>" in html
    assert "<!channel>" not in page and "<https://" not in page  # no Slack link syntax


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_html_and_text_carry_the_hostile_digest_as_data(fmt: str) -> None:
    page = digest_format(fmt, Templates()).digest(DIGEST)
    if fmt == "html":
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'href="https://evil' not in page
    else:
        assert "<script>alert(1)</script>" in page  # plain text: nothing to escape, nothing acts on it
