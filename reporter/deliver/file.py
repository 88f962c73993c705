"""Write a stored payload to a file, atomically (temporary file, then rename); a failed write leaves
no temporary file behind and the previous file as it was."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from reporter.errors import DeliveryError

if TYPE_CHECKING:
    from reporter.deliver import Delivered


class FileChannel:
    alert_format = None

    def __init__(self, path: Path, fmt: str = "text", name: str = "file") -> None:
        self.path, self.format, self.name = path, fmt, name

    def send(self, payload: str, key: str, delivered: Delivered | None = None) -> None:
        write_atomically(self.path, payload)


def write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise _unwritable(path, exc.strerror) from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc.strerror) from exc
        if isinstance(exc, UnicodeError):
            raise _unwritable(path, "the text cannot be written as UTF-8") from exc
        raise


def _unwritable(path: Path, reason: str | None) -> DeliveryError:
    return DeliveryError(
        f"{path}: cannot write the digest ({reason or 'write failed'}); check channels.file.path and "
        "the free space there",
        channel="file",
    )
