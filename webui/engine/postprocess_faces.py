"""Face restoration as post-processors: after each generated image (`restore_faces`) and in the Extras tab
(GFPGAN visibility, CodeFormer visibility and weight).

Generation: the face restorer the request names (A1111's `face_restoration_model` setting, or the job's
override_settings) runs on every image of a request whose `restore_faces` is true, and the image's infotext gets
`Face restoration: <model>` (right after Seed, where A1111 writes it: job_infotext puts it there). It
runs first (before extensions' steps), as A1111 restores faces right after decoding.

Extras: A1111's order is upscale (1000), GFPGAN (2000), CodeFormer (3000) — the upscaled image is restored.
Each blends the restored image over its input at its visibility (`Image.blend`) and writes A1111's keys
(`GFPGAN visibility`, `CodeFormer visibility`, `CodeFormer weight`, rounded to 3 places).
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from webui.engine.face_restore import FaceRestoreOptions, FaceRestorers
from webui.engine.postprocessors import PostprocessInput, PostProcessor, PostprocessResult, register_step
from webui.engine.registry import NamedRegistry
from webui.model_manager.face_models import CODEFORMER, GFPGAN

GENERATION_ORDER = 500    # before the default order (1000) of extensions' steps
GFPGAN_ORDER = 2500       # after the Extras upscale (postprocess.UPSCALE_ORDER = 2000), as A1111's 1000 → 2000
CODEFORMER_ORDER = 3000

OptionsReader = Callable[[], FaceRestoreOptions]


def generation_step(restorers: FaceRestorers, options: OptionsReader) -> Callable[[PostprocessInput],
                                                                                   PostprocessResult | None]:
    def restore(target: PostprocessInput) -> PostprocessResult | None:
        if target.generation is None or not target.generation.restore_faces:
            return None
        request, chosen = target.generation, options()  # the job's choice (admission filled it), else settings
        model = request.face_restoration_model or chosen.model
        weight = chosen.codeformer_weight if request.code_former_weight is None else request.code_former_weight
        image = restorers.restore(target.image, model, weight)
        return PostprocessResult(image, (("Face restoration", model),))
    return restore


def blended(source: Image.Image, restored: Image.Image, visibility: float) -> Image.Image:
    return restored if visibility >= 1.0 else Image.blend(source.convert("RGB"), restored, visibility)


def gfpgan_extras_step(restorers: FaceRestorers) -> Callable[[PostprocessInput], PostprocessResult | None]:
    def restore(target: PostprocessInput) -> PostprocessResult | None:
        request = target.extras
        if request is None or request.gfpgan_visibility <= 0:
            return None
        restored = restorers.restore(target.image, GFPGAN)
        return PostprocessResult(blended(target.image, restored, request.gfpgan_visibility),
                                 (("GFPGAN visibility", round(request.gfpgan_visibility, 3)),))
    return restore


def codeformer_extras_step(restorers: FaceRestorers) -> Callable[[PostprocessInput], PostprocessResult | None]:
    def restore(target: PostprocessInput) -> PostprocessResult | None:
        request = target.extras
        if request is None or request.codeformer_visibility <= 0:
            return None
        restored = restorers.restore(target.image, CODEFORMER, request.codeformer_weight)
        return PostprocessResult(blended(target.image, restored, request.codeformer_visibility),
                                 (("CodeFormer visibility", round(request.codeformer_visibility, 3)),
                                  ("CodeFormer weight", round(request.codeformer_weight, 3))))
    return restore


def register_face_steps(generation: NamedRegistry[PostProcessor], extras: NamedRegistry[PostProcessor],
                        restorers: FaceRestorers, options: OptionsReader) -> None:
    """One call from the composition root: the generation step and the two Extras steps."""
    register_step(generation, "face restoration", generation_step(restorers, options), order=GENERATION_ORDER)
    register_step(extras, "GFPGAN", gfpgan_extras_step(restorers), order=GFPGAN_ORDER)
    register_step(extras, "CodeFormer", codeformer_extras_step(restorers), order=CODEFORMER_ORDER)
