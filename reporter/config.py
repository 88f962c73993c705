"""Load, interpolate and validate the YAML configuration into frozen settings.

Every problem in a file is collected and reported at once, each as one line
naming the file, the key path and the line, in plain words, never showing a
value. Secrets come from environment variables through ``${VAR}`` or
``${VAR:-default}`` (a variable that is empty counts as unset) and are held as
``SecretStr`` so they never print.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from reporter import config_checks
from reporter.config_messages import explain
from reporter.config_source import Source, read_source
from reporter.errors import ConfigError

logger = logging.getLogger(__name__)
PRODUCTION_URL = "https://sampleplatform.ccextractor.org/api/v1"
TOKEN_VARIABLE = "SAMPLE_PLATFORM_TOKEN"  # noqa: S105 - a variable name, not a secret

Platform = Literal["linux", "windows"]
TestType = Literal["commit", "pr"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        items = value if isinstance(value, tuple) else (value,)
        if any("\0" in str(item) for item in items if isinstance(item, str | Path)):
            raise ValueError("must not contain a NUL character (\\0)")
        return value


def _single_word(value: SecretStr | None) -> SecretStr | None:
    """A token is one word: a line break or space in it is a pasting or secret-file mistake."""
    text = value.get_secret_value() if value is not None else ""
    if text[-1:] in ("\n", "\r"):
        raise ValueError(
            "ends with a line break, usually left by a secret file saved with a final newline; "
            "remove the newline from the file or the variable"
        )
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError("contains a space or a control character; a token is one word: copy it again")
    return value


def _http_url(value: str) -> str:
    """An http(s) URL without spaces, without a trailing slash."""
    if not re.fullmatch(r"https?://[^/\s]+\S*", value):
        raise ValueError("must be an http:// or https:// URL without spaces")
    return value.rstrip("/")


class PlatformSettings(_Section):
    base_url: str = PRODUCTION_URL
    web_url: str = "https://sampleplatform.ccextractor.org"
    token: SecretStr
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    request_deadline: float = Field(60.0, gt=0)
    concurrency: int = Field(8, ge=1, le=32)
    max_attempts: int = Field(6, ge=1, le=20)
    max_retry_seconds: float = Field(300.0, gt=0)
    max_retry_after: float = Field(120.0, gt=0)
    verify_tls: bool = True
    ca_bundle: Path | None = None

    @field_validator("base_url", "web_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        _single_word(value)
        return value


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
    page_size: int = Field(10, ge=1, le=100)
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
    # no successful poll for this long makes the reporter blind; None: 2 x the poll interval + 1 h
    max_data_age_minutes: float | None = Field(None, gt=0)

    @property
    def max_data_age(self) -> timedelta:
        """How long without a successful poll before every report says the reporter is blind."""
        if self.max_data_age_minutes is not None:
            return timedelta(minutes=self.max_data_age_minutes)
        return timedelta(minutes=2 * self.poll_interval_minutes + 60)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown IANA time zone; write one such as UTC or Europe/Berlin") from exc
        return value

    @field_validator("digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            detail = "a field is out of range or not understood" if "'" in str(exc) else str(exc)
            raise ValueError(
                f"invalid cron expression ({detail}); write five fields: minute hour day month weekday, "
                'such as "0 7 * * *"'
            ) from exc
        return value


class StdoutChannel(_Section):
    format: Literal["text", "markdown", "mrkdwn"] = "text"


class FileChannel(_Section):
    path: Path
    format: Literal["text", "markdown", "mrkdwn", "html"] = "text"


class SlackChannel(_Section):
    token: SecretStr | None = None
    channel: str | None = None
    webhook_url: SecretStr | None = None
    api_url: str = "https://slack.com/api/"

    @field_validator("token", "webhook_url")
    @classmethod
    def _one_word(cls, value: SecretStr | None) -> SecretStr | None:
        return _single_word(value)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value) + "/"  # Slack's client joins method names onto it

    def model_post_init(self, __context: Any) -> None:
        if self.webhook_url is None and (self.token is None or not self.channel):
            raise ValueError(
                "needs a bot token and a channel, or a webhook_url; "
                "set them, or comment out the slack channel"
            )


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

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(not c.isprintable() for c in value.get_secret_value()):
            raise ValueError(
                "contains a line break or control character, often left by a secret file saved "
                "with a final newline; remove it"
            )
        return value


class GithubChannel(_Section):
    """Pull-request triage comments and issues for flaky samples on one GitHub repository (opt-in)."""

    token: SecretStr | None = None
    repository: str
    api_url: str = "https://api.github.com"
    pr_comments: bool = False
    issues: bool = False
    labels: tuple[str, ...] = Field(("flaky-sample",), min_length=1)
    issues_per_day: int = Field(3, ge=0, le=100)
    max_wait_seconds: float = Field(60.0, gt=0, le=900)

    @field_validator("repository")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", value):
            raise ValueError("must be owner/name, such as CCExtractor/ccextractor")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("token")
    @classmethod
    def _one_word(cls, value: SecretStr | None) -> SecretStr | None:
        return _single_word(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not label.strip() or len(label) > 50 or "," in label for label in value):
            raise ValueError("each label must be 1-50 characters without a comma")
        return value

    def model_post_init(self, __context: Any) -> None:
        if (self.pr_comments or self.issues) and not (self.token and self.token.get_secret_value()):
            raise ValueError(
                "pr_comments or issues is on but the token is empty; export GITHUB_TOKEN (or turn both off)"
            )


class ChannelSettings(_Section):
    stdout: StdoutChannel | None = None
    file: FileChannel | None = None
    slack: SlackChannel | None = None
    email: EmailChannel | None = None
    github: GithubChannel | None = None


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


@dataclass(frozen=True)
class LoadedConfig:
    """Valid settings and the warnings about them (unsafe or bound-to-fail settings)."""

    settings: Settings
    warnings: tuple[str, ...]


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` and return validated settings, or raise one ConfigError listing every problem.

    Warnings (a token sent in clear text, a channel that cannot deliver) are logged.
    """
    loaded = load_config(path, environ)
    for warning in loaded.warnings:
        logger.warning("%s", warning)
    return loaded.settings


