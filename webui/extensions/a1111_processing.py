"""A1111's `p` (StableDiffusionProcessing) as a facade over our frozen `GenerationRequest`, and `Processed`.

Scripts read and write `p` with A1111's attribute names; `to_requests()` turns what they left into one request, or
one request per image when they gave images different prompts or seeds (`all_prompts`, `all_seeds`), so nothing a
script asked for is dropped. What A1111 offers and Kestrel cannot honour — the model's internals, `sd_hijack`,
`devices`, samplers' callbacks — raises `UnsupportedByKestrel` naming it, never a silent wrong result. Names a
script invents (`p.my_extension_state = ...`) are kept on the facade, as A1111 scripts expect.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

from webui.engine.request import MAX_SEED, RANDOM_SEED, GenerationRequest
from webui.infotext.format import format_value


class UnsupportedByKestrel(AttributeError):
    """An A1111 script reached for something Kestrel's `p` cannot honour (recorded on its extension)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unsupported by Kestrel: {name}")
        self.feature = name


UNSUPPORTED_P = frozenset({"sampler", "c", "uc", "rng", "step_multiplier", "cached_c", "cached_uc", "sd_vae_name",
                           "sd_vae_hash", "token_merging_ratio", "scripts", "script_args_value", "latents",
                           "init_latent", "image_conditioning", "extra_network_data", "modified_noise"})
SCALARS = {"prompt": "prompt", "negative_prompt": "negative_prompt", "seed": "seed", "width": "width",
           "height": "height", "steps": "steps", "cfg_scale": "cfg_scale", "sampler_name": "sampler_name",
           "scheduler": "scheduler", "batch_size": "batch_size", "n_iter": "batch_count", "subseed": "subseed",
           "subseed_strength": "subseed_strength", "seed_resize_from_w": "seed_resize_from_w",
           "seed_resize_from_h": "seed_resize_from_h"}


class CheckpointInfo:
    """`p.sd_model.sd_checkpoint_info`: the names and hashes A1111 exposes (all a script may read)."""

    def __init__(self, title: str, sha256: str | None) -> None:
        self.title = title
        self.name = self.model_name = self.name_for_extra = title.rsplit(" [", 1)[0].rsplit(".", 1)[0]
        self.filename = title
        self.sha256 = sha256
        self.shorthash = (sha256 or "")[:10] or None
        self.hash = (sha256 or "")[:8] or None


class ModelFacade:
    """`p.sd_model` / `shared.sd_model`: its name and hash; anything deeper is A1111's model object."""

    def __init__(self, title: str, sha256: str | None) -> None:
        self.sd_checkpoint_info = CheckpointInfo(title, sha256)
        self.sd_model_checkpoint = title
        self.sd_model_hash = (sha256 or "")[:10] or None
        self.is_sdxl, self.is_sd2, self.is_sd1 = False, False, True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise UnsupportedByKestrel(f"sd_model.{name}")


