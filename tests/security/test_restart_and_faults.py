"""Faults a shared server survives: a restart with jobs waiting, a full disk while saving."""

import json
import os
import sqlite3
import subprocess
import threading

import httpx
import pytest

from tests.security.test_lan_server import tiny_job, wait_until
from tests.support import copy_checkpoint


def data_dir_with_model(tmp_path, tiny_checkpoint):
    folder = tmp_path / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "tiny.safetensors")
    return tmp_path


def saved_pngs(data):
    return sorted((data / "outputs" / "txt2img-images").rglob("*.png"))


def test_jobs_waiting_at_a_restart_run_after_it(tmp_path, tiny_checkpoint, start_server):
    data = data_dir_with_model(tmp_path / "data", tiny_checkpoint)
    server = start_server(data, "--api")
    http = httpx.Client(base_url=server.url, timeout=120)
    jobs = [tiny_job(steps=150, width=128, height=128, seed=1), tiny_job(seed=2), tiny_job(seed=3)]
    answers: dict[int, httpx.Response] = {}
    threads = [threading.Thread(target=lambda body=body: _post_ignoring_disconnect(http, body, answers), daemon=True)
               for body in jobs]
    threads[0].start()
    assert wait_until(lambda: http.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0)
    for thread in threads[1:]:
        thread.start()
    assert wait_until(lambda: http.get("/sdapi/v1/progress").json()["state"]["job_count"] == 3)
    server.stop()
    for thread in threads:
        thread.join(30)
    # every waiting client, the running job's too, is told its job is kept (not a 200 with no images)
    assert sorted(answers) == [1, 2, 3]
    for answer in answers.values():
        assert answer.status_code == 503 and "kept and will run after the restart" in answer.json()["detail"]
    with sqlite3.connect(data / "queue.sqlite3") as store:
        assert store.execute("SELECT count(*) FROM jobs").fetchone()[0] == 3
    assert saved_pngs(data) == []  # API jobs do not save by default, and none had finished

    restarted = start_server(data, "--api")
    assert wait_until(lambda: len(saved_pngs(data)) == 3, timeout=180), restarted.log_path.read_text()[-3000:]
    assert sorted(path.stem.split("-")[1] for path in saved_pngs(data)) == ["1", "2", "3"]
    with sqlite3.connect(data / "queue.sqlite3") as store:
        assert wait_until(lambda: store.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0)
    assert "restored 3 queued job(s)" in restarted.log_path.read_text()


def _post_ignoring_disconnect(http, body, answers=None):
    try:
        answer = http.post("/sdapi/v1/txt2img", json=body)
    except httpx.HTTPError:
        return  # the server went away under us: that is the point
    if answers is not None:
        answers[body["seed"]] = answer


def _mounted_tmpfs(mount_point, size: str):
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill: {mounted.stderr.strip()}")
    return mount_point


@pytest.fixture
def tiny_disk(tmp_path):
    yield _mounted_tmpfs(tmp_path / "tiny-disk", "256k")
    subprocess.run(["umount", "-l", str(tmp_path / "tiny-disk")], check=False)


@pytest.fixture
def small_disk(tmp_path):
    yield _mounted_tmpfs(tmp_path / "small-disk", "64m")
    subprocess.run(["umount", "-l", str(tmp_path / "small-disk")], check=False)


def test_a_full_job_store_disk_is_507_for_saving_jobs_while_jobs_that_save_nothing_run(tiny_checkpoint,
                                                                                       start_server, small_disk):
    data = data_dir_with_model(small_disk / "data", tiny_checkpoint)  # queue.sqlite3 lives on the small disk
    server = start_server(data, "--api")
    filler = small_disk / "filler"
    with httpx.Client(base_url=server.url, timeout=120) as http:
        assert http.post("/sdapi/v1/txt2img", json=tiny_job(seed=1)).status_code == 200
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * free)  # nothing left: the job store cannot take a new row
        refused = http.post("/sdapi/v1/txt2img", json=tiny_job(seed=2, save_images=True))
        assert refused.status_code == 507 and "queue.sqlite3" in refused.json()["detail"], refused.text
        unsaved = http.post("/sdapi/v1/txt2img", json=tiny_job(seed=3))  # saves nothing: runs unstored
        assert unsaved.status_code == 200 and json.loads(unsaved.json()["info"])["all_seeds"] == [3]
        filler.unlink()  # space is back: the store recovers without a restart
        saved = http.post("/sdapi/v1/txt2img", json=tiny_job(seed=4, save_images=True))
        assert saved.status_code == 200, saved.text
        assert len(list((data / "outputs").rglob("*-4.png"))) == 1


def test_a_full_disk_fails_the_job_cleanly_and_the_server_goes_on(tmp_path, tiny_checkpoint, start_server,
                                                                   tiny_disk):
    data = data_dir_with_model(tmp_path / "data", tiny_checkpoint)
    outputs = tiny_disk / "outputs"
    (data / "config.json").write_text(f'{{"outdir_txt2img_samples": "{outputs}"}}', encoding="utf-8")
    server = start_server(data, "--api")
    filler = tiny_disk / "filler"
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    filler.write_bytes(b"\0" * (free - 8 * 1024))  # leave a few KB: less than one 256x256 PNG of noise
    with httpx.Client(base_url=server.url, timeout=120) as http:
        failed = http.post("/sdapi/v1/txt2img", json=tiny_job(width=256, height=256, save_images=True, seed=9))
        assert failed.status_code == 507 and "No space left on device" in failed.json()["detail"]
        assert str(outputs) in failed.json()["detail"]  # names the disk that is full
        assert [path.name for path in outputs.rglob("*") if path.is_file()] == []  # no half-written PNG, no temp
        assert http.post("/sdapi/v1/txt2img", json=tiny_job(seed=10)).status_code == 200  # still serving
        filler.unlink()
        saved = http.post("/sdapi/v1/txt2img", json=tiny_job(save_images=True, seed=11))
        assert saved.status_code == 200 and len(list(outputs.rglob("*-11.png"))) == 1
