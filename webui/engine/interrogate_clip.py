"""A1111's "Interrogate CLIP": a BLIP caption, then CLIP ViT-L/14's best matches from the category files.

As A1111 v1.10 does it (`modules/interrogate.py`, BLIP's `models/blip.py`):
- BLIP sees the image resized to 384×384 (bicubic, no crop), normalised with OpenAI's CLIP mean/std, and writes a
  caption by beam search after the prompt "a picture of " (`interrogate_clip_num_beams`, `_min_length`,
  `_max_length`, which count the prompt's tokens; no repetition penalty); the prompt is cut off the result;
- CLIP sees the image with its own preprocessing (shorter side to 224 bicubic, centre crop, same mean/std); for
  each category, image and text features are normalised and ranked by softmax(100 · image·text), top N taken.
Models load on first use and stay until `unload()` (the registry unloads after each call unless
`interrogate_keep_models_in_memory` is on). The categories' text features are cached while loaded, keyed by their
lines (A1111 recomputes them each call: the numbers are the same).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import BertTokenizer, BlipForConditionalGeneration, CLIPModel, CLIPTokenizer

from webui.engine.interrogate import CLIP, InterrogateModelMissing
from webui.engine.interrogate_clip_text import (
    A1111_CATEGORY_FILES,
    CATEGORY_SUFFIX,
    Category,
    ClipInterrogateOptions,
    category_names,
    format_interrogation,
    select_categories,
    strip_prompt,
)
from webui.model_manager.blip_weights import (
    blip_tokens,
    build_bert_tokenizer,
    build_blip_captioner,
    find_cached_bert_vocab,
)
from webui.model_manager.clip_weights import build_clip_model
from webui.model_manager.interrogate_models import read_nested_weights, read_weights
from webui.model_manager.tokenizer import build_clip_tokenizer

__all__ = ["ClipInterrogateFiles", "ClipInterrogateOptions", "ClipInterrogator"]

BLIP_FILE = "model_base_caption_capfilt_large.pth"
CLIP_FILE_STEM = "ViT-L-14"
CLIP_SUFFIXES = (".pt", ".safetensors", ".pth")
BERT_VOCAB = Path("bert-base-uncased") / "vocab.txt"  # under models/BLIP/
BLIP_PROMPT = "a picture of "
MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI's CLIP normalisation; BLIP uses the same numbers
STD = (0.26862954, 0.26130258, 0.27577711)
TEXT_BATCH = 256


@dataclass(frozen=True)
class ClipInterrogateFiles:
    """Where the interrogator's files are. `clip_folders`: searched in order for ViT-L-14 (A1111's
    `--clip-models-path`, default the clip package's `~/.cache/clip`; a missing file is named in the first).
    `hf_cache`: the Hugging Face cache searched for bert-base-uncased's vocab.txt when `bert_vocab` is absent (None:
    the hub's default cache, where A1111's download put it)."""

    blip: Path
    clip_folders: tuple[Path, ...]
    bert_vocab: Path
    categories: Path
    hf_cache: Path | None = None

    @classmethod
    def from_data_root(cls, root: Path, clip_models_path: Path | None = None, clip_cache: Path | None = None,
                       hf_cache: Path | None = None) -> ClipInterrogateFiles:
        """`clip_models_path` (A1111's flag) replaces `models/CLIP`; `clip_cache` (e.g. `~/.cache/clip`, where
        A1111 without the flag downloads it) is looked in after it."""
        models = root / "models"
        folders = (clip_models_path or models / "CLIP", *((clip_cache,) if clip_cache else ()))
        return cls(blip=models / "BLIP" / BLIP_FILE, clip_folders=folders, bert_vocab=models / "BLIP" / BERT_VOCAB,
                   categories=root / "interrogate", hf_cache=hf_cache)

    def clip_file(self) -> Path:
        """`ViT-L-14.pt` (OpenAI's archive), or a state dict beside it as `.safetensors`/`.pth`."""
        candidates = [folder / f"{CLIP_FILE_STEM}{suffix}" for folder in self.clip_folders for suffix in CLIP_SUFFIXES]
        return next((path for path in candidates if path.is_file()), candidates[0])

    def bert_vocab_file(self) -> Path | None:
        return self.bert_vocab if self.bert_vocab.is_file() else find_cached_bert_vocab(self.hf_cache)

    def category_files(self) -> list[Path]:
        if not self.categories.is_dir():
            return []
        return sorted(path for path in self.categories.iterdir()
                      if path.is_file() and path.name.endswith(CATEGORY_SUFFIX))

    def category_names(self) -> list[str]:
        """The choices of `interrogate_clip_skip_categories` (A1111's `category_types()`)."""
        return category_names(path.name for path in self.category_files())

    def missing(self) -> list[Path]:
        """Each file that is not there, with its folder; no category file at all names A1111's four."""
        missing = [path for path in (self.blip, self.clip_file()) if not path.is_file()]
        if self.bert_vocab_file() is None:
            missing.append(self.bert_vocab)
        if not self.category_files():
            missing.extend(self.categories / name for name in A1111_CATEGORY_FILES)
        return missing


@dataclass
class _Loaded:
    blip: BlipForConditionalGeneration
    bert: BertTokenizer
    clip: CLIPModel
    clip_tokenizer: CLIPTokenizer
    text_features: dict[tuple[str, ...], torch.Tensor] = field(default_factory=dict)


class ClipInterrogator:
    """Loads lazily on the first `interrogate`, keeps the models until `unload()`; one call at a time."""

    def __init__(self, files: ClipInterrogateFiles, device: torch.device, dtype: torch.dtype,
                 clip_tokenizer: CLIPTokenizer | None = None) -> None:
        self.files = files
        self.device = device
        self.dtype = dtype
        self._clip_tokenizer = clip_tokenizer
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def interrogate(self, image: Image.Image, options: ClipInterrogateOptions) -> str:
        with self._lock:
            loaded = self._load()
            categories = self._categories(options)
            rgb = image.convert("RGB")
            with torch.inference_mode():
                caption = self._caption(loaded, rgb, options)
                image_features = self._image_features(loaded, rgb)
                matches = [self._rank(loaded, image_features, category) for category in categories]
            return format_interrogation(caption, matches, options.return_ranks)

    def unload(self) -> None:
        with self._lock:
            self._loaded = None

    def _load(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        missing = self.files.missing()
        if missing:
            raise InterrogateModelMissing(CLIP, missing)
        vocab = self.files.bert_vocab_file()
        assert vocab is not None  # missing() checked it
        bert = build_bert_tokenizer(vocab)
        blip = build_blip_captioner(read_nested_weights(self.files.blip, "model"), blip_tokens(bert),
                                    self.files.blip, self.dtype, self.device)
        clip_path = self.files.clip_file()
        clip = build_clip_model(read_weights(clip_path), clip_path, self.dtype, self.device)
        tokenizer = self._clip_tokenizer or build_clip_tokenizer()
        self._loaded = _Loaded(blip=blip, bert=bert, clip=clip, clip_tokenizer=tokenizer)
        return self._loaded

    def _categories(self, options: ClipInterrogateOptions) -> list[Category]:
        texts = {path.name: path.read_text(encoding="utf-8", errors="replace")
                 for path in self.files.category_files()}
        return select_categories(texts, options)

    def _pixels(self, image: Image.Image, size: int, crop: bool) -> torch.Tensor:
        if crop:
            short = min(image.size)
            scaled = (max(size, int(size * image.width / short)), max(size, int(size * image.height / short)))
            image = image.resize(scaled, Image.Resampling.BICUBIC)
            left, top = round((image.width - size) / 2), round((image.height - size) / 2)
            image = image.crop((left, top, left + size, top + size))
        else:
            image = image.resize((size, size), Image.Resampling.BICUBIC)
        array = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        normalised = (array - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
        return normalised.unsqueeze(0).to(device=self.device, dtype=self.dtype)

    def _caption(self, loaded: _Loaded, image: Image.Image, options: ClipInterrogateOptions) -> str:
        pixels = self._pixels(image, loaded.blip.config.vision_config.image_size, crop=False)
        prompt = loaded.bert(BLIP_PROMPT, return_tensors="pt").input_ids.to(self.device)
        prompt_length = prompt.shape[1] - 1  # the trailing [SEP] is dropped before generating
        max_length = max(options.max_length, prompt_length + 1)
        output = loaded.blip.generate(pixel_values=pixels, input_ids=prompt, num_beams=options.num_beams,
                                      min_length=min(options.min_length, max_length), max_length=max_length,
                                      do_sample=False)
        decoded = loaded.bert.decode(output[0], skip_special_tokens=True)
        return strip_prompt(decoded, BLIP_PROMPT)

    def _image_features(self, loaded: _Loaded, image: Image.Image) -> torch.Tensor:
        pixels = self._pixels(image, loaded.clip.config.vision_config.image_size, crop=True)
        pooled = loaded.clip.vision_model(pixel_values=pixels).pooler_output
        features = loaded.clip.visual_projection(pooled).float()
        return features / features.norm(dim=-1, keepdim=True)

    def _text_features(self, loaded: _Loaded, items: tuple[str, ...]) -> torch.Tensor:
        cached = loaded.text_features.get(items)
        if cached is not None:
            return cached
        length = loaded.clip.config.text_config.max_position_embeddings
        batches = []
        for start in range(0, len(items), TEXT_BATCH):
            # Padded to the batch's longest line, not 77: CLIP's text attention is causal, so what follows the end
            # token (whose features are taken) cannot change them, and short lines cost a tenth.
            tokens = loaded.clip_tokenizer(list(items[start:start + TEXT_BATCH]), padding="longest",
                                           truncation=True, max_length=length, return_tensors="pt")
            pooled = loaded.clip.text_model(input_ids=tokens.input_ids.to(self.device)).pooler_output
            batches.append(loaded.clip.text_projection(pooled).float())
        features = torch.cat(batches)
        features = features / features.norm(dim=-1, keepdim=True)
        loaded.text_features[items] = features
        return features

    def _rank(self, loaded: _Loaded, image_features: torch.Tensor, category: Category) -> list[tuple[str, float]]:
        text_features = self._text_features(loaded, category.items)
        probabilities = (100.0 * image_features @ text_features.T).softmax(dim=-1).mean(dim=0)
        top = probabilities.topk(min(category.top_count, len(category.items)))
        return [(category.items[int(index)], float(value)) for value, index in zip(top.values, top.indices,
                                                                                  strict=True)]
