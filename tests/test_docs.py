"""The documentation stays true: the example config, the CLI reference, every documented invocation.

docs/cli.md holds each command's ``--help`` as the program prints it; after changing a command,
rewrite it with ``uv run python -m tests.test_docs``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel

from reporter.cli import cli
from reporter.config import Settings, load_settings
from tests.fakes import ROOT, uncommented

REFERENCE = ROOT / "docs" / "cli.md"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMANDS: Mapping[str, click.Command] = cli.commands


def keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        found.add(prefix + name)
        for candidate in getattr(field.annotation, "__args__", (field.annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found |= keys(candidate, f"{prefix}{name}.")
    return found


def flatten(data: dict[str, object], prefix: str = "") -> set[str]:
    found = set()
    for name, value in data.items():
        found.add(prefix + name)
        if isinstance(value, dict):
            found |= flatten(value, f"{prefix}{name}.")
    return found


def test_example_config_documents_every_key() -> None:
    documented = flatten(yaml.safe_load(uncommented((ROOT / "config.example.yaml").read_text())))
    assert keys(Settings) == documented


def test_example_config_is_valid(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.example.yaml", {"SAMPLE_PLATFORM_TOKEN": "x"})
    assert settings.platform.base_url == "https://sampleplatform.ccextractor.org/api/v1"


# -- the CLI reference ----------------------------------------------------------------------------
def help_text(name: str) -> str:
    """What ``reporter [name] --help`` prints, at a fixed width of 100 columns."""
    root = click.Context(cli, info_name="reporter", terminal_width=100, **cli.context_settings)
    if not name:
        return cli.get_help(root)
    command = COMMANDS[name]
    return command.get_help(click.Context(command, info_name=name, parent=root))


def reference() -> str:
    parts = [
        "# Command-line reference\n\n"
        "Every command's `--help`, as the program prints it (a test keeps this page equal to it;\n"
        "`uv run python -m tests.test_docs` rewrites it).\n"
    ]
    for name in ["", *COMMANDS]:
        parts.append(f"\n## reporter {name}".rstrip() + f"\n\n```text\n{help_text(name)}\n```\n")
    return "".join(parts)


def documented_help(name: str) -> str | None:
    heading = f"## reporter {name}".rstrip()
    found = re.search(rf"^{re.escape(heading)}\n\n```text\n(.*?)\n```$", REFERENCE.read_text(), re.M | re.S)
    return found.group(1) if found else None


@pytest.mark.parametrize("name", ["", *COMMANDS])
def test_cli_reference_is_the_help_of_each_command(name: str) -> None:
    assert documented_help(name) == help_text(name), (
        f"docs/cli.md: `reporter {name} --help` changed; run `uv run python -m tests.test_docs`"
    )


def test_cli_reference_has_no_section_for_a_command_that_is_gone() -> None:
    headings = re.findall(r"^## reporter ?(.*)$", REFERENCE.read_text(), re.M)
    assert headings == ["", *COMMANDS]


# -- documented invocations ----------------------------------------------------------------------
@pytest.fixture
def parse(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Parse a documented command line with the real CLI, running nothing; returns (command, params)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(cli, "callback", lambda **params: None)
    for name, command in COMMANDS.items():
        monkeypatch.setattr(command, "callback", lambda name=name, **params: seen.append((name, params)))

    def run(line: str) -> tuple[str, dict[str, Any]]:
        words = shlex.split(line, comments=True)
        words = words[next(i for i, w in enumerate(words) if w.endswith("reporter")) + 1 :]
        words = words[: next((i for i, w in enumerate(words) if w in (">>", ">", "|", "2>&1")), None)]
        seen.clear()
        cli.main(args=words, prog_name="reporter", standalone_mode=False)
        assert len(seen) == 1, line
        return seen[0]

    return run


def invocations(text: str) -> list[str]:
    """Command lines in code: inline `reporter ...` spans and lines of code blocks that run reporter."""
    found = re.findall(r"`((?:uv run )?reporter(?: [^`]*)?)`", text)
    for block in re.findall(r"```(?:sh|text|ini|dockerfile|cron)?\n(.*?)```", text, re.S):
        found += [line for line in block.splitlines() if re.search(r"(^|[\s/])reporter (-|[a-z])", line)]
    return [line for line in found if not line.strip().startswith(("#", "docker", "RUN", "Usage:"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_documented_invocation_parses(document: Path, parse: Any) -> None:
    lines = [line for line in invocations(document.read_text()) if line.split()[-1] != "reporter"]
    for line in lines:
        if re.fullmatch(r"(uv run )?reporter( --\S+)*", line):
            continue  # a bare `reporter` or its global options, named in prose
        try:
            parse(line)
        except click.ClickException as exc:
            pytest.fail(f"{document.name}: `{line}` does not parse: {exc.format_message()}")


def test_every_command_help_has_examples_that_parse(parse: Any) -> None:
    for name in ["", *COMMANDS]:
        text = help_text(name)
        examples = text.split("Example", 1)[1].splitlines()[1:] if "Example" in text else []
        runs = [line for line in examples if re.search(r"(^|\s)reporter ", line)]
        assert runs, f"`reporter {name} --help` shows no example command"
        commands = [parse(line)[0] for line in runs]  # each parses: options and values exist
        assert not name or name in commands, f"`reporter {name} --help`: no example runs it"


def test_readme_command_table_is_the_command_list_with_real_options() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| command | what it does |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `reporter ([a-z-]+)` \| (.*) \|$", table, re.M)
    assert sorted(name for name, _ in rows) == sorted(COMMANDS)
    for name, text in rows:
        known = {o for p in COMMANDS[name].params for o in p.opts}
        for option in re.findall(r"(--[a-z-]+)", text):
            assert option in known, f"README says `reporter {name}` takes {option}; it does not"


def test_readme_exit_codes_are_those_of_the_error_tree() -> None:
    from reporter import errors

    tree = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ReporterError)]
    section = (ROOT / "README.md").read_text().split("### Exit codes", 1)[1].split("\n#", 1)[0]
    assert {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.M)} == {0} | {
        c.exit_code for c in tree
    }


def test_readme_module_map_is_the_package_tree() -> None:
    readme = (ROOT / "README.md").read_text()
    tree = readme.split("```text\nreporter/\n", 1)[1].split("```", 1)[0]
    mapped = set(re.findall(r"(?:^|\s)([a-z_]+\.py|[a-z_]+/)(?=\s|$)", tree, re.M))
    package = ROOT / "reporter"
    real = {p.name for p in package.rglob("*.py") if not p.name.startswith("__")}
    real |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    real.add("templates/")
    assert mapped == real


def write() -> None:
    REFERENCE.write_text(reference())


if __name__ == "__main__":
    write()
