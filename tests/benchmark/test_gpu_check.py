"""bench/gpu_check.py's own logic on the CPU (`--dry`): the table, the exit status, the card emulation's fraction,
and its forced out-of-memory check run for real on the tiny model (it takes the leaner retry)."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_check", None)


def test_the_table_and_the_exit_status(gpu_check):
    rows = [gpu_check.Row("swap RAM -> VRAM", "cache hit", "0.100 s", True),
            gpu_check.Row("emulated card", "4 GB 768x768", "offload model, fp8", False, "out of memory")]
    table = gpu_check.format_table(rows)
    assert table.splitlines()[0].split() == ["check", "configuration", "value", "result", "note"]
    assert "FAIL" in table.splitlines()[3] and "ok" in table.splitlines()[2]
    assert gpu_check.exit_code(rows) == 1 and gpu_check.exit_code(rows[:1]) == 0 and gpu_check.exit_code([]) == 1
    failed = gpu_check.guarded("plans", "offload group", lambda: 1 / 0)
    assert not failed.ok and failed.note.startswith("ZeroDivisionError")


def test_card_emulation_fraction(gpu_check):
    assert gpu_check.memory_fraction(4, 16 * 1024**3) == 0.25
    assert gpu_check.memory_fraction(8, 6 * 1024**3) is None  # a smaller card cannot emulate a larger one


def test_without_cuda_the_real_run_fails_and_says_to_use_dry(gpu_check, capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA card")
    assert gpu_check.main(["--workdir", str(tmp_path)]) == 1
    assert "no CUDA device; run with --dry on a CPU" in capsys.readouterr().out


def test_dry_run_takes_the_leaner_retry(gpu_check, capsys, tmp_path):
    assert gpu_check.main(["--dry", "--only", "oom", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "out of memory; retried with VAE tiling" in out and "1/1 ok" in out
