"""The built wheel is the whole product: installed in a fresh environment, `reporter demo` runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("uv is not on PATH: the wheel was not built and tried")
    pytest.skip("uv is not on PATH: the wheel was not built and tried")


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_with_its_own_templates(tmp_path: Path) -> None:
    tool = uv()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / "venv")  # dependencies as locked, from the cache

    def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(part) for part in command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout}\n{done.stderr}"
        return done

    run(tool, "build", "--wheel", "--offline", "--out-dir", tmp_path / "dist", ROOT)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"reporter/templates/{p.name}" for p in (ROOT / "templates").iterdir()}
    assert shipped <= inside and "reporter/simulator/server.py" in inside
    run(tool, "sync", "--project", ROOT, "--locked", "--offline", "--no-dev", "--no-install-project", "-q")
    python = tmp_path / "venv" / "bin" / "python"
    run(tool, "pip", "install", "--offline", "--no-deps", "--python", python, wheel, "-q")
    where = run(python, "-c", "import reporter.format.templates as t; print(t.packaged_templates())")
    templates = Path(where.stdout.strip())
    assert templates.is_relative_to(tmp_path / "venv") and templates.parent.name == "reporter"
    demo = run(tmp_path / "venv" / "bin" / "reporter", "demo", "--dir", tmp_path / "demo", "--days", "3")
    text = (tmp_path / "demo" / "digest.txt").read_text()
    assert text.startswith("Sample Platform flakiness digest") and text in demo.stdout
    assert (tmp_path / "demo" / "digest.html").read_text().startswith("<!doctype html>")
