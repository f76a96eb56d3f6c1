"""The data directory in A1111's layout.

`--data-dir` is the root of user data, exactly as in A1111: `models/`, `embeddings/`, `outputs/`, `extensions/`,
`config.json`, `cache.json`. Nothing here touches the disk until `ensure_folders` is called at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UPSCALER_FOLDER_NAMES = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "ScuNET")


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def checkpoints(self) -> Path:
        return self.models / "Stable-diffusion"

    @property
    def vae(self) -> Path:
        return self.models / "VAE"

    @property
    def lora(self) -> Path:
        return self.models / "Lora"

    @property
    def upscaler_folders(self) -> dict[str, Path]:
        """A1111's upscaler model folders, by upscaler family (each `models/<name>/`)."""
        return {name: self.models / name for name in UPSCALER_FOLDER_NAMES}

    @property
    def extras_outputs(self) -> Path:
        return self.outputs / "extras-images"

    @property
    def embeddings(self) -> Path:
        return self.root / "embeddings"

    @property
    def controlnet_folders(self) -> tuple[Path, ...]:
        """Where sd-webui-controlnet finds models: `models/ControlNet/`, then its own `models/` folder."""
        return (self.models / "ControlNet", self.extensions / "sd-webui-controlnet" / "models")

    @property
    def annotator_folders(self) -> tuple[Path, ...]:
        """Where preprocessor weights are looked for (the extension downloads them into the second)."""
        return (self.models / "ControlNet" / "annotator", self.extensions / "sd-webui-controlnet" / "annotator" /
                "downloads")

    @property
    def extensions(self) -> Path:
        return self.root / "extensions"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def styles_file(self) -> Path:
        return self.root / "styles.csv"

    @property
    def config_file(self) -> Path:
        return self.root / "config.json"

    @property
    def cache_file(self) -> Path:
        return self.root / "cache.json"

    def ensure_folders(self) -> None:
        """Create the A1111 folder skeleton (idempotent); called once by the composition root."""
        for folder in (self.checkpoints, self.vae, self.lora, self.embeddings, self.extensions, self.outputs,
                       self.controlnet_folders[0],
                       *self.upscaler_folders.values()):
            folder.mkdir(parents=True, exist_ok=True)
