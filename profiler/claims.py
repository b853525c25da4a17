"""Cell claims: two sweeps writing one table never measure (or write) the same cell twice.

Before measuring, a sweep claims its pending cells in ``.<table>.claims.jsonl`` next to the
table, under the table's lock (:func:`recommender.table.io.table_lock`). A second sweep
started on the same table meanwhile sees those cells as claimed and leaves them to the first;
each claim is released as its cell finishes (row appended or failure logged) and all of a
run's claims when it ends, however it ends.

A claim whose owner is gone does not block anyone: on the same host a claim is stale when
its process no longer exists; from another host (a shared file system), when it is older
than ``ttl_s`` (default one day, longer than any single sweep is expected to run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from recommender.table.io import _atomic_write, table_lock
from recommender.table.keys import CellKey

DEFAULT_TTL_S = 24 * 3600.0


def claims_path(table: Path) -> Path:
    """The claims file of ``table``."""
    return table.with_name(f".{table.name}.claims.jsonl")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ClaimBook:
    """The claims of one sweep run on one table.

    Args:
        table: The output table.
        ttl_s: Age after which another host's claim counts as abandoned, seconds.
    """

    def __init__(self, table: Path, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.table = Path(table)
        self.path = claims_path(self.table)
        self.ttl_s = ttl_s
        self.run_id = uuid.uuid4().hex[:12]
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.held: set[CellKey] = set()

    # -- file access (caller holds the table lock)
    def _read_live(self) -> list[dict]:
        if not self.path.exists():
            return []
        now = dt.datetime.now(dt.UTC)
        live = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                at = dt.datetime.fromisoformat(entry["at_utc"])
                CellKey(**entry["key"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line claims nothing
            if entry.get("host") == self.host:
                if not _pid_alive(int(entry.get("pid", -1))):
                    continue
            elif (now - at).total_seconds() > self.ttl_s:
                continue
            live.append(entry)
        return live

    def _write(self, entries: list[dict]) -> None:
        if entries:
            _atomic_write(self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
        elif self.path.exists():
            self.path.unlink()

    # -- API
    def claim(self, keys: Iterable[CellKey], done: set[CellKey] | None = None) -> tuple[list[CellKey], dict[CellKey, str]]:
        """Claim every key not done and not claimed by another live run.

        Args:
            keys: Cells this run would measure.
            done: Keys already in the table; re-read under the lock when None.

        Returns:
            ``(claimed, others)``: the keys now held by this run, and the keys another run
            holds with a description of that run.
        """
        from recommender.table.io import read_rows
        from recommender.table.keys import cell_key

        with table_lock(self.table):
            if done is None:
                done = {cell_key(r) for r in read_rows(self.table)} if self.table.exists() else set()
            live = self._read_live()
            taken = {CellKey(**e["key"]): f"run {e['run']} (pid {e['pid']} on {e['host']}, since {e['at_utc']})"
                     for e in live if e["run"] != self.run_id}
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            claimed: list[CellKey] = []
            others: dict[CellKey, str] = {}
            for key in keys:
                if key in done or key in self.held:
                    continue
                if key in taken:
                    others[key] = taken[key]
                    continue
                claimed.append(key)
                live.append({"key": asdict(key), "run": self.run_id, "host": self.host, "pid": self.pid,
                             "at_utc": now})
            self._write(live)
        self.held.update(claimed)
        return claimed, others

    def release(self, keys: Iterable[CellKey] | None = None) -> None:
        """Release ``keys`` (None: every claim of this run)."""
        drop = set(self.held if keys is None else keys) & self.held
        if not drop:
            return
        with table_lock(self.table):
            live = [e for e in self._read_live()
                    if not (e["run"] == self.run_id and CellKey(**e["key"]) in drop)]
            self._write(live)
        self.held -= drop
