"""Load, interpolate and validate the YAML configuration into frozen settings.

Every problem in a file is collected and reported at once, each as one line
naming the file, the key path and (where YAML knows it) the line. Secrets come
from environment variables through ``${VAR}`` or ``${VAR:-default}`` and are
held as ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from reporter.errors import ConfigError

PRODUCTION_URL = "https://sampleplatform.ccextractor.org/api/v1"
TOKEN_VARIABLE = "SAMPLE_PLATFORM_TOKEN"  # noqa: S105 - a variable name, not a secret
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

Platform = Literal["linux", "windows"]
TestType = Literal["commit", "pr"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlatformSettings(_Section):
    base_url: str = PRODUCTION_URL
    web_url: str = "https://sampleplatform.ccextractor.org"
    token: SecretStr
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    concurrency: int = Field(8, ge=1, le=32)
    max_attempts: int = Field(6, ge=1, le=20)
    max_retry_seconds: float = Field(300.0, gt=0)
    max_retry_after: float = Field(120.0, gt=0)
    verify_tls: bool = True
    ca_bundle: Path | None = None

    @field_validator("base_url", "web_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")


class FilterSettings(_Section):
    repository: str | None = None
    branches: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ("linux", "windows")
    test_types: tuple[TestType, ...] = ("commit", "pr")


class StateSettings(_Section):
    path: Path = Path("reporter.sqlite3")
    retention_days: int = Field(400, ge=1)


class IngestSettings(_Section):
    max_pending_age_hours: float = Field(48.0, gt=0)
    page_size: int = Field(25, ge=1, le=100)
    recheck_hours: float = Field(24.0, ge=0)
    recheck_interval_minutes: float = Field(60.0, gt=0)


class AnalysisSettings(_Section):
    window_days: int = Field(30, ge=1)
    min_runs: int = Field(4, ge=1)
    regression_min_streak: int = Field(3, ge=2)
    recovery_passes: int = Field(5, ge=1)
    flaky_min_failures: int = Field(2, ge=1)
    infra_min_fraction: float = Field(0.5, gt=0, le=1)
    infra_mad_factor: float = Field(6.0, gt=0)
    decay: float = Field(0.05, ge=0, lt=1)
    noise_alpha: float = Field(1e-3, gt=0, lt=1)
    tail_min_tests: int = Field(8, ge=2)
    category_min_samples: int = Field(2, ge=2)
    mass_min_samples: int = Field(10, ge=2)
    cluster_alpha: float = Field(0.01, gt=0, lt=1)


class ScheduleSettings(_Section):
    poll_interval_minutes: float = Field(10.0, gt=0)
    digest_cron: str = "0 7 * * *"
    timezone: str = "UTC"
    misfire_grace_hours: float = Field(6.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from exc
        return value


class StdoutChannel(_Section):
    format: Literal["text", "markdown"] = "text"


class FileChannel(_Section):
    path: Path
    format: Literal["text", "markdown", "html"] = "text"


class SlackChannel(_Section):
    token: SecretStr | None = None
    channel: str | None = None
    webhook_url: SecretStr | None = None
    api_url: str = "https://slack.com/api/"

    def model_post_init(self, __context: Any) -> None:
        if self.webhook_url is None and (self.token is None or not self.channel):
            raise ValueError("set either webhook_url, or token and channel")


class EmailChannel(_Section):
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: tuple[str, ...] = Field(min_length=1)
    timeout: float = Field(30.0, gt=0)
    ca_bundle: Path | None = None

    @field_validator("sender", "recipients", "host")
    @classmethod
    def _one_line(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for item in (value,) if isinstance(value, str) else value:
            if "\r" in item or "\n" in item:
                raise ValueError("must not contain line breaks")
        return value


class ChannelSettings(_Section):
    stdout: StdoutChannel | None = None
    file: FileChannel | None = None
    slack: SlackChannel | None = None
    email: EmailChannel | None = None


class AlertSettings(_Section):
    enabled: bool = False
    channels: tuple[Literal["stdout", "slack", "email"], ...] = ("slack",)
    refresh_minutes: float = Field(60.0, gt=0)


class TemplateSettings(_Section):
    directory: Path | None = None


class Settings(_Section):
    platform: PlatformSettings
    filters: FilterSettings = FilterSettings()
    state: StateSettings = StateSettings()
    ingest: IngestSettings = IngestSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    channels: ChannelSettings = ChannelSettings(stdout=StdoutChannel())
    alerts: AlertSettings = AlertSettings()
    templates: TemplateSettings = TemplateSettings()


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` and return validated settings, or raise one ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    raw, lines = _parse_yaml(path, text)
    raw.setdefault("platform", {})
    if isinstance(raw["platform"], dict):
        raw["platform"].setdefault("token", "${" + TOKEN_VARIABLE + "}")
    problems: list[str] = []
    data = _interpolate(raw, (), env, problems, path, lines)
    settings = _validate(data, path, lines, problems)
    if problems or settings is None:
        raise ConfigError("\n".join(problems))
    return _resolve_paths(settings, path.parent)


def settings_from_mapping(data: dict[str, Any], base: Path) -> Settings:
    """Validate an in-memory mapping (used by ``demo`` and tests)."""
    problems: list[str] = []
    settings = _validate(data, Path("<built-in>"), {}, problems)
    if problems or settings is None:
        raise ConfigError("\n".join(problems))
    return _resolve_paths(settings, base)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets shown as ``**********``."""
    return settings.model_dump(mode="json", exclude_none=False)


