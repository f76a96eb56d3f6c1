"""The scripts Kestrel runs over the API: "SD upscale", "X/Y/Z plot", "Prompts from file or textbox".

Each maps A1111's `script_args` positions onto our own typed values and sends ordinary jobs through the queue.
"""

from __future__ import annotations

import io
import random
import shlex
from dataclasses import replace
from typing import Any

from PIL import Image

from webui.api.scripts import ApiScript, ApiScripts, ScriptArg, ScriptRun, script_arg
from webui.engine.extras_request import ExtrasRequest
from webui.engine.request import MAX_SEED, RANDOM_SEED, GenerationRequest
from webui.engine.sd_upscale import (
    SdUpscaleArgs,
    combine_tiles,
    plan_upscale_tiles,
    tile_images,
    upscaled_size,
)
from webui.engine.xyz_plot import AXES, cell_requests, plot_axes
from webui.errors import FieldError
from webui.infotext.format import add_parameters
from webui.infotext.png import png_bytes_with_infotext
from webui.jobs.extras import ExtrasInput, ExtrasSpec
from webui.jobs.generation import GenerationOutput, SavedImage
from webui.jobs.tasks import job_result
from webui.storage.outputs import image_grid
from webui.storage.plot_grid import labelled_grid, side_by_side

# A1111 v1.10's X/Y/Z axis lists (scripts/xyz_grid.py `axis_options`, filtered per tab): the index a client sends
# as x_type/y_type/z_type is a position in these. Only the labels `webui.engine.xyz_plot.AXES` knows can run.
XYZ_COMMON_HEAD = ("Nothing", "Seed", "Var. seed", "Var. strength", "Steps")
XYZ_TXT2IMG = (*XYZ_COMMON_HEAD, "Hires steps", "CFG Scale", "Prompt S/R", "Prompt order", "Sampler",
               "Hires sampler", "Checkpoint name", "Negative Guidance minimum sigma", "Sigma Churn", "Sigma min",
               "Sigma max", "Sigma noise", "Schedule type", "Schedule min sigma", "Schedule max sigma",
               "Schedule rho", "Eta", "Clip skip", "Denoising", "Initial noise multiplier", "Extra noise",
               "Hires upscaler", "VAE", "Styles")
XYZ_IMG2IMG = (*XYZ_COMMON_HEAD, "CFG Scale", "Image CFG Scale", "Prompt S/R", "Prompt order", "Sampler",
               "Checkpoint name", "Negative Guidance minimum sigma", "Sigma Churn", "Sigma min", "Sigma max",
               "Sigma noise", "Schedule type", "Schedule min sigma", "Schedule max sigma", "Schedule rho", "Eta",
               "Clip skip", "Denoising", "Initial noise multiplier", "Extra noise", "Cond. Image Mask Weight",
               "VAE", "Styles")


def _saved(image, infotext: str, seed: int) -> SavedImage:
    return SavedImage(path=None, seed=seed, infotext=infotext, png=png_bytes_with_infotext(image, infotext))


def _first_seed(request: GenerationRequest) -> int:
    return request.seed if request.seed != RANDOM_SEED else random.Random().randrange(MAX_SEED)


# --- SD upscale -------------------------------------------------------------------------------------------------

def _sd_upscale_args(run: ScriptRun) -> SdUpscaleArgs:
    overlap = script_arg(run.args, 1, 64, int, "tile overlap")
    scale = script_arg(run.args, 3, 2.0, float, "scale factor")
    names = run.app.upscalers.names()
    chosen = run.args[2] if len(run.args) > 2 and run.args[2] is not None else names[0]
    if isinstance(chosen, int) and not isinstance(chosen, bool):
        if not 0 <= chosen < len(names):
            raise FieldError("script_args[2]", f"script_args[2] (upscaler) index {chosen} is out of range; "
                                               f"allowed: 0–{len(names) - 1} ({', '.join(names)})")
        chosen = names[chosen]
    by_lower = {name.lower(): name for name in names}
    if not isinstance(chosen, str) or chosen.lower() not in by_lower:
        raise FieldError("script_args[2]", f"script_args[2] (upscaler) {chosen!r} is not one of: {', '.join(names)}")
    try:
        return SdUpscaleArgs(overlap=overlap, upscaler=by_lower[chosen.lower()], scale=scale)
    except ValueError as error:
        raise FieldError(str(error).split(" ", 1)[0], str(error)) from error


