"""Atomic writes respect the umask and clean up after a process killed mid-write; the suite never touches the
user's own ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from imagegen.cli import default_ledger
from imagegen.files import _HOST, LEGACY_AGE_S, atomic_write, sweep_temp_files


@pytest.fixture
def umask():
    before = os.umask(0o022)
    try:
        yield lambda mask: os.umask(mask)
    finally:
        os.umask(before)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_gets_the_permissions_the_umask_allows(mask, mode, umask, tmp_path):
    umask(mask)
    path = atomic_write(tmp_path / "image.png", b"data")
    assert os.stat(path).st_mode & 0o777 == mode


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def part(folder: Path, host: str, pid: int, target: str = "image.png") -> Path:
    path = folder / f".{target}.{host}-{pid}.0123456789ab.part"
    path.write_bytes(b"half an image")
    return path


def test_a_dead_processs_temp_file_is_removed_and_a_live_ones_kept(tmp_path):
    dead = part(tmp_path, _HOST, dead_pid())
    live = part(tmp_path, _HOST, os.getpid(), "other.png")
    elsewhere = part(tmp_path, "00000000" if _HOST != "00000000" else "11111111", dead_pid(), "third.png")
    assert sweep_temp_files(tmp_path) == [str(dead)]
    assert not dead.exists() and live.exists() and elsewhere.exists()


def test_an_old_temp_file_from_before_names_carried_a_process_is_removed(tmp_path):
    old, new = tmp_path / ".a.png.0123456789ab.part", tmp_path / ".b.png.0123456789ab.part"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    past = time.time() - LEGACY_AGE_S - 60
    os.utime(old, (past, past))
    sweep_temp_files(tmp_path)
    assert not old.exists() and new.exists()


KILLED_MID_WRITE = textwrap.dedent("""
    import os, signal, sys
    from imagegen.files import atomic_write

    real_fsync = os.fsync
    def fsync_then_die(fd):
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGKILL)  # inside the window: the temp file is written, not yet renamed
    os.fsync = fsync_then_die
    atomic_write(sys.argv[1], b"an image")
""")


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_a_write_killed_inside_the_fsync_window_is_cleaned_up_by_the_next_run(tmp_path):
    target = tmp_path / "out" / "fox-7.png"
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(target)], timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in target.parent.iterdir()]
    assert len(left) == 1 and left[0].endswith(".part") and not target.exists()
    rerun = subprocess.run([sys.executable, "-c", "import sys; from imagegen.files import atomic_write; "
                                                  "atomic_write(sys.argv[1], b'an image')", str(target)], timeout=120)
    assert rerun.returncode == 0
    assert [p.name for p in target.parent.iterdir()] == ["fox-7.png"]


def test_the_suite_never_writes_to_the_users_own_ledger():
    home = Path.home() / ".local" / "share" / "imagegen"
    assert not Path(default_ledger()).resolve().is_relative_to(home.resolve())
    assert not Path(os.environ["XDG_DATA_HOME"]).resolve().is_relative_to(Path.home().resolve() / ".local")
