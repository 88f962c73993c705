"""Checks beyond validation: a usable state path, and warnings about settings unsafe or bound to fail."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reporter.config_source import Loc, Source

if TYPE_CHECKING:
    from reporter.config import EmailChannel, Settings

SQLITE_HEADER = b"SQLite format 3\x00"
# Domains reserved for documentation (RFC 2606, RFC 6761): nothing there can receive or relay mail.
PLACEHOLDER_DOMAINS = ("example.org", "example.com", "example.net", "example", "invalid", "test")
STATE = ("state", "path")


def warnings(settings: Settings, source: Source) -> list[str]:
    """Settings that validate but send a secret in clear text or cannot deliver anything."""
    found = _clear_text(settings, source) + _channels(settings, source)
    templates, loc = settings.templates.directory, ("templates", "directory")
    if templates is not None and not _is_dir(templates):
        found.append(
            f"{source.at(loc)}: {_shown(templates, source, loc)} is not a directory, "
            "so the shipped templates are used"
        )
    return found


def state_directory_problem(settings: Settings, source: Source) -> str | None:
    """A directory given as the state file: every command would fail on it."""
    path = settings.state.path
    if not _is_dir(path):
        return None
    shown = _shown(path, source, STATE)
    return (
        f"{source.at(STATE)}: {shown} is a directory; state.path names the SQLite file itself, "
        "such as reporter.sqlite3 inside that directory"
    )


def state_problem(settings: Settings, source: Source) -> str | None:
    """Would the state file open for writing? Probes without creating or changing anything."""
    path, shown = settings.state.path, _shown(settings.state.path, source, STATE)
    directory_problem = state_directory_problem(settings, source)
    if directory_problem:
        return directory_problem
    problem = _existing_file_problem(path, shown) or _creation_problem(path.parent, shown)
    return f"{source.at(STATE)}: {problem}" if problem else None


def file_channel_problem(settings: Settings, source: Source) -> str | None:
    """The file channel's digest could not be written where configured."""
    channel = settings.channels.file
    if channel is None:
        return None
    loc = ("channels", "file", "path")
    shown = _shown(channel.path, source, loc)
    if _is_dir(channel.path):
        return f"{source.at(loc)}: {shown} is a directory; name the digest file itself, such as digest.html"
    problem = _creation_problem(channel.path.parent, shown)
    return f"{source.at(loc)}: {problem}" if problem else None


def _existing_file_problem(path: Path, shown: str) -> str | None:
    try:
        if not path.exists():
            return None
        if not path.is_file():
            return f"{shown} exists and is not a regular file; name a new file"
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            return (
                f"{shown} is not an SQLite database (another kind of file is there); "
                "name a new file, or move that one aside if it is not needed"
            )
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        return f"{shown} cannot be opened for reading and writing ({exc.strerror})"
    return None


def _creation_problem(directory: Path, shown: str) -> str | None:
    """Files must be creatable where ``directory`` is (or will be): the lock and SQLite's journal."""
    existing = directory
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            return f"{shown} cannot be created: {existing} is a file, not a directory"
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return (
            f"{shown} cannot be created: no file can be made in {existing} ({exc.strerror}); "
            "choose a directory this user can write to"
        )
    return None


def _clear_text(settings: Settings, source: Source) -> list[str]:
    found: list[str] = []
    if _plain_http(settings.platform.base_url):
        found.append(
            f"{source.at(('platform', 'base_url'))}: http:// to a host other than this machine sends the "
            "API token unencrypted; use https://"
        )
    slack = settings.channels.slack
    if slack is not None and slack.webhook_url is not None:
        if _plain_http(slack.webhook_url.get_secret_value()):
            found.append(
                f"{source.at(('channels', 'slack', 'webhook_url'))}: an http:// webhook to a host other "
                "than this machine travels unencrypted (the URL is a secret); use https://"
            )
    elif slack is not None and _plain_http(slack.api_url):
        found.append(
            f"{source.at(('channels', 'slack', 'api_url'))}: http:// to a host other than this machine "
            "sends the Slack bot token unencrypted; use https://"
        )
    github = settings.channels.github
    if github is not None and _plain_http(github.api_url):
        found.append(
            f"{source.at(('channels', 'github', 'api_url'))}: http:// to a host other than this machine "
            "sends the GitHub token unencrypted; use https://"
        )
    email = settings.channels.email
    if email is not None and email.security == "none" and email.password is not None:
        found.append(
            f"{source.at(('channels', 'email', 'security'))}: security: none sends the SMTP password "
            "unencrypted; use starttls (port 587) or tls (port 465)"
        )
    return found


def _channels(settings: Settings, source: Source) -> list[str]:
    channels = settings.channels
    found: list[str] = []
    configured = {name for name in type(channels).model_fields if getattr(channels, name) is not None}
    if not configured:
        found.append(
            f"{source.at(('channels',))}: no channel is configured, so digests go nowhere; "
            "enable stdout, file, slack or email"
        )
    if settings.alerts.enabled:
        for index, name in enumerate(settings.alerts.channels):
            if name not in configured:
                found.append(
                    f"{source.at(('alerts', 'channels', str(index)))}: {name} is not configured under "
                    "channels, so alerts meant for it go nowhere"
                )
    slack = channels.slack
    if slack is not None and slack.webhook_url is not None and slack.token is not None:
        found.append(
            f"{source.at(('channels', 'slack'))}: both webhook_url and token are set; the webhook is "
            "used and the token ignored: remove one"
        )
    if channels.email is not None:
        found += _email(channels.email, source)
    return found


def _email(email: EmailChannel, source: Source) -> list[str]:
    found: list[str] = []
    addresses: list[tuple[Loc, str]] = [(("channels", "email", "host"), email.host)]
    addresses.append((("channels", "email", "sender"), email.sender))
    addresses += [(("channels", "email", "recipients", str(i)), r) for i, r in enumerate(email.recipients)]
    for loc, value in addresses:
        if _placeholder(value):
            found.append(
                f"{source.at(loc)}: an example domain (reserved for documentation), where no mail "
                "can go: write your real one"
            )
    if email.username and email.password is None:
        found.append(
            f"{source.at(('channels', 'email', 'username'))}: a username without a password: the "
            "reporter will not log in, and most servers refuse mail then; set password (from "
            "${SMTP_PASSWORD}) or remove username"
        )
    return found


def _placeholder(address: str) -> bool:
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    return any(domain == d or domain.endswith("." + d) for d in PLACEHOLDER_DOMAINS)


def _plain_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _shown(path: Path, source: Source, loc: Loc) -> str:
    """The path, unless it came from a variable: then only the variable's name."""
    names = source.variables(loc)
    return f"the path from {', '.join('${' + n + '}' for n in names)}" if names else str(path)
