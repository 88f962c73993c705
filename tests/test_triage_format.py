"""The triage as text, GitHub Markdown and JSON; hostile sample names stay inert on GitHub."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from markdown_it import MarkdownIt

from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from reporter.format import Templates, triage_format
from reporter.format.gfm import code
from reporter.format.github import BODY_LIMIT, GithubFormat
from reporter.history import History
from reporter.triage import triage
from reporter.triage_report import Triage, Verdict
from tests.fakes import EVIL, run
from tests.test_triage import SAMPLE, pull

WEB = "https://sp.example"
HOSTILE = [
    EVIL,
    "@ccextractor/maintainers please look",
    "see #1 and GH-2 and org/repo#3",
    "[click](https://evil.example) ![x](https://evil.example/x.png)",
    "<img src=x onerror=alert(1)> <details open>",
    "www.evil.example and https://evil.example/path",
    "```\ncode block\n```",
    "a`b``c```d",
    "`",
    "line\nbreak\r\n\n| x | y |\n",
    "\u202eevil\u202c \u200b zero width",
    "<!-- reporter:pr-triage pr=1 version=999999.1 -->",
    "*bold* _em_ ~~del~~ \\`",
    "x" * 5000,
]
ALLOWED_HTML = {
    "<details><summary>Evidence</summary>",
    "<details><summary>Failing runs</summary>",
    "<details><summary>Runs where two or more of them failed</summary>",
    "</details>",
    "<sub>",
    "</sub>",
}


def made(names: dict[int, str], window: int = 30) -> Triage:
    """A pull request whose linux run 40 fails every named sample; sample 5 is flaky on master."""
    tested = {*names, 5}
    runs = [
        run(i + 1, f"{i + 1:040x}", {5} if c == "x" else set(), tested=tested)
        for i, c in enumerate("..x...x....x..x...x..")
    ]
    runs += [pull(40, set(names)), pull(41, set(), platform="windows")]
    history = History(tuple(sorted(runs, key=lambda r: r.run_id)), names)
    settings = AnalysisSettings()
    chosen = [r for r in history.runs if r.run_id in (40, 41)]
    judged = triage(history, analyse(history, settings), chosen, settings)
    return Triage(datetime(2026, 11, 20, 7, tzinfo=UTC), judged, WEB, window)


def inline_tokens(markdown: str) -> list[tuple[str, str, dict[str, object]]]:
    parser = MarkdownIt("commonmark").enable("table")
    found: list[tuple[str, str, dict[str, object]]] = []
    for block in parser.parse(markdown):
        if block.type == "html_block":
            found.append(("html_block", block.content.strip(), {}))
        for child in block.children or []:
            found.append((child.type, child.content, dict(child.attrs)))
    return found


def assert_inert(markdown: str) -> None:
    """Only our links and our few HTML tags; no mention, reference or bare URL outside code."""
    for kind, content, attrs in inline_tokens(markdown):
        if kind == "link_open":
            assert str(attrs["href"]).startswith(WEB + "/"), attrs
        elif kind in ("html_inline", "html_block"):
            lines = [line for line in content.splitlines() if line]
            assert all(line in ALLOWED_HTML or line.startswith("<!-- reporter:") for line in lines), content
        elif kind == "image":
            pytest.fail(f"an image: {content}")
        elif kind == "text":
            for danger in ("@", "http", "www.", "<", "#1", "GH-"):
                assert danger not in content, (danger, content)


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_sample_name_stays_inert_in_the_comment(name: str) -> None:
    names = {SAMPLE: name, 5: "flaky.ts"}
    payload = json.loads(GithubFormat(Templates()).comment(made(names), 7, "CCExtractor/ccextractor"))
    body = payload["body"]
    assert body.splitlines()[0] == "<!-- reporter:pr-triage pr=7 version=41.1,40.1 -->"
    assert "999999" not in body.splitlines()[0]
    assert_inert(body)
    rows = [line for line in body.splitlines() if line.startswith("| [")]
    assert len(rows) == 2  # one row per failing sample: no name split or added a row
    assert all(line.count(" | ") == 3 for line in rows)


def test_code_spans_show_the_name_and_nothing_else() -> None:
    parser = MarkdownIt("commonmark").enable("table")
    for name in HOSTILE:
        cells = [t for t in parser.parse(f"| a |\n| --- |\n| {code(name)} |\n") if t.type == "inline"]
        tokens = cells[-1].children or []
        assert [t.type for t in tokens] == ["code_inline"], name
        shown = " ".join("".join(c if c.isprintable() else " " for c in name).split())
        assert tokens[0].content == (shown if len(shown) <= 120 else shown[:119] + "…")


def test_the_comment_has_a_table_and_collapsed_evidence_with_links() -> None:
    body = GithubFormat(Templates()).triage(made({SAMPLE: "new.ts", 5: "flaky.ts"}))
    assert "| [`new.ts`](https://sp.example/sample/99) | `linux` | 🆕 **new** |" in body
    assert "| [`flaky.ts`](https://sp.example/sample/5) | `linux` | 🎲 known flaky | flaky here: " in body
    assert "<details><summary>Evidence</summary>" in body
    assert (
        "[Run 41](https://sp.example/test/41) on `windows` at aaaaaaa (pull request #7): every sample passed"
        in body
    )
    assert body.index("new.ts") < body.index("flaky.ts")  # new failures first


def test_a_huge_triage_fits_a_comment_and_says_how_many_are_left_out() -> None:
    names = {sample: f"sample-{sample:04d}-{'y' * 100}.ts" for sample in range(1000, 3000)}
    body = json.loads(GithubFormat(Templates()).comment(made(names), 7, "o/r"))["body"]
    assert len(body) <= BODY_LIMIT
    assert "more failing samples: `reporter triage 40 41` lists them all." in body


def test_a_payload_for_green_runs_only_updates_an_existing_comment() -> None:
    payload = json.loads(GithubFormat(Templates()).comment(made({}), 7, "o/r"))
    assert payload["create"] is False and payload["version"] == [[41, 1], [40, 1]]
    assert "every sample passed" in payload["body"]


def test_json_follows_the_documented_schema() -> None:
    data = json.loads(triage_format("json", Templates()).triage(made({SAMPLE: EVIL, 5: "flaky.ts"})))
    assert data["schema_version"] == 1 and data["window_days"] == 30
    first = data["runs"][0]
    assert {"run_id", "pr_number", "platform", "commit_sha", "verdicts"} <= first.keys()
    assert (first["run_id"], first["pr_number"], first["platform"]) == (40, 7, "linux")
    verdicts = {v["sample_id"]: v for v in first["verdicts"]}
    assert verdicts[SAMPLE]["sample_name"] == EVIL  # JSON carries the name as the platform gave it
    assert verdicts[SAMPLE]["verdict"] == "new_failure"
    assert verdicts[5]["verdict"] == "known_flaky"
    assert verdicts[5]["evidence"]["last_failure"]["url"].startswith(WEB + "/test/")
    assert {v.value for v in Verdict} == set(first["counts"])
    assert data["runs"][1]["verdicts"] == []


def test_text_drops_control_characters() -> None:
    text = triage_format("text", Templates()).triage(made({SAMPLE: "a\x1b[31mred\x1b[0m\nb", 5: "f.ts"}))
    assert "\x1b" not in text
    assert "ared b (#99)" in text  # escape sequences dropped whole, the line break a space
    assert "Run 40, pull request #7, linux, commit aaaaaaa, fail: 2 failing: 1 new, 1 known flaky" in text
