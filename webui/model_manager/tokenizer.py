"""The CLIP tokenizer of SD 1.x, rebuilt offline from the BPE vocabulary shipped in `clip-anytorch`.

SD 1.x uses openai/clip-vit-large-patch14's tokenizer. Rather than downloading it, we derive the same vocab and
merges from `bpe_simple_vocab_16e6.txt.gz` the way OpenAI's SimpleTokenizer does: the 256 byte-level unicode
characters, the same with "</w>", then the first 48,894 merges, then the two special tokens (49,408 entries).
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

from transformers import CLIPTokenizer

BPE_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
MAX_LENGTH = 77


def find_bpe_file() -> Path:
    """Locate the BPE file inside the installed `clip` package without importing it (it imports torchvision)."""
    spec = importlib.util.find_spec("clip")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / BPE_FILE_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{BPE_FILE_NAME} not found: install it with `pip install --no-deps clip-anytorch==2.6.0` "
        "(./launch.sh does this)")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable-unicode table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in characters), strict=True))


def _vocab_and_merges(bpe_file: Path) -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    lines = gzip.decompress(bpe_file.read_bytes()).decode("utf-8").split("\n")
    merges = tuple(_merge_pair(line) for line in lines[1:MERGE_COUNT + 1])
    alphabet = list(bytes_to_unicode().values())
    vocab_list = alphabet + [symbol + "</w>" for symbol in alphabet]
    vocab_list += ["".join(pair) for pair in merges]
    vocab_list += [START_TOKEN, END_TOKEN]
    return {token: index for index, token in enumerate(vocab_list)}, merges


def _merge_pair(line: str) -> tuple[str, str]:
    first, second = line.split()
    return first, second


def build_clip_tokenizer(bpe_file: Path | None = None) -> CLIPTokenizer:
    """Build the tokenizer (about a second); the model manager builds it once and shares it between loads."""
    vocab, merges = _vocab_and_merges(bpe_file or find_bpe_file())
    return CLIPTokenizer(
        vocab=dict(vocab), merges=list(merges), model_max_length=MAX_LENGTH,
        bos_token=START_TOKEN, eos_token=END_TOKEN, unk_token=END_TOKEN, pad_token=END_TOKEN,
    )
