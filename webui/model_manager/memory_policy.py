"""Every precision and memory decision in one pure function: (device, flags) → MemoryPlan.

Kept free of torch so it can be tested for any card on a CPU-only machine. The defaults aim at the 4–8 GB cards
our users own: fp16 on CUDA (fp32 on CPU, where fp16 is slow and partly unsupported), PyTorch SDPA attention
(memory-efficient already; slicing on CPU is slower and no smaller), and offloading only when VRAM is short.
Flags with A1111's names override the defaults; impossible requests are errors that say why.

The modes are `Literal` types whose values are the strings logs, infotext, the benchmark and the tests already use,
so a typo is a type error and nothing that prints them changes. The plan also carries the device properties the
engine needs (name, VRAM, where generators and prompt encoding run), so nothing below it probes the device again.

The 4 GB levers: fp8 weight storage (A1111's `fp8_storage` setting; the UNet's Linear/Conv weights kept as
float8_e4m3fn and cast layer by layer to the compute dtype), chosen by itself on cards of 4 GB or less; group
offload (blocks moved to the card ahead of use on a CUDA stream) between model offload and sequential offload; and
bf16 on CPUs whose instruction set runs it natively (AVX-512 BF16 or AMX), where it is faster than fp32.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

DeviceKind = Literal["cpu", "cuda"]
Dtype = Literal["fp32", "fp16", "bf16"]
AttentionMode = Literal["sdpa", "xformers", "sliced", "classic"]
OffloadMode = Literal["none", "model", "group", "sequential"]
DEVICE_KINDS: tuple[DeviceKind, ...] = get_args(DeviceKind)
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
ATTENTION_MODES: tuple[AttentionMode, ...] = get_args(AttentionMode)
OFFLOAD_MODES: tuple[OffloadMode, ...] = get_args(OffloadMode)

SEQUENTIAL_AT_OR_BELOW_MB = 2 * 1024  # at or below this, only layer-by-layer offload fits SD 1.x with activations
SMALL_CARD_MB = 3 * 1024      # below this, blocks are moved in groups (group offload) and attention is sliced
MEDIUM_CARD_MB = 5 * 1024     # below this, keep one model on the card at a time (A1111's --medvram)
FP8_AT_OR_BELOW_MB = 4 * 1024  # at or below this, the UNet's weights are stored in fp8 (half of fp16's bytes)
VAE_SLICING_BELOW_MB = 6 * 1024
FP8_STORAGE_CHOICES = ("Disable", "Enable for SDXL", "Enable")  # A1111's `fp8_storage` values, its infotext too
FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})     # /proc/cpuinfo flags of native bf16 arithmetic


class MemoryPolicyError(ValueError):
    """The flags ask for something this device cannot do."""


@dataclass(frozen=True)
class DeviceInfo:
    kind: str                      # "cpu" or "cuda" (checked by plan_memory: it comes from the command line)
    name: str = "cpu"
    total_vram_mb: int | None = None
    xformers_available: bool = False
    cpu_flags: frozenset[str] = frozenset()  # /proc/cpuinfo's "flags" (see `cpu_flags_from_cpuinfo`)


@dataclass(frozen=True)
class PrecisionFlags:
    no_half: bool = False
    no_half_vae: bool = False
    precision: str = "autocast"
    xformers: bool = False
    opt_sdp_attention: bool = False
    opt_split_attention: bool = False
    medvram: bool = False
    lowvram: bool = False
    fp8_storage: str = "Disable"       # A1111's setting: one of FP8_STORAGE_CHOICES
    cache_fp16_weight: bool = False    # A1111's setting: keep the UNet's unquantised weights in RAM beside fp8
    no_auto_fp8: bool = False          # --no-auto-fp8: never choose fp8 by VRAM alone (the setting still applies)


@dataclass(frozen=True)
class MemoryPlan:
    device: DeviceKind
    unet_dtype: str                # a Dtype, checked below (the benchmark still passes plain strings in)
    text_encoder_dtype: str
    vae_dtype: str
    attention: AttentionMode
    offload: OffloadMode
    vae_slicing: bool
    vae_tiling: bool
    reasons: tuple[str, ...] = ()
    device_name: str = "cpu"              # what the device calls itself ("NVIDIA GeForce RTX 3060")
    total_vram_mb: int | None = None      # None on the CPU
    xformers_available: bool = False
    fp8_weights: bool = False             # the UNet's Linear/Conv weights stored as float8_e4m3fn
    cache_fp16_weight: bool = False       # with fp8: the unquantised UNet weights kept in RAM too
    fp8_storage: str = "Disable"          # the setting as the user chose it (what the infotext's key reflects)

    def __post_init__(self) -> None:
        for part, dtype in (("unet", self.unet_dtype), ("text encoder", self.text_encoder_dtype),
                            ("vae", self.vae_dtype)):
            if dtype not in DTYPES:
                raise MemoryPolicyError(f"{part} dtype {dtype!r} is not one of {', '.join(DTYPES)}")

    @property
    def offloaded(self) -> bool:
        return self.offload != "none"

    @property
    def generator_device(self) -> DeviceKind:
        """Where seeded noise is drawn: the CPU under offload (the weights move, the generators must not)."""
        return "cpu" if self.offloaded else self.device

    @property
    def execution_device(self) -> DeviceKind | None:
        """Where offloaded modules run (prompt tokens go there); None when each module sits on its device."""
        return self.device if self.offloaded else None

    @property
    def infotext_fp8(self) -> tuple[tuple[str, str], ...]:
        """A1111's keys, written only while fp8 storage is in force (as A1111 writes them only then)."""
        if not self.fp8_weights:
            return ()
        return (("FP8 weight", "Enable"), ("Cache FP16 weight for LoRA", str(self.cache_fp16_weight)))

    def describe(self) -> str:
        unet = f"unet {self.unet_dtype}" + (" (weights stored fp8)" if self.fp8_weights else "")
        dtypes = f"{unet}, text encoder {self.text_encoder_dtype}, vae {self.vae_dtype}"
        vae_modes = (("vae slicing", self.vae_slicing), ("vae tiling", self.vae_tiling))
        vae = ", ".join(name for name, enabled in vae_modes if enabled)
        summary = f"{self.device}: {dtypes}; attention {self.attention}; offload {self.offload}"
        return f"{summary}; {vae}" if vae else summary


