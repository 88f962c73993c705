"""Only one process writes the state at a time, and the refusal names the holder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reporter.errors import StoreError
from reporter.lock import exclusive


def test_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from reporter.lock import exclusive\n"
            f"with exclusive(Path({str(state)!r}), 'poll'):\n    print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError) as caught, exclusive(state, "digest"):
            pass
        assert f"already in use by pid {holder.pid} (poll)" in str(caught.value)
        assert str(state) in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    with exclusive(state, "digest"):  # released when the holder died
        assert (tmp_path / "state.sqlite3.lock").read_text() == f"pid {os.getpid()} (digest)"
