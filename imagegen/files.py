"""Writing files so that a reader, a crash or a power cut never sees half of one.

A write goes to a temp file next to the target, named for the process writing it
(``.NAME.<host>-<pid>.<random>.part``), then is renamed over the target. A process killed between the two
leaves its temp file behind; the next write into that folder (once per folder and process) removes the
temp files of processes of this machine that have ended, so no rerun leaves them piling up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import threading
import time
import uuid

from ._process import alive

__all__ = ["atomic_write", "sweep_temp_files"]

#: This machine, as temp file names carry it: a process id means something only on its own host.
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_OURS = re.compile(r"^\..+\.([0-9a-f]{8})-(\d+)\.[0-9a-f]{12}\.part$")
#: Temp files named before the names carried a process: removed once they are this old.
_LEGACY = re.compile(r"^\..+\.[0-9a-f]{12}\.part$")
LEGACY_AGE_S = 3600.0
_swept: set[str] = set()
_swept_lock = threading.Lock()


def atomic_write(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to ``path`` atomically and durably: a temp file in the same folder, flushed and
    fsynced, renamed over ``path``, then the folder fsynced so the rename itself survives a crash.
    Creates missing folders. The file gets the permissions the umask allows (as ``open`` would), not a
    temp file's private ones. Returns the path written."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    _sweep_once(directory)
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{_HOST}-{os.getpid()}.{uuid.uuid4().hex[:12]}.part")
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


def sweep_temp_files(directory: str | os.PathLike[str]) -> list[str]:
    """Remove the temp files that writes into ``directory`` left behind: those of processes of this machine
    that have ended (and, from before names carried a process, those older than ``LEGACY_AGE_S``). A live
    process's temp file, or another machine's, is never touched. Returns the paths removed."""
    folder = os.fspath(directory)
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not name.endswith(".part"):
            continue
        path = os.path.join(folder, name)
        ours = _OURS.match(name)
        if ours is not None:
            stale = ours[1] == _HOST and not alive(int(ours[2]))
        else:
            try:
                stale = _LEGACY.match(name) is not None and now - os.path.getmtime(path) > LEGACY_AGE_S
            except OSError:
                continue
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(path)
    return removed


def _sweep_once(directory: str) -> None:
    with _swept_lock:
        if directory in _swept:
            return
        _swept.add(directory)
    sweep_temp_files(directory)


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
