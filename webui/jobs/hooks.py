"""The seam through which extensions (or anything above this layer) take part in a generation job.

The jobs layer defines the protocol and calls it; `webui.extensions` implements it. Jobs never import extensions:
the composition root hands an implementation to `GenerationService`. Two points, both on the device thread while
the job runs: before generation (the request may be replaced — it is frozen, so a hook returns a new one) and after
each image (extra infotext fields; the image itself is not changed here).

Extension API v2's seams (pipeline variants, conditioning steps, post-processors that do change the image) do not
pass through here: they plug into the engine (`webui.engine.seams.EngineContributions`), which runs them inside
`GenerationEngine.generate`, so this protocol — and every v1 extension — stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from webui.engine.request import GenerationRequest

InfotextFields = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FinishedImage:
    """One image of a job, before it is encoded and saved."""

    image: Any               # the PIL image
    seed: int
    index: int               # position in the job (0-based, over all batches)
    infotext: str
    request: GenerationRequest
    owner: str


class GenerationHooks(Protocol):
    def before_generation(self, request: GenerationRequest, owner: str) -> GenerationRequest:
        """The request the job will really run (the same object when nothing changes it)."""
        ...

    def after_image(self, image: FinishedImage) -> InfotextFields:
        """Extra infotext fields for this image, in order (empty when nothing is added)."""
        ...


class NoHooks:
    """What a service built without extensions uses."""

    def before_generation(self, request: GenerationRequest, owner: str) -> GenerationRequest:
        return request

    def after_image(self, image: FinishedImage) -> InfotextFields:
        return ()