async def run_sd_upscale(run: ScriptRun) -> GenerationOutput:
    """Upscale (an Extras job), then one img2img job per tile at seed, seed+1, ... (A1111 with batch size 1),
    then blend; `n_iter` makes that many upscales, the k-th starting at seed + k."""
    base = run.request
    if base.img2img is None:
        raise FieldError("script_name", "SD upscale is an img2img script")
    args = _sd_upscale_args(run)
    source = base.img2img.image.convert("RGB")
    if args.upscaler != "None":
        width, height = upscaled_size(source.size, args.scale)
        spec = ExtrasSpec(ExtrasRequest(resize_mode=1, upscaling_resize_w=width, upscaling_resize_h=height,
                                        upscaling_crop=False, upscaler_1=args.upscaler), (ExtrasInput(source),),
                          save=False)
        extras = await job_result(run.app.submit_extras(spec, run.owner))
        source = extras.outputs[0].image.convert("RGB")
    tiles = plan_upscale_tiles(source.size, base.width, base.height, args.overlap)
    pieces = tile_images(source, tiles)
    seed = _first_seed(base)
    results: list[SavedImage] = []
    first: GenerationOutput | None = None
    for iteration in range(base.batch_count):
        redrawn = []
        for index, piece in enumerate(pieces):
            request = replace(base, img2img=replace(base.img2img, image=piece), batch_size=1, batch_count=1,
                              seed=seed + iteration + index, save_images=False)  # tiles are never saved (A1111)
            output = await run.generate(request)
            first = first or output
            if output.interrupted or not output.images:
                return replace(output, images=tuple(results))
            redrawn.append(_png_image(output.images[0].png))
        combined = combine_tiles(source.size, tiles, redrawn)
        assert first is not None
        infotext = add_parameters(first.images[0].infotext, (("SD upscale overlap", args.overlap),
                                                             ("SD upscale upscaler", args.upscaler)))
        results.append(_saved(combined, infotext, seed + iteration))
    assert first is not None
    return replace(first, images=tuple(results))


def _png_image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


# --- X/Y/Z plot -------------------------------------------------------------------------------------------------

def _axis_label(run: ScriptRun, index: int) -> str:
    value = run.args[index] if index < len(run.args) else (1 if index == 0 else 0)
    labels = XYZ_IMG2IMG if run.is_img2img else XYZ_TXT2IMG
    where = f"script_args[{index}]"
    if isinstance(value, str):
        label = next((known for known in (*labels, *AXES) if known.lower() == value.strip().lower()), None)
        if label is None:
            raise FieldError(where, f"{where} (axis type) {value!r} is not one of: {', '.join(AXES)}")
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(labels):
        label = labels[value]
    else:
        raise FieldError(where, f"{where} (axis type) {value!r} must be an index 0–{len(labels) - 1} into A1111's "
                                "axis list or an axis name")
    if label not in AXES:
        raise FieldError(where, f"{where}: X/Y/Z axis {label!r} is not supported yet; supported: "
                                f"{', '.join(AXES)}")
    return label


def _axis_values(run: ScriptRun, index: int) -> str:
    """The axis's text values, or its dropdown list (A1111 reads the dropdown for axes with choices)."""
    text = run.args[index] if index < len(run.args) else ""
    dropdown = run.args[index + 1] if index + 1 < len(run.args) else None
    if not text and isinstance(dropdown, list) and dropdown:
        return ", ".join(f'"{item}"' if "," in str(item) else str(item) for item in dropdown)
    if text is None:
        return ""
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        raise FieldError(f"script_args[{index}]", f"script_args[{index}] (axis values) must be text, got {text!r}")
    return str(text)


