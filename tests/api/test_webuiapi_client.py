"""The real PyPI client `webuiapi` against our server on 127.0.0.1 (--api, demo model)."""


import pytest
import webuiapi

from tests.support import copy_checkpoint
from webui.infotext.png import PARAMETERS_KEY


@pytest.fixture(scope="module")
def api(tmp_path_factory, tiny_checkpoint):
    from tests.support.netguard import MARKER
    from tests.support.server import Server

    data = tmp_path_factory.mktemp("client-data")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "anything-tiny.safetensors")
    from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint

    write_tiny_checkpoint(folder / "counterfeit-tiny.safetensors", TinySD1Spec(seed=8))
    from tests.support.upscaler_files import rrdb_new_layout, write_pth

    write_pth(data / "models" / "RealESRGAN" / "RealESRGAN_x4plus_anime_6B.pth", rrdb_new_layout(), "params_ema")
    from tests.interrogate.deepbooru_fixtures import write_tiny_deepbooru

    write_tiny_deepbooru(data / "models" / "torch_deepdanbooru" / "model-resnet_custom_v3.pt", ["1girl", "cat"],
                         ["1girl"])
    (data / "styles.csv").write_text('name,prompt,negative_prompt\nanime,"{prompt}, anime",lowres\n', "utf-8")
    server = Server(data, data / "server.log", ("--api",))
    server.wait_ready()
    yield webuiapi.WebUIApi(host="127.0.0.1", port=server.port, sampler="Euler a", steps=2)
    log = server.stop()
    assert MARKER not in log


def test_txt2img_images_carry_our_infotext(api):
    result = api.txt2img(prompt="1girl, silver hair", negative_prompt="lowres", seed=77, width=64, height=64,
                         steps=2, batch_size=2)
    assert len(result.images) == 2 and result.images[0].size == (64, 64)
    assert result.info["all_seeds"] == [77, 78]
    assert result.images[1].info[PARAMETERS_KEY] == result.info["infotexts"][1]
    assert "Seed: 78, Size: 64x64" in result.info["infotexts"][1]
    assert result.info["warnings"] == []  # webuiapi sends A1111's neutral values for every field: none is reported


def test_models_options_and_switching(api):
    titles = api.util_get_model_names()
    assert [title.split(" [")[0] for title in titles] == ["anything-tiny.safetensors", "counterfeit-tiny.safetensors"]
    assert api.util_get_current_model().startswith("anything-tiny.safetensors [")
    api.util_set_model("counterfeit")
    assert api.util_get_current_model().startswith("counterfeit-tiny.safetensors [")
    assert api.get_options()["sd_model_checkpoint"].startswith("counterfeit-tiny.safetensors [")
    api.set_options({"sd_model_checkpoint": titles[0]})
    assert api.util_get_current_model() == titles[0]
    api.refresh_checkpoints()
    assert len(api.get_sd_models()) == 2


def test_lists_progress_interrupt_and_png_info(api):
    assert "Euler a" in api.util_get_sampler_names() and "DPM++ 2M" in api.util_get_sampler_names()
    assert "Karras" in [scheduler["label"] for scheduler in api.get_schedulers()]
    progress = api.get_progress()
    assert progress["progress"] == 0.0 and progress["state"]["job_count"] == 0
    api.interrupt()
    image = api.txt2img(prompt="a cat", seed=3, width=64, height=64, steps=2).image
    info = api.png_info(image)
    assert info.info.startswith("a cat\nSteps: 2, Sampler: Euler a") and info.parameters["Seed"] == "3"


def test_img2img_with_and_without_a_mask(api):
    from PIL import Image

    init = Image.new("RGB", (64, 64), (200, 60, 60))
    plain = api.img2img(images=[init], prompt="1girl", seed=5, width=64, height=64, steps=4,
                        denoising_strength=0.5)
    assert plain.images[0].size == (64, 64) and plain.info["warnings"] == []
    assert "Denoising strength: 0.5" in plain.images[0].info[PARAMETERS_KEY]
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    masked = api.img2img(images=[init], mask_image=mask, prompt="1girl", seed=5, width=64, height=64, steps=4,
                         denoising_strength=0.8, mask_blur=0, inpainting_fill=1, inpaint_full_res=False)
    result = masked.images[0].convert("RGB")
    assert result.getpixel((60, 30)) == (200, 60, 60)  # right half unmasked: untouched
    assert "Mask blur: 0" in masked.info["infotexts"][0] and masked.info["warnings"] == []