def _choose_attention(device: DeviceInfo, flags: PrecisionFlags, small_card: bool) -> tuple[AttentionMode, str]:
    if flags.xformers:
        if device.kind != "cuda":
            raise MemoryPolicyError(f"--xformers needs a CUDA device; this device is {device.kind}")
        if not device.xformers_available:
            raise MemoryPolicyError(
                "--xformers was given but xformers is not installed (./launch.sh --xformers installs it)")
        return "xformers", "--xformers"
    if flags.opt_split_attention:
        return "sliced", "--opt-split-attention"
    if flags.opt_sdp_attention:
        return "sdpa", "--opt-sdp-attention"
    if small_card:
        return "sliced", "VRAM under 3 GB: sliced attention"
    return "sdpa", "PyTorch SDPA (default)"


def _choose_offload(device: DeviceInfo, flags: PrecisionFlags) -> tuple[OffloadMode, str]:
    if device.kind != "cuda":
        if flags.medvram or flags.lowvram:
            return "none", "--medvram/--lowvram only apply to CUDA; ignored on CPU"
        return "none", "CPU: no offload"
    if flags.lowvram:
        return "sequential", "--lowvram"
    if flags.medvram:
        return "model", "--medvram"
    vram = device.total_vram_mb or 0
    if vram <= SEQUENTIAL_AT_OR_BELOW_MB:
        return "sequential", f"{vram} MB VRAM: sequential offload"
    if vram < SMALL_CARD_MB:
        return "group", f"{vram} MB VRAM: group offload (blocks prefetched on a CUDA stream)"
    if vram < MEDIUM_CARD_MB:
        return "model", f"{vram} MB VRAM: model offload"
    return "none", f"{vram} MB VRAM: whole model on the card"


