"""The client's HTTP plumbing: one total deadline per request and a cap on the decoded body."""

from __future__ import annotations

import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

MAX_BODY = 8 * 1024 * 1024  # decoded bytes; the largest real answer (100 buckets) is a few hundred KB
ACCEPT_ENCODING = "gzip, deflate"
STOP_SLICE = 0.25  # seconds one read waits at a time when a stop can be asked for


class BodyRefused(Exception):
    """The answer's body is larger than the cap once decoded, or cannot be decoded."""


class Stopped(Exception):
    """A stop was asked for while a request waited for its answer."""


class DeadlineBackend(httpcore.NetworkBackend):
    """Network I/O where every connect, read and write of a request waits no later than its deadline.

    Per-read timeouts alone let a server that trickles a byte at a time hold a request forever; here
    each operation's timeout is cut to what is left of the deadline set by the calling thread.
    """

    def __init__(self, stop: Callable[[], bool] | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self._local = threading.local()
        self.stop = stop  # asked between slices of a read: a stop ends a waiting request at once

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Give every network operation of this thread in the block ``seconds`` in total."""
        self._local.until = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.until = None

    def expired(self) -> bool:
        until: float | None = getattr(self._local, "until", None)
        return until is not None and time.monotonic() >= until

    def left(self, timeout: float | None, error: type[Exception]) -> float | None:
        until: float | None = getattr(self._local, "until", None)
        if until is None:
            return timeout
        left = until - time.monotonic()
        if left <= 0:
            raise error("the request's total deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self.left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - the client speaks TCP only
        timeout = self.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options), self)

    def sleep(self, seconds: float) -> None:  # pragma: no cover - used by httpcore's connect retries
        self._inner.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, backend: DeadlineBackend) -> None:
        self._inner, self._backend = inner, backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = self._backend.left(timeout, httpcore.ReadTimeout)
        stop = self._backend.stop
        if stop is None:
            return self._inner.read(max_bytes, timeout)
        end = None if timeout is None else time.monotonic() + timeout
        while True:  # a timed-out read received nothing: waiting again in slices is the same wait
            if stop():
                raise Stopped("stopped while waiting for the answer")
            left = STOP_SLICE if end is None else min(STOP_SLICE, end - time.monotonic())
            try:
                return self._inner.read(max_bytes, max(left, 0.0))
            except httpcore.ReadTimeout:
                if end is not None and time.monotonic() >= end:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = self._backend.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def deadline_transport(
    base_url: str, backend: DeadlineBackend, *, verify: Any, max_connections: int
) -> httpx.HTTPTransport:
    """httpx's own transport (a proxy from the environment included) on a deadline-aware backend."""
    transport = httpx.HTTPTransport(
        verify=verify, limits=httpx.Limits(max_connections=max_connections), proxy=_proxy_for(base_url)
    )
    pool = getattr(transport, "_pool", None)  # httpx offers no public seam for the network backend
    if not hasattr(pool, "_network_backend"):  # a newer httpx: fail loudly, never run without deadline
        raise RuntimeError(f"httpx {httpx.__version__} has no connection pool backend to set; pin httpx")
    pool._network_backend = backend  # type: ignore[union-attr]  # every connection opens through it
    return transport


def _proxy_for(base_url: str) -> str | None:
    parts = urlsplit(base_url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    return proxy if proxy and proxy.startswith(("http://", "https://")) else None


def read_body(response: httpx.Response, backend: DeadlineBackend | None, limit: int = MAX_BODY) -> bytes:
    """The decoded body, refusing more than ``limit`` bytes of it however well it compresses."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyRefused(f"Content-Length {int(declared)} is more than the {limit} bytes accepted")
    try:
        ready = response.content  # an answer built in memory (a test transport) is read already
    except httpx.ResponseNotRead:
        ready = None
    if ready is not None:
        if len(ready) > limit:
            raise BodyRefused(f"more than the {limit} bytes accepted")
        return ready
    decoder = _decoder(response.headers.get("content-encoding", "identity"))
    out, size = bytearray(), 0
    for raw in response.iter_raw():
        if backend is not None and backend.expired():
            raise httpx.ReadTimeout("the request's total deadline passed")
        for piece in decoder(raw, limit + 1 - size):
            size += len(piece)
            if size > limit:
                raise BodyRefused(f"more than the {limit} bytes accepted once decoded")
            out += piece
    return bytes(out)


Decoder = Callable[[bytes, int], Iterable[bytes]]


def _identity(raw: bytes, room: int) -> Iterable[bytes]:
    return (raw,)


def _decoder(encoding: str) -> Decoder:
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return _identity
    if name in ("gzip", "x-gzip", "deflate"):
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, told apart by zlib

        def decode(raw: bytes, room: int) -> Iterator[bytes]:
            data = raw
            while data:
                try:
                    piece = inflate.decompress(data, max(room, 1))
                except zlib.error as exc:
                    raise BodyRefused(f"the {name} body is corrupt ({exc})") from exc
                yield piece
                room -= len(piece)
                data = inflate.unconsumed_tail

        return decode
    raise BodyRefused(f"Content-Encoding {encoding[:40]!r} was not asked for ({ACCEPT_ENCODING})")
