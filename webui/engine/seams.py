"""Where new work plugs into a generation job: pipeline variants, conditioning steps and post-processors.

`EngineSeams` holds the engine's own registries (the built-in variants; code that builds an engine may register
more) and, separately, what extensions contributed (`EngineContributions`, implemented by
`webui.extensions.registry.Extensions`). Extensions' entries are kept out of the engine's registries on purpose:
they belong to the app that loaded them, carry a failure report (isolation), and are asked for per job, so
loading extensions twice (a second app over the same engine, as the tests do) never collides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from webui.engine.conditioning_steps import ConditioningStep, conditioning_registry
from webui.engine.postprocess import extras_postprocessors
from webui.engine.postprocessors import PostProcessor, postprocessor_registry
from webui.engine.registry import Entry, NamedRegistry
from webui.engine.variant_registry import PipelineVariant
from webui.engine.variants import default_variants


class EngineContributions(Protocol):
    """Entries contributed from outside the engine (extensions), each with its failure report."""

    def pipeline_variants(self) -> Sequence[Entry[PipelineVariant]]: ...

    def conditioning_steps(self) -> Sequence[Entry[ConditioningStep]]: ...

    def postprocessors(self) -> Sequence[Entry[PostProcessor]]: ...


class NoContributions:
    def pipeline_variants(self) -> Sequence[Entry[PipelineVariant]]:
        return ()

    def conditioning_steps(self) -> Sequence[Entry[ConditioningStep]]:
        return ()

    def postprocessors(self) -> Sequence[Entry[PostProcessor]]:
        return ()


class EngineSeams:
    """The engine's registries plus the contributions in force; every accessor answers for one job."""

    def __init__(self, variants: NamedRegistry[PipelineVariant] | None = None,
                 conditioning: NamedRegistry[ConditioningStep] | None = None,
                 postprocessors: NamedRegistry[PostProcessor] | None = None,
                 extras: NamedRegistry[PostProcessor] | None = None) -> None:
        self.variants = variants if variants is not None else default_variants()
        self.conditioning = conditioning if conditioning is not None else conditioning_registry()
        self.postprocessors = postprocessors if postprocessors is not None else postprocessor_registry()
        self.extras = extras if extras is not None else extras_postprocessors()
        self._contributions: EngineContributions = NoContributions()

    def attach(self, contributions: EngineContributions) -> None:
        """Use these contributions from the next job on (the extension loader calls this once it has loaded)."""
        self._contributions = contributions

    def variant_entries(self) -> list[Entry[PipelineVariant]]:
        """Built-ins first, contributions after: the latest registered that accepts a request runs it."""
        return [*self.variants.entries(), *self._contributions.pipeline_variants()]

    def conditioning_entries(self) -> list[Entry[ConditioningStep]]:
        return [*self.conditioning.entries(), *self._contributions.conditioning_steps()]

    def postprocessor_entries(self) -> list[Entry[PostProcessor]]:
        """After each generated image is decoded."""
        return [*self.postprocessors.entries(), *self._contributions.postprocessors()]

    def extras_entries(self) -> list[Entry[PostProcessor]]:
        """The Extras tab: its built-in upscale plus the contributed steps (a step tells the two apart by
        which of `generation` / `extras` its input carries)."""
        return [*self.extras.entries(), *self._contributions.postprocessors()]
