"""What a failed request to the platform means, in words that name the URL, the wait and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporter.config import PRODUCTION_URL, TOKEN_VARIABLE, PlatformSettings
from reporter.config_messages import plain_words
from reporter.errors import (
    NotFound,
    PlatformError,
    PlatformUnreachable,
    RequestRejected,
    ScopeMissing,
    TokenRejected,
)
from reporter.shown import clip, one_line

# How OpenSSL versions report a TLS handshake answered in plain HTTP (https:// to an http port).
PLAIN_HTTP_SIGNS = (
    "WRONG_VERSION_NUMBER",
    "WRONG VERSION NUMBER",
    "RECORD LAYER FAILURE",
    "PACKET LENGTH TOO LONG",
    "HTTP_REQUEST",
    "UNKNOWN PROTOCOL",
)
API_SUFFIX = "/api/v1"
REQUIRED_SCOPES = ("runs:read", "results:read")


def tls_hint(base_url: str, reason: str) -> tuple[str, bool]:
    """A hint for a TLS failure, and whether trying again can help (it cannot for a wrong setting)."""
    upper = reason.upper()
    if any(sign in upper for sign in PLAIN_HTTP_SIGNS):
        plain = "http://" + base_url.removeprefix("https://")
        return (
            f"the server at {base_url} answers in plain HTTP, not TLS: if it has no TLS, set "
            f"platform.base_url to {plain} (then the token travels unencrypted: only on a trusted "
            "network), else check the port in platform.base_url",
            False,
        )
    if "CERTIFICATE" in upper:
        return "TLS verification failed: set platform.ca_bundle to the issuing CA", True
    return f"the TLS handshake with {base_url} failed: check that platform.base_url's port speaks TLS", True


def no_api(base_url: str, path: str, status: int, content_type: str) -> str:
    """A page that is not the API's JSON answered: a web server, or the site instead of its API."""
    kind = content_type.split(";", 1)[0].strip() or "no content type"
    hint = "check platform.base_url"
    if not base_url.rstrip("/").endswith(API_SUFFIX):
        hint += f" (the API's address ends in {API_SUFFIX}, such as {PRODUCTION_URL})"
    return (
        f"GET {base_url}/{path}: HTTP {status} with a {kind} page, not the Sample Platform API's JSON: "
        f"there is no Sample Platform API at this URL; {hint}"
    )


def no_answer(settings: PlatformSettings, path: str, kind: str, attempts: int, seconds: float) -> str:
    """A server that never answered: how long it was waited for in all, over how many attempts, and why."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    base = settings.base_url
    limits = (
        f"platform.max_attempts {settings.max_attempts}, "
        f"platform.max_retry_seconds {settings.max_retry_seconds:g} s"
    )
    if kind == "ConnectTimeout":
        return (
            f"GET /{path}: could not connect to the Sample Platform at {base}: no answer to the "
            f"connection within platform.connect_timeout {settings.connect_timeout:g} s, {tries} over "
            f"{seconds:.0f} s in all ({limits}); check the host and port in platform.base_url and any "
            "firewall on the way"
        )
    return (
        f"GET /{path}: the Sample Platform at {base} took the connection but did not answer in time: "
        f"waited {seconds:.0f} s in all over {tries} (each attempt up to platform.request_deadline "
        f"{settings.request_deadline:g} s in all and platform.read_timeout {settings.read_timeout:g} s "
        f"per read; {limits}); check that the server behind {base} is up and answering (a hung server, "
        "or a proxy in front of a stopped one, does this); raising the timeouts helps only a slow server"
    )


def redirected(
    base_url: str, path: str, status: int, location: str | None, run_id: int | None
) -> PlatformError:
    shown = "".join(c for c in (location or "(no Location)")[:200] if c.isprintable())
    return PlatformUnreachable(
        f"GET /{path}: the Sample Platform at {base_url} answered HTTP {status} redirecting to {shown}; "
        "redirects are not followed (the token must not travel elsewhere): set platform.base_url to "
        "the address the API answers at",
        endpoint=path,
        run_id=run_id,
    )


def client_error(status: int, body: dict[str, Any], path: str, run_id: int | None) -> PlatformError:
    where = f"GET /{path}"
    message = str(body.get("message", ""))[:200]
    raw_details = body.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    if status == 401:
        return TokenRejected(
            f"{where}: the Sample Platform rejected the API token (missing, expired or invalid); "
            f"set {TOKEN_VARIABLE} to a token with scopes {', '.join(REQUIRED_SCOPES)}",
            endpoint=path,
            run_id=run_id,
        )
    if status == 403:
        missing = (
            details.get("missing_scopes")
            or details.get("required_scopes")
            or details.get("required_scope")
            or "unknown"
        )
        scopes = ", ".join(missing) if isinstance(missing, list) else str(missing)
        return ScopeMissing(
            f"{where}: the API token lacks scope {scopes}; create a token with scopes "
            f"{', '.join(REQUIRED_SCOPES)}",
            endpoint=path,
            run_id=run_id,
        )
    if status == 404:
        subject = f"run {run_id}" if run_id is not None else "resource"
        return NotFound(f"{where}: {subject} not found", endpoint=path, run_id=run_id)
    raw_fields = details.get("fields")
    fields: dict[str, Any] = raw_fields if isinstance(raw_fields, dict) else {}
    named = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return RequestRejected(f"{where}: HTTP {status} {message} {named}".strip(), endpoint=path, run_id=run_id)


_RECORD_KINDS = {
    "missing": "is missing",
    "timezone_aware": "must carry a time zone (the API gives every time in UTC with an offset)",
    "datetime_parsing": "must be an ISO 8601 timestamp with a time zone",
    "datetime_from_date_parsing": "must be an ISO 8601 timestamp with a time zone",
    "datetime_type": "must be an ISO 8601 timestamp with a time zone",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def record_problem(error: Mapping[str, Any]) -> str:
    """What is wrong with one field of an API record, in plain words, with the value it had.

    ``error`` is one of pydantic's validation errors; its wording is not shown.
    """
    kind = str(error["type"])
    problem = plain_words(error, _RECORD_KINDS)
    return problem if kind == "missing" else f"{problem} (got {_value(error.get('input'))})"


def _value(value: Any) -> str:
    """A value from an answer as a message shows it: printable, one line, short."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    return clip(one_line(repr(value)), 60)
