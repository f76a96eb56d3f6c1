"""At start, the App sweeps what interrupted saves (kill -9 during a PNG write) left behind, in every output
folder the settings name, and nothing else."""

from tests.support import copy_checkpoint
from webui.app_context import build_app
from webui.config.flags import CommandLineOptions


def test_build_app_removes_leftover_temp_files_of_interrupted_saves(tmp_path, tiny_checkpoint):
    data = tmp_path / "data"
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    elsewhere = tmp_path / "my-grids"  # a grids folder outside outputs/, as a user may configure
    (data / "config.json").write_text(f'{{"outdir_txt2img_grids": "{elsewhere}"}}', encoding="utf-8")
    day = data / "outputs" / "txt2img-images" / "2026-12-01"
    day.mkdir(parents=True)
    elsewhere.mkdir()
    stale = [day / ".00007-1234.png.k3j9x0qa.tmp", elsewhere / ".grid-0001.png.a1b2c3d4.tmp"]
    kept = [day / "00006-1233.png", day / "notes.tmp", day / ".hidden.tmp"]
    for path in [*stale, *kept]:
        path.write_bytes(b"x")
    app = build_app(CommandLineOptions(data_dir=data, device="cpu"), default_data_dir=data)
    try:
        assert [path.exists() for path in stale] == [False, False]
        assert [path.exists() for path in kept] == [True, True, True]
    finally:
        app.stop()
