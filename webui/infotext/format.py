"""A1111's infotext: the "parameters" text stored in every image (pure).

The format is a contract that other tools parse (A1111's PNG Info, civitai, image browsers):

    <prompt, may span lines>
    Negative prompt: <negative prompt>          (line omitted when the negative prompt is empty)
    Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1, Size: 512x512, ...

Pairs are joined with ", ", entries whose value is None are left out, a value holding ",", ":" or a newline is
JSON-quoted, an entry whose value equals its key is written bare, and the whole text is stripped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


def quote(value: object) -> str:
    """Quote a parameter value the way A1111 does, so its parser can split the line on commas."""
    text = format_value(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def format_value(value: object) -> str:
    """Numbers as A1111's UI writes them: a whole float loses its ".0" (CFG scale: 7, not 7.0)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parameters_line(parameters: Mapping[str, object | None]) -> str:
    """Join ordered parameters into A1111's single "key: value, ..." line."""
    parts = []
    for key, value in parameters.items():
        if value is None:
            continue
        parts.append(key if key == value else f"{key}: {quote(value)}")
    return ", ".join(parts)


def add_parameters(infotext: str, extra: tuple[tuple[str, object | None], ...]) -> str:
    """Append fields to an infotext's parameters line, before its closing "Version" field when there is one (where
    A1111 puts extension fields). Keys already present are left as they were: a field cannot be overwritten."""
    if not extra:
        return infotext
    head, separator, last = infotext.rpartition("\n")
    present = {part.split(":", 1)[0].strip() for part in last.split(", ")}
    added = parameters_line({key: value for key, value in extra if key not in present})
    if not added:
        return infotext
    before, marker, version = last.rpartition(", Version: ")
    line = f"{before}, {added}{marker}{version}" if marker else f"{last}, {added}"
    return f"{head}{separator}{line}"


def create_infotext(prompt: str, negative_prompt: str, parameters: Mapping[str, object | None]) -> str:
    negative_part = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative_part}\n{parameters_line(parameters)}".strip()


@dataclass(frozen=True)
class GenerationInfo:
    """The values an infotext records, in A1111's key order: its base keys, then the job's extra keys (hires fix,
    inpaint settings, LoRA and embedding hashes) in the order the job added them, then Version."""

    prompt: str
    negative_prompt: str
    steps: int
    sampler: str
    schedule_type: str
    cfg_scale: float
    seed: int
    width: int
    height: int
    model_hash: str | None
    model_name: str | None
    version: str | None
    vae_hash: str | None = None   # only when an external VAE file is in force, as in A1111
    vae_name: str | None = None
    denoising_strength: float | None = None   # img2img, inpaint and the hires pass
    clip_skip: int = 1                         # written only when > 1, as A1111 does
    variation_seed: int | None = None          # A1111 writes these three only when variation seeds are in use
    variation_strength: float | None = None
    seed_resize_from: str | None = None        # "WxH"
    ensd: int | None = None                    # only for samplers whose noise it changes, and when not 0
    rng: str | None = None                     # "CPU" / "NV"; absent for A1111's default "GPU"
    face_restoration: str | None = None        # the restorer's name when restore_faces is on
    extras: tuple[tuple[str, object | None], ...] = ()

    def parameters(self) -> dict[str, object | None]:
        return {
            "Steps": self.steps,
            "Sampler": self.sampler,
            "Schedule type": self.schedule_type,
            "CFG scale": self.cfg_scale,
            "Seed": self.seed,
            "Face restoration": self.face_restoration,
            "Size": f"{self.width}x{self.height}",
            "Model hash": self.model_hash,
            "Model": self.model_name,
            "VAE hash": self.vae_hash,
            "VAE": self.vae_name,
            "Variation seed": self.variation_seed,
            "Variation seed strength": self.variation_strength,
            "Seed resize from": self.seed_resize_from,
            "Denoising strength": self.denoising_strength,
            "Clip skip": self.clip_skip if self.clip_skip > 1 else None,
            "ENSD": self.ensd,
            "RNG": self.rng,
            **dict(self.extras),
            "Version": self.version,
        }

    def text(self) -> str:
        return create_infotext(self.prompt, self.negative_prompt, self.parameters())
