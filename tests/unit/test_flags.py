"""Flags keep A1111's names; a bad flag is an error with the usage and exit code 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from webui.config.flags import parse_flags

ROOT = Path(__file__).resolve().parents[2]


def test_a1111_flags_parse():
    options = parse_flags(["--port", "7000", "--listen", "--data-dir", "/srv/sd", "--ckpt-dir", "/ckpts",
                           "--ckpt", "/ckpts/a.safetensors", "--no-half-vae", "--xformers", "--medvram",
                           "--device", "cpu", "--precision", "full"])
    assert options.port == 7000 and options.listen and options.bind_address == "0.0.0.0"
    assert options.data_dir == Path("/srv/sd") and options.ckpt == Path("/ckpts/a.safetensors")
    assert options.no_half_vae and options.xformers and options.medvram and options.device == "cpu"


def test_defaults_bind_loopback_only():
    options = parse_flags([])
    assert (options.port, options.bind_address, options.autolaunch) == (7860, "127.0.0.1", False)


def test_conflicts_exit_with_code_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_flags(["--precision", "half", "--no-half"])
    assert exit_info.value.code == 2
    assert "--precision half cannot be combined with --no-half" in capsys.readouterr().err


def test_unknown_flag_from_the_command_line_prints_usage_and_exits_2():
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--lisen"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 2
    assert "usage: app.py" in result.stderr and "unrecognized arguments: --lisen" in result.stderr


def test_checkpoint_cache_budget_defaults_to_a_quarter_of_ram():
    from webui.app_options import checkpoint_cache_bytes

    assert checkpoint_cache_bytes(None, 24 * 1024**3) == 6 * 1024**3
    assert checkpoint_cache_bytes(2.5, 24 * 1024**3) == int(2.5 * 1024**3)
    assert parse_flags(["--ckpt-cache-gb", "0"]).ckpt_cache_gb == 0.0
    with pytest.raises(SystemExit):
        parse_flags(["--ckpt-cache-gb", "-1"])
