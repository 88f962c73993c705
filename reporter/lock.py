"""One writer at a time: an advisory lock next to the state file, naming the process that holds it."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reporter.errors import StoreError


@contextmanager
def exclusive(state: Path, purpose: str) -> Iterator[None]:
    """Hold ``<state>.lock`` for the block; fail at once, naming the holder, if another process has it."""
    path = state.with_name(state.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot create the lock file beside the state ({exc.strerror}); the state's "
            "directory must be writable by this user: check state.path and that directory's permissions"
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 200, 0).decode(errors="replace").strip() or "another process"
            raise StoreError(
                f"{state}: already in use by {holder}; only one reporter process may write the state "
                f"at a time (this one wanted to {purpose}). Wait for it to finish or stop it."
            ) from None
        with contextlib.suppress(OSError):  # the holder's name is a courtesy: a full disk may refuse it
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"pid {os.getpid()} ({purpose})".encode(), 0)
        yield
    finally:
        os.close(handle)
