"""Where the server reads entity state at request time: a local SQLite file by default, Redis-shaped by design.

State is keyed by (entity column, entity key) and stored as JSON text, so any
key-value store with batched get/set (Redis MGET/MSET on "entity:key") can take
SQLite's place behind the same `StateStore` interface.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Protocol

from features.online_engine import EntityState


class StateStore(Protocol):
    """Batched reads and writes of entity state plus a few metadata strings."""

    def get_many(self, entity: str, keys: list[str]) -> dict[str, EntityState]: ...

    def put_many(self, entity: str, states: dict[str, EntityState]) -> None: ...

    def get_meta(self, name: str) -> str | None: ...

    def set_meta(self, name: str, value: str) -> None: ...


class SqliteStateStore:
    """StateStore in one SQLite file (WAL mode: one writer, many concurrent readers)."""

    def __init__(self, path: Path | str, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            if not self.path.is_file():
                raise FileNotFoundError(f"online feature state {self.path} does not exist yet")
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS state (entity TEXT, key TEXT, value TEXT, PRIMARY KEY (entity, key))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        self._db.commit()

    def get_many(self, entity: str, keys: list[str]) -> dict[str, EntityState]:
        """States of the keys that exist (missing keys are absent from the result)."""
        found: dict[str, EntityState] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, value FROM state WHERE entity=? AND key IN ({marks})", [entity, *chunk]
            )
            found.update({key: EntityState.from_json(value) for key, value in rows})
        return found

    def put_many(self, entity: str, states: dict[str, EntityState]) -> None:
        """Upserts states in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO state (entity, key, value) VALUES (?, ?, ?)",
                [(entity, key, state.to_json()) for key, state in states.items()],
            )

    def count(self, entity: str) -> int:
        return self._db.execute("SELECT COUNT(*) FROM state WHERE entity=?", [entity]).fetchone()[0]

    def get_meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name=?", [name]).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", [name, value])

    def close(self) -> None:
        self._db.close()


def build_and_publish(path: Path | str, build) -> object:
    """Builds a fresh store beside `path` with `build(store)`, then renames it into place atomically.

    Readers (server workers) keep answering from the previous file until they notice the new one; the new file
    leaves WAL mode before the rename, so no -wal/-shm of the old file is ever paired with it. Returns build's result.
    """
    path = Path(path)
    staging = path.with_name(path.name + ".building")
    for stale in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
        stale.unlink(missing_ok=True)
    store = SqliteStateStore(staging)
    try:
        result = build(store)
        store._db.execute("PRAGMA journal_mode=DELETE")
    finally:
        store.close()
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(staging, path)
    return result
