"""A state file that is damaged, from a newer version, or in a directory this user cannot write.

Every command meets it with exit code 4 and one line saying what is wrong and what to do: no
traceback, and the file itself left exactly as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reporter.cli import main
from reporter.errors import StoreError
from reporter.simulator import SimulatedPlatform
from reporter.store import Store
from tests.fakes import TOKEN

COMMANDS = (("digest",), ("flaky",), ("status",), ("poll",))


@pytest.fixture
def config(tmp_path: Path, platform: SimulatedPlatform, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", TOKEN)
    path = tmp_path / "reporter.yaml"
    path.write_text(
        f"platform:\n  base_url: {platform.base_url}\nstate:\n  path: state/state.sqlite3\n"
        "analysis:\n  window_days: 3650\nchannels:\n  file:\n    path: out/digest.txt\n"
    )
    return path


def state_of(config: Path) -> Path:
    return config.parent / "state" / "state.sqlite3"


def reporter(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str]:
    try:
        main(["--config", str(config), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    [line] = err.splitlines()
    assert line.startswith("error: ") and "Traceback" not in err
    return line


def filled(capsys: pytest.CaptureFixture[str], config: Path) -> Path:
    """A state file with runs, a digest and its delivery, closed cleanly (no journal beside it)."""
    assert reporter(capsys, config, "poll")[0] == 0
    assert reporter(capsys, config, "digest")[0] == 0
    path = state_of(config)
    assert not path.with_name(path.name + "-wal").exists()
    return path


def damage(path: Path, spare: tuple[str, ...] = ("migrations", "sqlite_autoindex_migrations_1")) -> None:
    """Garbage over the first page of every table and index but ``spare``: the file still opens."""
    with sqlite3.connect(path) as db:
        roots = [
            page for name, page in db.execute("SELECT name, rootpage FROM sqlite_master") if name not in spare
        ]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as handle:
        for page in roots:
            if page:
                handle.seek((page - 1) * size)
                handle.write(b"\xa5" * size)


@pytest.mark.parametrize("command", COMMANDS)
def test_garbage_in_the_state_file_is_exit_4_with_one_line(
    capsys: pytest.CaptureFixture[str], config: Path, command: tuple[str, ...]
) -> None:
    path = filled(capsys, config)
    damage(path)
    before = path.read_bytes()
    code, err = reporter(capsys, config, *command)
    line = one_line(err)
    assert code == 4, err
    assert str(path) in line and "malformed" in line and "move it aside" in line
    assert path.read_bytes() == before


def test_garbage_in_the_state_file_as_the_command_line_shows_it(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    damage(filled(capsys, config))
    result = subprocess.run(
        [sys.executable, "-m", "reporter", "--config", str(config), "digest"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN},
    )
    assert result.returncode == 4 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "sqlite3.DatabaseError" not in result.stderr and "Traceback" not in result.stderr


def test_a_schema_so_damaged_that_sqlite_cannot_say_what_is_wrong_is_still_one_clear_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    Store(path).close()
    data = path.read_bytes()
    name = data.index(b"tablemetameta") + len(b"table")  # the schema's record of the meta table
    path.write_bytes(data[:name] + b"\x9a\x9b\x9c\x9d" + data[name + 4 :])
    with pytest.raises(UnicodeDecodeError):  # what Python makes of SQLite's message about it
        sqlite3.connect(path).execute("SELECT * FROM runs")
    with pytest.raises(
        StoreError, match="SQLite's own message about it is unreadable; the file is corrupted"
    ):
        Store(path)


def from_the_future(path: Path, journal: str = "wal") -> bytes:
    with Store(path):
        pass
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("INSERT INTO migrations VALUES ('999_from_a_newer_version', '2030-01-01')")
    db.execute(f"PRAGMA journal_mode = {journal}")
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_state_file_from_a_newer_version_is_refused_and_left_unchanged(
    tmp_path: Path, journal: str
) -> None:
    path = tmp_path / "state.sqlite3"
    before = from_the_future(path, journal)
    with pytest.raises(StoreError) as caught:
        Store(path)
    message = str(caught.value)
    assert "newer version of reporter" in message and "999_from_a_newer_version" in message
    assert "left unchanged" in message and str(path) in message
    assert path.read_bytes() == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == journal


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_newer_state_file(
    capsys: pytest.CaptureFixture[str], config: Path, command: tuple[str, ...]
) -> None:
    path = state_of(config)
    path.parent.mkdir()
    before = from_the_future(path)
    code, err = reporter(capsys, config, *command)
    assert code == 4 and "newer version of reporter" in one_line(err)
    assert path.read_bytes() == before
    assert not (config.parent / "out").exists()  # no digest sent from it either


@pytest.mark.parametrize("command", [("poll",), ("digest",)])
def test_a_read_only_state_directory_is_exit_4_with_one_line(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    command: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = filled(capsys, config)
    path.with_name(path.name + ".lock").unlink()
    path.parent.chmod(0o555)
    if os.geteuid() == 0:  # permissions do not bind root: refuse what the kernel would refuse others
        real = os.open

        def read_only(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if Path(file).parent == path.parent and flags & os.O_CREAT:
                raise PermissionError(13, "Permission denied", str(file))
            return real(file, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", read_only)
    try:
        code, err = reporter(capsys, config, *command)
    finally:
        path.parent.chmod(0o755)
    line = one_line(err)
    assert code == 4 and "Permission denied" in line and "lock file" in line
    assert "check state.path and that directory's permissions" in line