async def run_xyz_plot(run: ScriptRun) -> GenerationOutput:
    """args: [x_type, x_values, x_values_dropdown, y_type, ..., z_values_dropdown, draw_legend,
    include_lone_images, include_sub_grids, ...]; the grid comes first in the images, then (include_lone_images)
    every cell's image."""
    specs = [(_axis_label(run, start), _axis_values(run, start + 1)) for start in (0, 3, 6)]
    draw_legend = script_arg(run.args, 9, True, bool, "draw legend")
    include_lone = script_arg(run.args, 10, False, bool, "include sub images")
    try:
        axes = plot_axes(specs)
        cells = cell_requests(run.request, axes, random.Random())
    except ValueError as error:
        raise FieldError("script_args", str(error)) from error
    outputs: list[GenerationOutput] = []
    for cell in cells:
        output = await run.generate(cell.request)
        if output.interrupted or not output.images:
            return replace(output, images=tuple(image for done in outputs for image in done.images))
        outputs.append(output)
    firsts = {(cell.x, cell.y, cell.z): _png_image(output.images[0].png) for cell, output in zip(cells, outputs,
                                                                                                   strict=True)}
    x_axis, y_axis, z_axis = axes
    grids = []
    for z, z_label in enumerate(z_axis.labels):
        rows = [[firsts[(x, y, z)] for x in range(len(x_axis.values))] for y in range(len(y_axis.values))]
        grids.append(labelled_grid(rows, x_axis.labels, y_axis.labels, title=z_label) if draw_legend
                     else image_grid([image for row in rows for image in row], rows=len(rows)))
    first_text = outputs[0].images[0].infotext
    grid = _saved(side_by_side(grids), first_text, outputs[0].images[0].seed)
    lone = [image for output in outputs for image in output.images] if include_lone else []
    return replace(outputs[0], images=(grid, *lone))


# --- Prompts from file or textbox -------------------------------------------------------------------------------

LINE_OPTIONS: dict[str, tuple[str, type]] = {  # A1111's `--tag value` options → our request field, type
    "prompt": ("prompt", str), "negative_prompt": ("negative_prompt", str), "seed": ("seed", int),
    "subseed": ("subseed", int), "subseed_strength": ("subseed_strength", float), "steps": ("steps", int),
    "cfg_scale": ("cfg_scale", float), "width": ("width", int), "height": ("height", int),
    "sampler_name": ("sampler_name", str), "batch_size": ("batch_size", int), "n_iter": ("batch_count", int),
    "sd_model": ("checkpoint", str), "seed_resize_from_w": ("seed_resize_from_w", int),
    "seed_resize_from_h": ("seed_resize_from_h", int), "tiling": ("tiling", bool),
}


def parse_prompt_line(line: str, number: int) -> dict[str, Any]:
    """A line of the box: a prompt, or A1111's `--prompt "…" --steps 3 …`; a bad option is a 422 naming the line
    (A1111 logs it and uses the whole line as the prompt — a client would never learn why)."""
    if "--" not in line:
        return {"prompt": line}
    where = f"script_args[3] line {number}"
    try:
        words = shlex.split(line)
    except ValueError as error:
        raise FieldError("script_args[3]", f"{where}: {error}") from error
    fields: dict[str, Any] = {}
    position = 0
    while position < len(words):
        word = words[position]
        tag = word[2:] if word.startswith("--") else None
        if tag not in LINE_OPTIONS or position + 1 >= len(words):
            raise FieldError("script_args[3]", f"{where}: {word!r} is not one of --{', --'.join(LINE_OPTIONS)} "
                                               "followed by a value")
        name, kind = LINE_OPTIONS[tag]
        position += 1
        if kind is str and tag in ("prompt", "negative_prompt"):
            start = position
            while position < len(words) and not words[position].startswith("--"):
                position += 1
            fields[name] = " ".join(words[start:position])
            continue
        raw = words[position]
        position += 1
        try:
            fields[name] = raw == "true" if kind is bool else kind(raw)
        except ValueError:
            raise FieldError("script_args[3]", f"{where}: --{tag} {raw!r} is not a {kind.__name__}") from None
    return fields