def load_config(path: Path, environ: Mapping[str, str] | None = None, *, probe: bool = False) -> LoadedConfig:
    """Settings and warnings; with ``probe`` also check, without creating it, that the state opens."""
    token = {("platform", "token"): "${" + TOKEN_VARIABLE + "}"}
    data, source, problems = read_source(path, os.environ if environ is None else environ, token)
    settings = _validate(data, source, problems)
    if problems or settings is None:
        raise ConfigError("\n".join(sorted(problems, key=lambda line: _line_number(line, path))))
    settings = _resolve_paths(settings, path.parent)
    check = config_checks.state_problem if probe else config_checks.state_directory_problem
    problem = check(settings, source)
    if problem:
        raise ConfigError(problem)
    warnings = config_checks.warnings(settings, source)
    if probe:
        warnings += filter(None, [config_checks.file_channel_problem(settings, source)])
    return LoadedConfig(settings, tuple(warnings))


def settings_from_mapping(data: dict[str, Any], base: Path) -> Settings:
    """Validate an in-memory mapping (used by ``demo`` and tests)."""
    problems: list[str] = []
    settings = _validate(data, Source(Path("<built-in>")), problems)
    if problems or settings is None:
        raise ConfigError("\n".join(problems))
    return _resolve_paths(settings, base)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets shown as ``**********``."""
    return settings.model_dump(mode="json", exclude_none=False)


def _validate(data: dict[str, Any], source: Source, problems: list[str]) -> Settings | None:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            line = explain(error, source, Settings)
            if line not in problems and not source.reported(tuple(str(p) for p in error["loc"])):
                problems.append(line)
        return None


def _line_number(problem: str, path: Path) -> int:
    found = re.match(re.escape(str(path)) + r":(\d+):", problem)
    return int(found.group(1)) if found else 0


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
