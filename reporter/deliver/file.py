"""Write a stored payload to a file, atomically (temporary file, then rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reporter.errors import DeliveryError


class FileChannel:
    alert_format = None

    def __init__(self, path: Path, fmt: str = "text", name: str = "file") -> None:
        self.path, self.format, self.name = path, fmt, name

    def send(self, payload: str, key: str) -> None:
        write_atomically(self.path, payload)


def write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise DeliveryError(
            f"{path}: cannot write the digest ({exc.strerror}); check channels.file.path", channel="file"
        ) from exc