class Processing:
    """A1111's `p`. Built from a request; `to_requests()` reads back what the scripts changed."""

    def __init__(self, request: GenerationRequest, model: ModelFacade, outpath_samples: str,
                 report: Callable[[str], None] | None = None, is_img2img: bool = False) -> None:
        state = self.__dict__
        state["_request"] = request
        state["_report"] = report
        state["is_img2img"] = is_img2img
        for name, field in SCALARS.items():
            state[name] = getattr(request, field)
        if request.seed == RANDOM_SEED:  # A1111 fixes the seed before scripts see it
            state["seed"] = random.randrange(MAX_SEED)
        state.update(sd_model=model, outpath_samples=outpath_samples, outpath_grids=outpath_samples,
                     extra_generation_params={}, styles=[], restore_faces=bool(request.restore_faces), tiling=False,
                     do_not_save_samples=not request.save_images, do_not_save_grid=False, override_settings={},
                     script_args=(),
                     denoising_strength=request.img2img.denoising_strength if request.img2img else None,
                     enable_hr=request.hires is not None, clip_skip=request.clip_skip, iteration=0, batch_index=0,
                     all_subseeds=[], n_samples=None, sd_model_name=model.sd_checkpoint_info.name,
                     sd_model_hash=model.sd_model_hash, init_images=[request.img2img.image] if request.img2img
                     else None)
        state["all_prompts"] = [self.prompt] * self.image_count
        state["all_negative_prompts"] = [self.negative_prompt] * self.image_count
        state["all_seeds"] = [int(self.seed) + index for index in range(self.image_count)]
        state["_initial"] = self.per_image()

    @property
    def image_count(self) -> int:
        return int(self.batch_size) * int(self.n_iter)

    @property
    def request(self) -> GenerationRequest:
        return self.__dict__["_request"]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        feature = f"p.{name}"
        report = self.__dict__.get("_report")
        if report is not None:
            report(feature)
        raise UnsupportedByKestrel(feature)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in UNSUPPORTED_P:
            raise UnsupportedByKestrel(f"setting p.{name}")
        self.__dict__[name] = value

    def per_image(self) -> tuple:
        return (tuple(self.all_prompts), tuple(self.all_negative_prompts), tuple(self.all_seeds))

    def _changed_lists(self) -> bool:
        return self.per_image() != self.__dict__["_initial"]

    def infotext_fields(self) -> tuple[tuple[str, str], ...]:
        """`extra_generation_params` as infotext fields (None values are left out, as A1111 does)."""
        return tuple((str(key), format_value(value) if isinstance(value, str | int | float) else str(value))
                     for key, value in self.extra_generation_params.items()
                     if value is not None and not callable(value))

    def _scalar_request(self, **changes: Any) -> GenerationRequest:
        fields = {field: getattr(self, name) for name, field in SCALARS.items()}
        fields.update(changes)
        fields["seed"] = int(fields["seed"])
        return dataclasses.replace(self.request, **fields)

    def to_request(self) -> GenerationRequest:
        """One request for the whole job; per-image prompts or seeds cannot be one job, so they are refused by
        name (`process_images` splits them instead)."""
        if not self._changed_lists():
            return self._scalar_request()
        requests = self.to_requests()
        if len(requests) != 1:
            raise UnsupportedByKestrel("different prompts or seeds per image (p.all_prompts / p.all_seeds) "
                                       "inside one job; use them from a selectable script's run()")
        return requests[0]

    def to_requests(self) -> list[GenerationRequest]:
        """The requests that honour everything: one, or one per image when the per-image lists differ."""
        if not self._changed_lists():
            return [self._scalar_request()]
        prompts, negatives, seeds = (list(values) for values in self.per_image())
        count = max(len(prompts), len(negatives), len(seeds))
        prompts += [self.prompt] * (count - len(prompts))
        negatives += [self.negative_prompt] * (count - len(negatives))
        seeds += [int(self.seed) + index for index in range(len(seeds), count)]
        consecutive = all(seeds[index] == seeds[0] + index for index in range(count))
        if len(set(prompts)) == 1 and len(set(negatives)) == 1 and consecutive and count == self.image_count:
            return [self._scalar_request(prompt=prompts[0], negative_prompt=negatives[0], seed=seeds[0])]
        return [self._scalar_request(prompt=prompt, negative_prompt=negative, seed=int(seed), batch_size=1,
                                     batch_count=1) for prompt, negative, seed in zip(prompts, negatives, seeds,
                                                                                       strict=True)]


class Processed:
    """A1111's `Processed`: what `process_images` returns and `postprocess` receives."""

    def __init__(self, p: Processing, images_list: list, seed: int = -1, info: str = "", subseed: int | None = None,
                 all_prompts: list | None = None, all_seeds: list | None = None, infotexts: list | None = None,
                 index_of_first_image: int = 0, comments: str = "") -> None:
        self.images = list(images_list)
        self.prompt = p.prompt
        self.negative_prompt = p.negative_prompt
        self.seed = seed if seed != -1 else p.seed
        self.subseed = subseed
        self.info = info
        self.comments = comments
        self.width, self.height = p.width, p.height
        self.sampler_name, self.cfg_scale, self.steps = p.sampler_name, p.cfg_scale, p.steps
        self.batch_size = p.batch_size
        self.all_prompts = all_prompts or list(p.all_prompts)
        self.all_negative_prompts = list(p.all_negative_prompts)
        self.all_seeds = all_seeds or list(p.all_seeds)
        self.infotexts = infotexts or [info] * len(self.images)
        self.index_of_first_image = index_of_first_image
        self.extra_generation_params = dict(p.extra_generation_params)

    def js(self) -> str:
        import json

        return json.dumps({"prompt": self.prompt, "seed": self.seed, "all_seeds": self.all_seeds,
                           "infotexts": self.infotexts})


class PostprocessImageArgs:
    """`scripts.PostprocessImageArgs`: `pp.image` may be replaced by the script."""

    def __init__(self, image: Any) -> None:
        self.image = image
