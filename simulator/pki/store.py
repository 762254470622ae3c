"""On-disk cache of the sandbox PKI: PEM files plus an ``index.json`` that says which file is what.

Several processes (DMP server, INSi server, the CLI) may open the same cache at once. Every file is
written to a temporary name and renamed, and the index is merged under an advisory lock, so a reader
never sees a half-written file and two issuers never drop each other's entries. Since all content is
seed-derived, a lost race costs at worst a re-issuance with identical bytes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:  # POSIX; elsewhere the cache still works, without cross-process locking
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
_LOCK_NAME = ".lock"


def file_stem(label: str) -> str:
    """A readable, collision-free file name for a label (labels may hold '/' or '|')."""
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", label)[:60].strip("_")
    return f"{readable}-{hashlib.sha256(label.encode('utf-8')).hexdigest()[:10]}"


class CacheStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.RLock()
        self._depth = 0

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock:
            # flock is per open file: a nested acquisition on a second descriptor would deadlock us.
            self._depth += 1
            try:
                if fcntl is None or self._depth > 1:
                    yield
                    return
                with open(self.root / _LOCK_NAME, "a+b") as handle:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            finally:
                self._depth -= 1

    def path(self, relative: str) -> Path:
        target = (self.root / relative).resolve()
        # The index names the files to read and delete: never let it reach outside the cache.
        if not target.is_relative_to(self.root.resolve()):
            raise ValueError(f"cache path escapes {self.root}: {relative!r}")
        return target

    def exists(self, relative: str) -> bool:
        return self.path(relative).is_file()

    def read_bytes(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def write_bytes(self, relative: str, data: bytes) -> None:
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)

    def remove(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.path(relative).unlink()

    def stamp(self) -> tuple[int, int] | None:
        """Changes whenever another process rewrites the index; cheap enough to check on every verify."""
        try:
            # a fixed name: no need for path()'s resolve() escape check (two realpath walks on every verify)
            info = (self.root / INDEX_NAME).stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    def read_index(self) -> dict[str, Any] | None:
        try:
            index = json.loads(self.read_bytes(INDEX_NAME))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return index if isinstance(index, dict) and index.get("format") == INDEX_FORMAT else None

    def write_index(self, index: dict[str, Any]) -> None:
        self.write_bytes(INDEX_NAME, json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8"))

    def merge_index(self, params: dict[str, Any], update: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``update`` to the index as it is on disk now, not as this process last saw it."""
        with self.locked():
            index = self.read_index()
            if index is None or index.get("params") != params:
                index = new_index(params)
            update(index)
            self.write_index(index)
            return index


def new_index(params: dict[str, Any]) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "params": params, "cas": {}, "keys": {}, "certs": {}}