def _parse_yaml(path: Path, text: str) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from exc
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    return raw, dict(_key_lines(node, ()))


def _key_lines(node: yaml.Node | None, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], int]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            yield path, key.start_mark.line + 1
            yield from _key_lines(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, str(index))
            yield path, item.start_mark.line + 1
            yield from _key_lines(item, path)


def _where(path: Path, lines: Mapping[tuple[str, ...], int], loc: tuple[str, ...]) -> str:
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in lines:
            return f"{path}:{lines[loc[:cut]]}"
    return str(path)


def _interpolate(
    value: Any,
    loc: tuple[str, ...],
    env: Mapping[str, str],
    problems: list[str],
    path: Path,
    lines: Mapping[tuple[str, ...], int],
) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, str(k)), env, problems, path, lines) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, str(i)), env, problems, path, lines) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in env:
            return env[name]
        if default is not None:
            return default
        key = ".".join(loc)
        problems.append(
            f"{_where(path, lines, loc)}: {key}: environment variable {name} is not set; "
            f"export {name}=... or write ${{{name}:-default}}"
        )
        return ""

    return _VAR.sub(substitute, value)


def _validate(
    data: dict[str, Any], path: Path, lines: Mapping[tuple[str, ...], int], problems: list[str]
) -> Settings | None:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"])
            key = ".".join(loc) or "(top level)"
            message = _explain(error)
            line = f"{_where(path, lines, loc)}: {key}: {message}"
            if line not in problems:
                problems.append(line)
        return None


def _explain(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.example.yaml)"
    if kind == "missing":
        return "required key is missing"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return f"{error['msg']}{shown}"


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    state = settings.state.model_copy(update={"path": _under(base, settings.state.path)})
    channels = settings.channels
    if channels.file is not None:
        channels = channels.model_copy(
            update={"file": channels.file.model_copy(update={"path": _under(base, channels.file.path)})}
        )
    templates = settings.templates
    if templates.directory is not None:
        templates = templates.model_copy(update={"directory": _under(base, templates.directory)})
    return settings.model_copy(update={"state": state, "channels": channels, "templates": templates})


def _under(base: Path, path: Path) -> Path:
    expanded = path.expanduser()
    return expanded if expanded.is_absolute() else (base / expanded).resolve()
