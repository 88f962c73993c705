"""Failures that come from a wrong address or a hung server explain themselves: URL, time, setting."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from reporter.client import PlatformClient
from reporter.errors import PlatformUnreachable
from tests.fakes import QuietHTTPServer, make_settings


class WebServer:
    """A plain web server on loopback, not the API: every GET gets an HTML page with ``status``."""

    def __init__(self, status: int = 404) -> None:
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                owner.requests += 1
                body = f"<html><body><h1>{status}</h1></body></html>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                owner.requests += 1  # a TLS hello read as a bad request line
                super().send_error(code, message, explain)

        self.httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


@pytest.fixture
def hung() -> Iterator[str]:
    """Accepts connections and never answers: the address of a hung server."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    for connection in held:
        connection.close()


def client_at(tmp_path: Path, base_url: str, **platform: object) -> PlatformClient:
    settings = make_settings(tmp_path, base_url, platform={"max_attempts": 2, **platform})
    return PlatformClient(settings.platform, sleep=lambda _s: None)


def test_a_hung_server_is_named_with_the_total_wait_and_what_to_check(
    tmp_path: Path, hung: str, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"http://{hung}/api/v1"
    began = time.monotonic()
    with (
        client_at(tmp_path, base, read_timeout=0.3, request_deadline=0.5) as client,
        pytest.raises(PlatformUnreachable) as caught,
        caplog.at_level(logging.WARNING),
    ):
        next(iter(client.runs({})))
    took = time.monotonic() - began
    message = str(caught.value)
    assert message.startswith(f"GET /runs: the Sample Platform at {base} took the connection but did not")
    assert "waited 1 s in all over 2 attempts" in message or "waited 0 s in all over 2 attempts" in message
    assert f"check that the server behind {base} is up and answering" in message
    assert "platform.max_attempts 2" in message and took < 5
    retries = [r for r in caplog.records if r.levelno == logging.WARNING and "(attempt 1)" in r.getMessage()]
    assert len(retries) == 1  # the first timed-out attempt is said as it happens, not only at the end


def test_https_to_a_plain_http_port_says_so_and_is_not_retried(tmp_path: Path, web: WebServer) -> None:
    with (
        client_at(tmp_path, f"https://{web.address}/api/v1") as client,
        pytest.raises(PlatformUnreachable) as caught,
    ):
        next(iter(client.runs({})))
    message = str(caught.value)
    assert f"the server at https://{web.address}/api/v1 answers in plain HTTP, not TLS" in message
    assert f"set platform.base_url to http://{web.address}/api/v1" in message
    assert "ca_bundle" not in message
    assert web.requests == 1  # a setting to fix: trying again cannot help


@pytest.mark.parametrize("path", ["/api/v1", ""])
def test_a_plain_web_server_is_no_api_at_this_url(tmp_path: Path, web: WebServer, path: str) -> None:
    base = f"http://{web.address}{path}"
    with client_at(tmp_path, base) as client, pytest.raises(PlatformUnreachable) as caught:
        next(iter(client.runs({})))
    message = str(caught.value)
    assert message.startswith(f"GET {base}/runs: HTTP 404 with a text/html page, not the Sample Platform API")
    assert "there is no Sample Platform API at this URL; check platform.base_url" in message
    assert ("ends in /api/v1" in message) == (path == "")
    assert web.requests == 1


def test_an_html_page_with_200_names_the_url_after_its_retries(tmp_path: Path) -> None:
    site = WebServer(status=200)
    try:
        with client_at(tmp_path, f"http://{site.address}") as client, pytest.raises(Exception) as caught:
            next(iter(client.runs({})))
    finally:
        site.close()
    assert "HTTP 200 with a text/html page, not the Sample Platform API's JSON" in str(caught.value)
    assert site.requests == 2


def test_a_bad_record_field_is_said_in_plain_words_with_its_value_shown_safely() -> None:
    from pydantic import BaseModel, ValidationError

    from reporter.client_messages import record_problem
    from reporter.models import Moment

    class Record(BaseModel):
        at: Moment
        name: str
        count: int

    def problems(**given: object) -> list[str]:
        try:
            Record.model_validate({"at": "2026-11-19T10:00:00+00:00", "name": "n", "count": 1, **given})
        except ValidationError as exc:
            return [record_problem(error) for error in exc.errors()]
        return []

    assert problems(at="2026-11-19T10:00:00") == [
        "must carry a time zone (the API gives every time in UTC with an offset) (got '2026-11-19T10:00:00')"
    ]
    [hostile] = problems(name={"nested": "object"}, count=1)
    assert hostile == "must be text (got an object)"
    [escaped] = problems(count="\x1b[31m" + "9" * 500)
    assert escaped.startswith("must be a whole number (got '\\x1b[31m999") and escaped.endswith("…)")
    assert "\x1b" not in escaped and len(escaped) < 100
    assert "Input should" not in " ".join(problems(at=None, name=5, count=2.5))
