"""The running daemon's status file: its schedule as it is now, for `newsmill sources`.

Next run times exist only inside the daemon's scheduler, so the daemon writes them down
(atomically, whenever its schedule moves) in the state directory beside the database, and
`newsmill sources` reads them. A file left by a daemon that died is recognised by its pid.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from crawler.locks import state_dir

FILE_NAME = "daemon.json"


def status_path(database_url: str) -> Path:
    return state_dir(database_url) / FILE_NAME


def write_status(path: Path, status: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(status, indent=2), encoding="utf-8")
    os.replace(temporary, path)  # a reader sees the old file or the new one, never half of one


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    return True


def read_status(database_url: str) -> dict[str, Any] | None:
    """The status of the daemon running on this database, or None if none is running."""
    try:
        status = json.loads(status_path(database_url).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    pid = status.get("pid")
    if not isinstance(pid, int) or pid <= 0 or not _alive(pid):
        return None
    return status


def remove_status(path: Path, pid: int) -> None:
    """Remove the status file if process `pid` wrote it (another daemon on this machine may
    have written its own since: a cluster's new leader)."""
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(status, dict) and status.get("pid") == pid:
        path.unlink(missing_ok=True)
