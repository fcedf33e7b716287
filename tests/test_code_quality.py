"""The code keeps what the project promises of it: ruff clean, and type hints that check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_type_hints_check() -> None:
    # The files and the untyped libraries are in pyproject.toml's [tool.mypy].
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
