"""How a process names itself in run records, backfill parts and a cluster's worker list."""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    """"host:pid": unique across the machines of a cluster while the process lives."""
    return f"{socket.gethostname()}:{os.getpid()}"
