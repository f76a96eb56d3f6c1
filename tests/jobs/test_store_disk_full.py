"""The job store on a full disk: `DiskFull` naming the database file, the connection stays usable, and adding
works again once space returns. SQLite's own page limit gives a real SQLITE_FULL anywhere; a tiny tmpfs gives the
real ENOSPC where mounting is allowed."""

import os
import sqlite3
import subprocess

import pytest

from webui.engine.request import GenerationRequest
from webui.errors import DiskFull
from webui.jobs.store import SqliteJobStore


def request(seed: int) -> GenerationRequest:
    return GenerationRequest(prompt="a cat " * 200, seed=seed)


def test_a_full_database_is_disk_full_and_recovers(tmp_path):
    path = tmp_path / "queue.sqlite3"
    store = SqliteJobStore(path)
    store.add("first", "alice", request(1))
    with sqlite3.connect(path) as probe:
        pages = probe.execute("PRAGMA page_count").fetchone()[0]
    store._connection.execute(f"PRAGMA max_page_count = {pages}")  # SQLite reports SQLITE_FULL past this
    with pytest.raises(DiskFull) as full:
        for seed in range(2, 200):
            store.add(f"job-{seed}", "alice", request(seed))
    assert full.value.path == str(path) and full.value.http_status == 507
    assert "database or disk is full" in str(full.value)
    store.remove("first")  # deleting needs no new page, and the connection is not left in a failed transaction
    store._connection.execute("PRAGMA max_page_count = 1073741823")  # space returns
    store.add("later", "bob", request(99))
    assert [job.id for job in store.pending()][-1] == "later"
    assert "first" not in {job.id for job in SqliteJobStore(path).pending()}


def test_other_database_errors_are_not_disk_full(tmp_path):
    store = SqliteJobStore(tmp_path / "queue.sqlite3")
    store._connection.execute("DROP TABLE jobs")
    with pytest.raises(sqlite3.OperationalError) as error:
        store.add("x", "alice", request(1))
    assert not isinstance(error.value, DiskFull)


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "tiny-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_on_a_really_full_disk(tiny_disk):
    path = tiny_disk / "queue.sqlite3"
    store = SqliteJobStore(path)
    store.add("first", "alice", request(1))
    stats = os.statvfs(tiny_disk)
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize))
    with pytest.raises(DiskFull) as full:
        for seed in range(2, 200):
            store.add(f"job-{seed}", "alice", request(seed))
    assert full.value.path == str(path)
    filler.unlink()
    store.add("later", "bob", request(99))
    assert {"first", "later"} <= {job.id for job in store.pending()}
