"""What a collector remembers between runs: small JSON files in its state directory, each
replaced atomically (written beside, flushed, renamed over), so a crash leaves the old or the new
content, never half of one."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


def read_json(path: Path, default: Any) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return default


def write_atomically(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class Position:
    """Where reading a log file stands: its inode, the offset up to which events were accepted,
    the fingerprint of its first line (``head``: tells the same file grown from a new one that
    took its place, or its inode) and its modification time then (``mtime``)."""

    inode: int
    offset: int
    head: str = ""
    mtime: float = 0.0


class Checkpoints:
    """One file of positions, keyed by source and log path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._all: dict[str, dict[str, Any]] = read_json(path, {})

    def get(self, key: str) -> Position | None:
        found = self._all.get(key)
        if not found:
            return None
        return Position(found["inode"], found["offset"], found.get("head", ""), found.get("mtime", 0.0))

    def put(self, key: str, pos: Position) -> None:
        value = {"inode": pos.inode, "offset": pos.offset, "head": pos.head, "mtime": pos.mtime}
        if self._all.get(key) == value:
            return
        self._all[key] = value
        write_atomically(self.path, self._all)