def test_extras_through_the_client(api):
    from PIL import Image

    assert "R-ESRGAN 4x+ Anime6B" in [upscaler["name"] for upscaler in api.get_upscalers()]
    source = Image.new("RGB", (32, 24), (20, 120, 220))
    single = api.extra_single_image(source, upscaling_resize=2, upscaler_1="R-ESRGAN 4x+ Anime6B")
    assert single.image.size == (64, 48)
    infotext = "Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B"
    assert single.image.info["postprocessing"] == infotext and single.info == f"<p>{infotext}</p>"
    batch = api.extra_batch_images([source, source.resize((16, 16))], resize_mode=1, upscaling_resize_w=48,
                                   upscaling_resize_h=48, upscaler_1="R-ESRGAN 4x+ Anime6B", upscaler_2="Lanczos",
                                   extras_upscaler_2_visibility=0.5)
    assert [image.size for image in batch.images] == [(48, 48), (48, 48)]
    try:
        api.extra_single_image(source, upscaler_1="SuperResolution 9000")
    except RuntimeError as error:
        assert error.args[0] == 422 and "is not one of: None, Lanczos, Nearest, R-ESRGAN 4x+ Anime6B" in error.args[1]
    else:
        raise AssertionError("an unknown upscaler must be refused")


def test_the_other_methods_for_routes_we_have(api):
    """The rest of webuiapi 0.9.17's methods whose routes exist here (async_post needs aiohttp, which is not
    installed; get_artists/get_artist_categories and promptgen are routes A1111 dropped or an extension's)."""
    from PIL import Image

    assert [entry["name"] for entry in api.get_samplers()] == [
        entry["name"] for entry in api.session.get(f"{api.baseurl}/samplers").json()]
    assert "karras" in api.util_get_scheduler_names()
    assert api.get_prompt_styles() == [{"name": "anime", "prompt": "{prompt}, anime", "negative_prompt": "lowres"}]
    assert [model["name"] for model in api.get_realesrgan_models()] == ["R-ESRGAN 4x+ Anime6B"]
    assert api.get_sd_vae() == [] and api.get_loras() == [] and api.get_hypernetworks() == []
    assert api.get_face_restorers() == []  # none installed here (tests/face lists them)
    assert "Latent (nearest-exact)" in [mode["name"] for mode in api.get_latent_upscale_modes()]
    assert api.get_embeddings() == {"loaded": {}, "skipped": {}}
    assert set(api.get_memory()) == {"ram", "cuda"} and api.get_memory()["ram"]["total"] > 0
    assert api.get_cmd_flags()["api"] is True
    assert "sd upscale" in api.get_scripts()["img2img"]
    api.check_extensions()
    assert api.has_controlnet is False  # it looks for "controlnet m2m", a script we do not have
    api.skip()
    api.util_wait_for_ready(check_interval=0.1)
    face = Image.new("RGB", (64, 64), (200, 60, 60))
    assert api.interrogate(face, model="deepdanbooru").info == "1girl"
    try:
        api.interrogate(face)  # CLIP: no BLIP/CLIP files here
    except RuntimeError as error:
        assert error.args[0] == 422 and "model_base_caption_capfilt_large.pth" in error.args[1]
    else:
        raise AssertionError("CLIP without its files must be a 422 naming them")
    assert api.controlnet_version() == 2 and api.controlnet_model_list() == ["None"]
    assert "canny" in api.controlnet_module_list()
    detected = api.controlnet_detect([face], module="invert")  # webuiapi sends controlnet_images
    assert detected.info == "Success" and [image.size for image in detected.images] == [(64, 64)]
    upscaled = api.img2img(images=[face], prompt="x", width=64, height=64, script_name="sd upscale",
                           script_args=["", 8, "Lanczos", 2.0])
    assert upscaled.image.size == (128, 128)
    tiled = api.txt2img(prompt="x", width=64, height=64, tiling=True)
    assert "Tiling: True" in tiled.info["infotexts"][0] and tiled.info["warnings"] == []
