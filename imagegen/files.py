"""Writing files so that a reader, a crash or a power cut never sees half of one."""

from __future__ import annotations

import contextlib
import os
import uuid

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to ``path`` atomically and durably: a temp file in the same folder, flushed and
    fsynced, renamed over ``path``, then the folder fsynced so the rename itself survives a crash.
    Creates missing folders. Returns the path written."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex[:12]}.part")
    # os.open with 0o666, like open(): the umask decides who may read the file, as for any other file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    return target


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform (Windows) that cannot open folders: the rename is as durable as it gets
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
