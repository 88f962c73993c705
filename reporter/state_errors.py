"""SQLite's failures as ``StoreError``s that name the state file and say what to do about it."""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from reporter.errors import StoreError

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)
# What SQLite can raise. Damage in the schema can make even its error message unreadable: Python
# then raises UnicodeDecodeError where the sqlite3 error was due.
FAILURES = (sqlite3.Error, UnicodeDecodeError)


def store_error(path: Path | str, exc: Exception) -> StoreError:
    """One line: the file, what SQLite said, and the fix."""
    text = (
        "malformed file: SQLite's own message about it is unreadable"
        if isinstance(exc, UnicodeError)
        else str(exc)
    )
    if "locked" in text or "busy" in text:
        hint = "another reporter process holds it; wait for it or stop it"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        hint = (
            "the file is corrupted or not a reporter state file; move it aside with its -wal and -shm "
            "files (keep them for a look) and run `reporter backfill` to rebuild the state"
        )
    elif "readonly" in text or "unable to open" in text:
        hint = "check the file's and its directory's permissions"
    elif "disk is full" in text or "disk I/O" in text:
        hint = "check the disk holding it (free space, errors)"
    else:
        hint = "check state.path"
    return StoreError(f"{path}: state database error: {text}; {hint}")


def guarded(cls: C) -> C:
    """Make every public method of ``cls`` raise ``StoreError`` for an SQLite error.

    The instance's ``path`` names the file. Whatever a damaged page or a vanished file makes
    SQLite raise, on a read as on a write, reaches the user as one line and exit code 4.
    """
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _translated(member))
    return cls


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except FAILURES as exc:
            path = getattr(args[0], "path", "the state file") if args else "the state file"
            raise store_error(path, exc) from exc

    return call
