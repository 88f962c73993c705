"""The documentation stays true: the example config loads and documents every key."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel

from reporter.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


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


def uncommented(text: str) -> str:
    """The example with its commented-out channels switched on, as its comment tells a user to."""
    return re.sub(r"(?m)^  # ( *[a-z_]+:.*)$", r"  \1", text)


def test_example_config_documents_every_key() -> None:
    documented = flatten(yaml.safe_load(uncommented((ROOT / "config.example.yaml").read_text())))
    assert keys(Settings) == documented


def test_example_config_is_valid(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.example.yaml", {"SAMPLE_PLATFORM_TOKEN": "x"})
    assert settings.platform.base_url == "https://sampleplatform.ccextractor.org/api/v1"


def test_readme_lists_every_command() -> None:
    from reporter.cli import cli

    readme = (ROOT / "README.md").read_text()
    for name in cli.commands:  # type: ignore[attr-defined]
        assert f"reporter {name}" in readme or f"`{name}`" in readme, name
