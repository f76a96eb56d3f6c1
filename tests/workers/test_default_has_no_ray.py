"""Ray is optional: without --workers / --ray-address nothing imports it, and the flags say what they take."""

import subprocess
import sys
from pathlib import Path

import pytest

from webui.config.flags import parse_flags

ROOT = Path(__file__).resolve().parents[2]
PROBE = r"""
import shutil, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from webui.app_context import build_app
from webui.config.flags import parse_flags
from webui.engine.request import GenerationRequest
from webui.jobs.tasks import wait_result
data = Path(sys.argv[2])
app = build_app(parse_flags(["--data-dir", str(data), "--device", "cpu", "--ckpt", sys.argv[3]]), data)
app.start()
try:
    job = app.submit_generation(GenerationRequest(prompt="a cat", steps=1, width=64, height=64), "tester")
    wait_result(job, 120)
finally:
    app.stop()
print("RAY" if any(name == "ray" or name.startswith("ray.") for name in sys.modules) else "NO RAY")
"""


def test_the_in_process_worker_never_imports_ray(tmp_path, tiny_checkpoint):
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), str(tmp_path), str(tiny_checkpoint)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "NO RAY"


def test_worker_flags():
    options = parse_flags(["--workers", "2", "--worker-threads", "1"])
    assert (options.workers, options.worker_threads, options.ray_address) == (2, 1, None)
    assert parse_flags(["--ray-address", "10.0.0.5:6379"]).ray_address == "10.0.0.5:6379"
    assert parse_flags([]).workers == 0
    with pytest.raises(SystemExit):
        parse_flags(["--workers", "-1"])