def _line_request(base: GenerationRequest, fields: dict[str, Any], position: str, number: int) -> GenerationRequest:
    prompt, negative = fields.pop("prompt", None), fields.pop("negative_prompt", None)
    updated = dict(fields)
    if prompt:
        updated["prompt"] = prompt if not base.prompt else (
            f"{prompt} {base.prompt}" if position == "start" else f"{base.prompt} {prompt}")
    if negative:
        updated["negative_prompt"] = negative if not base.negative_prompt else (
            f"{negative} {base.negative_prompt}" if position == "start" else f"{base.negative_prompt} {negative}")
    try:
        return replace(base, **updated)
    except ValueError as error:
        raise FieldError("script_args[3]", f"script_args[3] line {number}: {error}") from error


async def run_prompts_from_file(run: ScriptRun) -> GenerationOutput:
    """args: [iterate seed every line, same random seed for all lines, "start"/"end", the lines]: one job per
    line, its images in order."""
    iterate = script_arg(run.args, 0, False, bool, "iterate seed every line")
    same_seed = script_arg(run.args, 1, False, bool, "use same random seed for all lines")
    position = script_arg(run.args, 2, "start", str, "insert prompts at the")
    if position not in ("start", "end"):
        raise FieldError("script_args[2]", f"script_args[2] (insert prompts at the) {position!r} is not one of: "
                                           "start, end")
    text = script_arg(run.args, 3, "", str, "list of prompt inputs")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise FieldError("script_args[3]", "script_args[3] (list of prompt inputs) has no lines")
    base = run.request
    if (iterate or same_seed) and base.seed == RANDOM_SEED:
        base = replace(base, seed=random.Random().randrange(MAX_SEED))
    requests = []
    for number, line in enumerate(lines, start=1):
        requests.append(_line_request(base, parse_prompt_line(line, number), position, number))
        if iterate:
            base = replace(base, seed=(base.seed + base.image_count) % MAX_SEED)
    outputs: list[GenerationOutput] = []
    for request in requests:
        output = await run.generate(request)
        outputs.append(output)
        if output.interrupted:
            break
    return replace(outputs[0], images=tuple(image for output in outputs for image in output.images),
                   interrupted=outputs[-1].interrupted)


def builtin_api_scripts(upscaler_names: list[str] | None = None) -> ApiScripts:
    """The selectable scripts, with A1111's titles and argument lists (built per router: nothing at import)."""
    scripts = ApiScripts()
    names = tuple(upscaler_names or ("None", "Lanczos", "Nearest"))
    scripts.register(ApiScript("Prompts from file or textbox", run_prompts_from_file, (
        ScriptArg("Iterate seed every line", False), ScriptArg("Use same random seed for all lines", False),
        ScriptArg("Insert prompts at the", "start", choices=("start", "end")),
        ScriptArg("List of prompt inputs", ""))))
    scripts.register(ApiScript("X/Y/Z plot", run_xyz_plot, (
        ScriptArg("X type", 1), ScriptArg("X values", ""), ScriptArg("X values", None),
        ScriptArg("Y type", 0), ScriptArg("Y values", ""), ScriptArg("Y values", None),
        ScriptArg("Z type", 0), ScriptArg("Z values", ""), ScriptArg("Z values", None),
        ScriptArg("Draw legend", True), ScriptArg("Include Sub Images", False),
        ScriptArg("Include Sub Grids", False))))
    scripts.register(ApiScript("SD upscale", run_sd_upscale, (
        ScriptArg("", None), ScriptArg("Tile overlap", 64, 0, 256, 16),
        ScriptArg("Upscaler", names[0], choices=names), ScriptArg("Scale Factor", 2.0, 1.0, 4.0, 0.05)),
        txt2img=False))
    return scripts
