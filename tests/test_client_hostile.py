"""The client against a loopback server that answers one bad way at a time: every request ends in
bounded time with a clear error, nothing is decoded without bound, and the token goes nowhere else."""

from __future__ import annotations

import json
import logging
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from pydantic import SecretStr

from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.errors import ConfigError, PlatformUnreachable, RateLimited, ResponseInvalid
from reporter.transport import MAX_BODY
from tests.fakes import TOKEN, QuietHTTPServer, make_settings

RUN = {"run_id": 1, "status": "pass", "platform": "linux", "repository": "a/b", "commit_sha": "0" * 40}
Behaviour = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """A loopback HTTP server answering every GET with ``behaviour``; it records what it was sent."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.seen: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                server.seen.append({"path": self.path, **dict(self.headers)})
                try:
                    behaviour(self)
                except OSError:
                    self.close_connection = True  # the client gave up: expected here

        self.httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], Server]]:
    servers: list[Server] = []

    def start(behaviour: Behaviour) -> Server:
        servers.append(Server(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    if "Content-Length" not in (headers or {}):
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def settings_at(tmp_path: Path, server: Server, **platform: object) -> Settings:
    base = {"max_attempts": 1, "read_timeout": 3, "request_deadline": 1.5, **platform}
    return make_settings(tmp_path, server.url + "/api/v1", platform=base)


def trickle_body(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(400):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.2)


def trickle_headers(handler: BaseHTTPRequestHandler) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 400:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.2)


@pytest.mark.parametrize("behaviour", [trickle_body, trickle_headers])
def test_a_trickling_server_cannot_hold_a_request_past_its_deadline(
    tmp_path: Path, serve: Callable[[Behaviour], Server], behaviour: Behaviour
) -> None:
    server = serve(behaviour)
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        began = time.monotonic()
        with pytest.raises(PlatformUnreachable, match="request_deadline 1.5 s in all"):
            client.run(1)
        took = time.monotonic() - began
    assert took < 3.0  # each read alone would have waited up to 3 s, and reads never stop coming


def bomb(size: int) -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"0" * (1 << 20)
    return b"".join(squeeze.compress(chunk) for _ in range(size >> 20)) + squeeze.flush()


def test_a_gzip_bomb_is_refused_without_being_inflated(
    tmp_path: Path, serve: Callable[[Behaviour], Server]
) -> None:
    payload = bomb(256 << 20)  # 256 MB of zeros in about 250 KB
    server = serve(lambda h: answer(h, 200, payload, {"Content-Encoding": "gzip"}))
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseInvalid, match="refused: more than the 8388608 bytes accepted"):
                client.run(1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 3 * MAX_BODY


def test_a_body_declared_too_large_is_refused_before_reading(
    tmp_path: Path, serve: Callable[[Behaviour], Server]
) -> None:
    server = serve(lambda h: answer(h, 200, b"{}", {"Content-Length": str(10**12)}))
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        with pytest.raises(ResponseInvalid, match="Content-Length 1000000000000"):
            client.run(1)


def test_an_unasked_for_encoding_is_refused(tmp_path: Path, serve: Callable[[Behaviour], Server]) -> None:
    server = serve(lambda h: answer(h, 200, b"\x00\x01", {"Content-Encoding": "br"}))
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        with pytest.raises(ResponseInvalid, match="Content-Encoding 'br' was not asked for"):
            client.run(1)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_and_the_token_stays_home(
    tmp_path: Path, serve: Callable[[Behaviour], Server], status: int
) -> None:
    elsewhere = serve(lambda h: answer(h, 200, json.dumps(RUN).encode()))
    target = f"{elsewhere.url}/api/v1/runs/1"
    server = serve(lambda h: answer(h, status, json.dumps(RUN).encode(), {"Location": target}))
    with PlatformClient(settings_at(tmp_path, server, max_attempts=3).platform) as client:
        with pytest.raises(PlatformUnreachable) as caught:
            client.run(1)
    message = str(caught.value)
    assert f"HTTP {status} redirecting to {target}" in message and "set platform.base_url" in message
    assert len(server.seen) == 1  # not retried
    assert elsewhere.seen == []  # never followed: the token went nowhere else


@pytest.mark.parametrize(
    ("limit", "remaining", "reset"),
    [("120", "5", "inf"), ("120", "0", "99999999999"), ("nan", "0", "1"), ("120", "0", "-inf")],
)
def test_nonsense_rate_limit_headers_neither_crash_nor_stall(
    tmp_path: Path, serve: Callable[[Behaviour], Server], limit: str, remaining: str, reset: str
) -> None:
    headers = {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}
    server = serve(lambda h: answer(h, 200, json.dumps(RUN).encode(), headers))
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        assert [client.run(1).run_id for _ in range(4)] == [1, 1, 1, 1]


def test_a_reset_a_month_away_fails_the_cycle_clearly(
    tmp_path: Path, serve: Callable[[Behaviour], Server]
) -> None:
    reset = str(int(time.time()) + 30 * 86400)
    headers = {"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    server = serve(lambda h: answer(h, 200, json.dumps(RUN).encode(), headers))
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        client.run(1)
        with pytest.raises(RateLimited, match=r"back 259\d{4} s .*max_retry_after=120 s; try again later"):
            client.run(1)
    assert len(server.seen) == 1


def test_a_retry_after_of_inf_or_a_date_is_understood(
    tmp_path: Path, serve: Callable[[Behaviour], Server]
) -> None:
    server = serve(lambda h: answer(h, 429, b"{}", {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        with pytest.raises(RateLimited, match=r"asks to wait \d\.\de\+09 s"):
            client.run(1)


@pytest.mark.parametrize(
    "token", ["Zq9x-77\n", " Zq9x-77", "Zq9x 77", "Zq9x\t77", "Zq9x-ö77", "\x00Zq9x", ""]
)
def test_a_token_with_whitespace_never_reaches_a_header_or_a_message(
    tmp_path: Path, serve: Callable[[Behaviour], Server], caplog: pytest.LogCaptureFixture, token: str
) -> None:
    caplog.set_level(logging.DEBUG)
    server = serve(lambda h: answer(h, 200, json.dumps(RUN).encode()))
    settings = settings_at(tmp_path, server)
    bad = settings.platform.model_copy(update={"token": SecretStr(token)})
    with pytest.raises(ConfigError) as caught:
        PlatformClient(bad)
    message = str(caught.value)
    assert "platform.token" in message and "SAMPLE_PLATFORM_TOKEN" in message
    assert "Zq9x" not in message + caplog.text
    assert server.seen == []


def test_the_token_is_sent_as_is_to_the_configured_host_only(
    tmp_path: Path, serve: Callable[[Behaviour], Server]
) -> None:
    server = serve(lambda h: answer(h, 200, json.dumps(RUN).encode()))
    with PlatformClient(settings_at(tmp_path, server).platform) as client:
        client.run(1)
    assert server.seen[0]["Authorization"] == f"Bearer {TOKEN}"
    assert server.seen[0]["path"] == "/api/v1/runs/1"