def cpu_flags_from_cpuinfo(cpuinfo: str) -> frozenset[str]:
    """The instruction-set flags in /proc/cpuinfo's text (the first "flags" line: every core lists the same)."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_has_fast_bf16(cpu_flags: frozenset[str]) -> bool:
    """AVX-512 BF16 or AMX: the CPU multiplies bf16 natively, so bf16 beats fp32 (elsewhere it is emulated, slower)."""
    return bool(cpu_flags & FAST_BF16_CPU_FLAGS)


def _choose_dtypes(device: DeviceInfo, flags: PrecisionFlags) -> tuple[Dtype, Dtype, str]:
    """(model dtype, VAE dtype, why). `--no-half`/`--precision full` mean fp32 on any device, as in A1111, where
    they also are what CPU users pass: so they are the way to force fp32 on a bf16-capable CPU too."""
    full_precision = flags.no_half or flags.precision == "full"
    if device.kind == "cpu":
        if full_precision:
            return "fp32", "fp32", "CPU: fp32 (--no-half/--precision full)"
        if cpu_has_fast_bf16(device.cpu_flags):
            found = ", ".join(sorted(device.cpu_flags & FAST_BF16_CPU_FLAGS))
            return "bf16", "fp32", f"CPU with {found}: bf16 (vae fp32; --no-half for fp32)"
        return "fp32", "fp32", "CPU without AVX-512 BF16/AMX: fp32"
    model: Dtype = "fp32" if full_precision else "fp16"
    vae: Dtype = "fp32" if full_precision or flags.no_half_vae else "fp16"
    return model, vae, f"CUDA: {model} (vae {vae})"


def _choose_fp8(device: DeviceInfo, flags: PrecisionFlags) -> tuple[bool, str]:
    """A1111's `fp8_storage`: "Enable" stores the UNet in fp8 on any device, "Enable for SDXL" only for SDXL
    models (none are loadable here, so it is off), "Disable" leaves it to the policy: on cards of 4 GB or less
    fp8 is what lets model offload (instead of the slower group/sequential offload) fit, unless --no-auto-fp8."""
    if flags.fp8_storage not in FP8_STORAGE_CHOICES:
        raise MemoryPolicyError(f"fp8_storage {flags.fp8_storage!r} is not one of {', '.join(FP8_STORAGE_CHOICES)}")
    if flags.fp8_storage == "Enable":
        return True, "FP8 weight: Enable"
    if flags.fp8_storage == "Enable for SDXL":
        return False, "FP8 weight: Enable for SDXL (SD 1.x stays unquantised)"
    vram = device.total_vram_mb or 0
    if device.kind == "cuda" and vram <= FP8_AT_OR_BELOW_MB and not flags.no_auto_fp8:
        return True, f"{vram} MB VRAM: fp8 weight storage (--no-auto-fp8 to keep fp16)"
    return False, ""


def plan_memory(device: DeviceInfo, flags: PrecisionFlags) -> MemoryPlan:
    kind = _device_kind(device.kind)
    model_dtype, vae_dtype, precision_reason = _choose_dtypes(device, flags)
    fp8, fp8_reason = _choose_fp8(device, flags)
    vram = device.total_vram_mb or 0
    on_cuda = device.kind == "cuda"
    attention, attention_reason = _choose_attention(device, flags, small_card=on_cuda and vram < SMALL_CARD_MB)
    offload, offload_reason = _choose_offload(device, flags)
    reasons = (precision_reason, fp8_reason, attention_reason, offload_reason)
    return MemoryPlan(
        device=kind,
        unet_dtype=model_dtype,
        text_encoder_dtype=model_dtype,
        vae_dtype=vae_dtype,
        attention=attention,
        offload=offload,
        vae_slicing=on_cuda and vram < VAE_SLICING_BELOW_MB,
        vae_tiling=on_cuda and vram < MEDIUM_CARD_MB,
        reasons=tuple(reason for reason in reasons if reason),
        device_name=device.name, total_vram_mb=device.total_vram_mb if on_cuda else None,
        xformers_available=device.xformers_available,
        fp8_weights=fp8, cache_fp16_weight=flags.cache_fp16_weight, fp8_storage=flags.fp8_storage,
    )


def with_weight_storage(plan: MemoryPlan, fp8_storage: str, cache_fp16_weight: bool,
                        no_auto_fp8: bool = False) -> MemoryPlan:
    """The plan after the user changes `fp8_storage`/`cache_fp16_weight` in Settings (the rest stays)."""
    device = DeviceInfo(plan.device, plan.device_name, plan.total_vram_mb, plan.xformers_available)
    fp8, reason = _choose_fp8(device, PrecisionFlags(fp8_storage=fp8_storage, no_auto_fp8=no_auto_fp8))
    reasons = tuple(kept for kept in plan.reasons if not _is_fp8_reason(kept)) + ((reason,) if reason else ())
    return replace(plan, fp8_weights=fp8, cache_fp16_weight=cache_fp16_weight, fp8_storage=fp8_storage,
                   reasons=reasons)


def _is_fp8_reason(reason: str) -> bool:
    return reason.startswith("FP8 weight") or "fp8 weight storage" in reason


def _device_kind(kind: str) -> DeviceKind:
    for known in DEVICE_KINDS:
        if kind == known:
            return known
    raise MemoryPolicyError(f"unknown device kind {kind!r}; allowed: {', '.join(DEVICE_KINDS)}")


def leaner_plan(plan: MemoryPlan) -> MemoryPlan | None:
    """The next plan down after running out of memory, or None when nothing leaner is left.

    The order costs the least speed first: tile (and slice) the VAE, then slice attention, then (CUDA only) keep
    one model part on the card at a time, then move blocks in prefetched groups, then move layers one by one."""
    if not plan.vae_tiling:
        return replace(plan, vae_tiling=True, vae_slicing=True, reasons=(*plan.reasons, "out of memory: VAE tiling"))
    if plan.attention != "sliced":
        return replace(plan, attention="sliced", reasons=(*plan.reasons, "out of memory: sliced attention"))
    if plan.device != "cuda":
        return None
    if plan.offload == "none":
        return replace(plan, offload="model", reasons=(*plan.reasons, "out of memory: model offload"))
    if plan.offload == "model":
        return replace(plan, offload="group", reasons=(*plan.reasons, "out of memory: group offload"))
    if plan.offload == "group":
        return replace(plan, offload="sequential", reasons=(*plan.reasons, "out of memory: sequential offload"))
    return None


UPSCALE_HEADROOM = 0.5           # use at most half the free VRAM for one tile's activations
UPSCALE_LIVE_ACTIVATIONS = 4     # feature maps alive at once at the output resolution (input, output, temporaries)
UPSCALE_MIN_TILE = 32
DEFAULT_UPSCALER_FEATURES = 64   # ESRGAN/Real-ESRGAN width when the model does not say


def upscale_tile_size(setting_tile: int, free_vram_mb: int | None, scale: int, features: int | None,
                      dtype_bytes: int = 4) -> int:
    """The tile size for a model upscale: the user's `ESRGAN_tile` (0 = whole image at once) capped by what fits.

    An upscaler's largest activations are `features` channels at the output resolution (ESRGAN's last
    convolutions run after the upsampling), so one tile of t² input pixels needs about
    t²·scale²·features·bytes·UPSCALE_LIVE_ACTIVATIONS bytes. On a card (`free_vram_mb` known) the tile is the
    largest multiple of 8 whose need fits in half the free memory; on the CPU (None) the setting is used as is."""
    if setting_tile < 0:
        raise MemoryPolicyError(f"ESRGAN_tile {setting_tile} must be 0 (no tiling) or positive")
    if free_vram_mb is None:
        return setting_tile
    per_pixel = scale * scale * (features or DEFAULT_UPSCALER_FEATURES) * dtype_bytes * UPSCALE_LIVE_ACTIVATIONS
    budget = free_vram_mb * 1024 * 1024 * UPSCALE_HEADROOM
    fitting = max(UPSCALE_MIN_TILE, int((budget / per_pixel) ** 0.5) // 8 * 8)
    return fitting if setting_tile == 0 else min(setting_tile, fitting)
