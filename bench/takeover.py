"""How soon a standby `newsmill run` schedules when the leader's machine is lost.

    .venv/bin/python bench/takeover.py [--kills 5] [--sources 5] [--database URL]

On a fresh PostgreSQL database (created beside --database's and dropped at the end), two
`newsmill run --workers 0` processes schedule --sources sources (each polling an address where
nothing listens, every 2 s: the runs are queued and nobody takes them, so only scheduling is
measured). Then --kills times, at a random moment of the standby's wait between two tries at the
lock: the leader is killed with kill -9, and the bench measures, from
the kill, the time until the standby logs that it leads and until it queues its first run
(procrastinate's jobs, read from the database); a new standby is started in the dead one's place.
Printed: each kill's two times, their median and maximum, the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crawler.cluster.leadership import TRY_EVERY

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 120.0


class Scheduler:
    def __init__(self, config: Path, name: str) -> None:
        self.log = config.parent / f"{name}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "crawler.cli", "--config", str(config), "run", "--workers", "0",
                 "--log-format", "json"],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out,
            )

    def role(self) -> str | None:
        roles = [line["role"] for line in self._lines() if line.get("event") == "role"]
        return roles[-1] if roles else None

    def _lines(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
        return found


def wait_for(what: str, check: Any) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {DEADLINE:.0f} s: {what}")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--sources", type=int, default=5)
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    admin = create_engine(args.database, isolation_level="AUTOCOMMIT")
    name = f"newsmill_takeover_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.database).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    directory = Path(tempfile.mkdtemp(prefix="newsmill-takeover-"))
    config = directory / "config.yaml"
    sources = {f"s{n}": {"feeds": [f"http://127.0.0.1:9/{n}.xml"], "schedule": "every 2s"}
               for n in range(args.sources)}
    config.write_text(yaml.safe_dump({"database": url, "sources": sources}), encoding="utf-8")
    started: list[Scheduler] = []
    to_lead: list[float] = []
    to_queue: list[float] = []
    try:
        started.append(Scheduler(config, "s0"))
        wait_for("the first to lead", lambda: started[0].role() == "leader")
        leader = started[0]
        for kill in range(args.kills):
            standby = Scheduler(config, f"s{len(started)}")
            started.append(standby)
            wait_for("a standby", lambda s=standby: s.role() == "standby")
            # At a random moment of the standby's wait between two tries at the lock.
            time.sleep(random.uniform(0, TRY_EVERY))
            # Nobody takes the jobs: each source has one waiting, which would absorb the new
            # leader's. They go first; then the new leader's are those above the dead one's last.
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM procrastinate_jobs"))
            killed = time.monotonic()
            os.kill(leader.proc.pid, signal.SIGKILL)
            leader.proc.wait()
            with engine.connect() as connection:
                highest = text("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
                last_job = int(connection.execute(highest).scalar() or 0)
            wait_for("the standby to lead", lambda s=standby: s.role() == "leader")
            to_lead.append(time.monotonic() - killed)

            def queued(after: int = last_job) -> bool:
                newer = text("SELECT count(*) FROM procrastinate_jobs WHERE id > :id")
                with engine.connect() as connection:
                    return bool(connection.execute(newer, {"id": after}).scalar())

            wait_for("a run queued by the new leader", queued)
            to_queue.append(time.monotonic() - killed)
            print(f"kill {kill + 1}: leading after {to_lead[-1]:.2f} s, "
                  f"first run queued after {to_queue[-1]:.2f} s", flush=True)
            leader = standby
        print(f"leading after the kill: median {statistics.median(to_lead):.2f} s, max {max(to_lead):.2f} s; "
              f"first run queued: median {statistics.median(to_queue):.2f} s, max {max(to_queue):.2f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        for scheduler in started:
            if scheduler.proc.poll() is None:
                scheduler.proc.terminate()
                scheduler.proc.wait(timeout=60)
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
