"""Command-line flags with A1111's names and meanings.

Only `app.py` calls `parse_flags` (with the command-line arguments); everything else receives the frozen
`CommandLineOptions`.
An unknown flag is an error (argparse prints the usage and exits with code 2), as users of A1111 expect from a
typo such as `--lisen`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webui.security.client_address import parse_networks
from webui.security.quotas import parse_quota

DEFAULT_PORT = 7860
DEFAULT_API_ONLY_PORT = 7861  # A1111's port for --nowebui
PRECISION_CHOICES = ("full", "half", "autocast")
DEVICE_CHOICES = ("cpu", "cuda")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CommandLineOptions:
    """What the user asked for on the command line; defaults mirror A1111's."""

    port: int = DEFAULT_PORT
    listen: bool = False
    api: bool = False
    nowebui: bool = False
    api_auth: str | None = None
    gradio_auth: str | None = None
    gradio_auth_path: Path | None = None
    admin_users: str | None = None
    insecure_no_auth: bool = False
    cors_allow_origins: str | None = None
    queue_max: int = 256
    queue_per_user: int = 32
    max_upload_mb: int = 50
    trusted_proxies: str | None = None
    tls_keyfile: Path | None = None
    tls_certfile: Path | None = None
    disable_tls_verify: bool = False
    http_redirect_port: int | None = None
    user_quota: str | None = None
    server_name: str | None = None
    data_dir: Path | None = None
    ckpt_dir: Path | None = None
    ckpt: Path | None = None
    clip_models_path: Path | None = None
    no_half: bool = False
    no_half_vae: bool = False
    precision: str = "autocast"
    xformers: bool = False
    opt_sdp_attention: bool = False
    opt_split_attention: bool = False
    medvram: bool = False
    lowvram: bool = False
    no_auto_fp8: bool = False
    device: str | None = None
    autolaunch: bool = False
    theme: str | None = None
    no_hashing: bool = False
    ckpt_cache_gb: float | None = None
    disable_all_extensions: bool = False
    enable_insecure_extension_access: bool = False
    install_extension_requirements: bool = False
    workers: int = 0                 # device workers on a local Ray cluster (0: the in-process worker)
    worker_threads: int | None = None  # torch threads per CPU worker (default: cores ÷ workers)
    ray_address: str | None = None   # join this Ray cluster: one worker per GPU

    @property
    def serves_api(self) -> bool:
        return self.api or self.nowebui

    @property
    def exposed(self) -> bool:
        """Reachable from other machines: A1111's "non-local" (--listen, or a --server-name that is not loopback)."""
        if self.server_name:
            return self.server_name not in LOOPBACK_NAMES
        return self.listen

    @property
    def non_local(self) -> bool:
        """A1111's `webui_is_non_local`: --listen or any --server-name. It turns off what would let the page reach
        the server's disk (extension installs, Extras' folder source), even for a loopback --server-name."""
        return bool(self.listen or self.server_name)

    @property
    def disable_extension_access(self) -> bool:
        """A1111's rule: installing extensions from the page is off when the UI is non-local, unless
        --enable-insecure-extension-access says otherwise."""
        return self.non_local and not self.enable_insecure_extension_access

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None

    @property
    def bind_address(self) -> str:
        """The address the server binds: only what was asked (loopback unless --listen or --server-name)."""
        if self.server_name:
            return self.server_name
        return "0.0.0.0" if self.listen else "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="Kestrel: an A1111-style Stable Diffusion web UI (flags keep A1111's names).",
    )
    server = parser.add_argument_group("server")
    server.add_argument("--port", type=int, default=None, help="port to serve on (default 7860; 7861 with --nowebui)")
    server.add_argument("--api", action="store_true", help="serve A1111's /sdapi/v1 API beside the UI")
    server.add_argument("--nowebui", action="store_true", help="serve the API only, without the UI")
    server.add_argument("--api-auth", default=None, metavar="USER:PASS[,USER:PASS]",
                        help="separate HTTP Basic accounts for /sdapi (otherwise the --gradio-auth ones apply)")
    server.add_argument("--gradio-auth", default=None, metavar="USER:PASS[,USER:PASS]",
                        help="accounts for the page, its files, /sdapi and extension routes")
    server.add_argument("--gradio-auth-path", type=Path, default=None, metavar="FILE",
                        help="a file of user:pass entries (comma or line separated; a password may be a scrypt$ hash)")
    server.add_argument("--admin-users", default=None, metavar="NAME[,NAME]",
                        help="accounts that may switch the checkpoint and change settings for everyone "
                             "(default: 'admin' if listed, else the first account)")
    server.add_argument("--insecure-no-auth", action="store_true",
                        help="with --listen, serve without logins (by default an admin password is generated)")
    server.add_argument("--cors-allow-origins", default=None, metavar="ORIGIN[,ORIGIN]",
                        help="other sites allowed to call this server from a browser (default: none)")
    server.add_argument("--queue-max", type=int, default=256, help="jobs waiting in total before 429 (default 256)")
    server.add_argument("--queue-per-user", type=int, default=32,
                        help="jobs one user may have waiting before 429 (default 32)")
    server.add_argument("--max-upload-mb", type=int, default=50, help="largest request body or upload (default 50)")
    server.add_argument("--trusted-proxies", default=None, metavar="IP[,NETWORK]",
                        help="reverse proxies whose X-Forwarded-For names the client (default: none; the header "
                             "is ignored)")
    server.add_argument("--tls-keyfile", type=Path, default=None, metavar="FILE",
                        help="the TLS private key (PEM): serve https (with --tls-certfile)")
    server.add_argument("--tls-certfile", type=Path, default=None, metavar="FILE",
                        help="the TLS certificate chain (PEM): serve https (with --tls-keyfile)")
    server.add_argument("--disable-tls-verify", action="store_true",
                        help="accept a self-signed certificate: no warning at start (clients must still trust it)")
    server.add_argument("--http-redirect-port", type=int, default=None, metavar="PORT",
                        help="with TLS, also listen for plain http on PORT and redirect it to https")
    server.add_argument("--user-quota", default=None, metavar="steps=N,pixels=N,batch=N,jobs_per_hour=N",
                        help="limits for every non-admin account (the Users section can set them per account)")
    server.add_argument("--listen", action="store_true", help="bind 0.0.0.0 so the LAN can reach the UI")
    server.add_argument("--server-name", default=None, help="bind this host name or address (overrides --listen)")
    server.add_argument("--autolaunch", action="store_true", help="open the UI in the default browser")
    server.add_argument("--theme", choices=("light", "dark"), default=None,
                        help="open the UI in this theme (default: the browser's preference)")

    paths = parser.add_argument_group("paths")
    paths.add_argument("--data-dir", type=Path, default=None,
                       help="root of models/, embeddings/, outputs/, extensions/, config.json "
                            "(default: the repository)")
    paths.add_argument("--ckpt-dir", type=Path, default=None, help="extra folder of checkpoints, scanned first")
    paths.add_argument("--ckpt", type=Path, default=None, help="start on this checkpoint file")
    paths.add_argument("--clip-models-path", type=Path, default=None,
                       help="folder with CLIP's ViT-L-14.pt for Interrogate CLIP (default: models/CLIP, then "
                            "~/.cache/clip, where A1111 keeps it)")
    paths.add_argument("--no-hashing", action="store_true", help="do not compute sha256 model hashes")
    paths.add_argument("--ckpt-cache-gb", type=float, default=None,
                       help="RAM for recently used checkpoints, for instant switching (default: a quarter of RAM)")

    extensions = parser.add_argument_group("extensions")
    extensions.add_argument("--disable-all-extensions", action="store_true",
                            help="start without loading any extension (they stay listed in the Extensions tab)")
    extensions.add_argument("--enable-insecure-extension-access", action="store_true",
                            help="allow installing extensions from the page even with --listen/--server-name")
    extensions.add_argument("--install-extension-requirements", action="store_true",
                            help="install extensions' requirements.txt / install.py at start (the admin's consent)")

    precision = parser.add_argument_group("precision, attention and memory")
    precision.add_argument("--no-half", action="store_true", help="keep the whole model in fp32")
    precision.add_argument("--no-half-vae", action="store_true", help="keep only the VAE in fp32")
    precision.add_argument("--precision", choices=PRECISION_CHOICES, default="autocast",
                           help="full = fp32 everywhere; half = fp16 everywhere (CUDA)")
    precision.add_argument("--xformers", action="store_true", help="use xformers attention (CUDA only)")
    precision.add_argument("--opt-sdp-attention", action="store_true", help="use PyTorch SDPA attention")
    precision.add_argument("--opt-split-attention", action="store_true", help="use sliced attention (less VRAM)")
    precision.add_argument("--medvram", action="store_true", help="offload whole models to the CPU between uses")
    precision.add_argument("--lowvram", action="store_true", help="offload layer by layer (slowest, least VRAM)")
    precision.add_argument("--no-auto-fp8", action="store_true",
                           help="on cards of 4 GB or less keep the UNet's weights in fp16 (the FP8 weight setting "
                                "still applies)")
    precision.add_argument("--device", choices=DEVICE_CHOICES, default=None,
                           help="cpu or cuda (default: cuda if present)")
    workers = parser.add_argument_group("device workers (Ray; ./launch.sh installs it)")
    workers.add_argument("--workers", type=int, default=0, metavar="N",
                         help="run jobs on N device workers of a local Ray cluster (default: in this process)")
    workers.add_argument("--worker-threads", type=int, default=None, metavar="K",
                         help="torch threads per CPU worker (default: cores ÷ workers)")
    workers.add_argument("--ray-address", default=None, metavar="ADDR",
                         help="join the Ray cluster at ADDR (host:port): one worker per GPU")
    return parser


def parse_flags(argv: Sequence[str]) -> CommandLineOptions:
    """Parse argv into options; conflicting combinations exit with code 2 and a message naming them."""
    parser = build_parser()
    namespace = parser.parse_args(list(argv))
    if namespace.precision == "half" and (namespace.no_half or namespace.no_half_vae):
        parser.error("--precision half cannot be combined with --no-half or --no-half-vae")
    if namespace.medvram and namespace.lowvram:
        parser.error("choose one of --medvram and --lowvram")
    if namespace.ckpt_cache_gb is not None and namespace.ckpt_cache_gb < 0:
        parser.error(f"--ckpt-cache-gb {namespace.ckpt_cache_gb} must be 0 or more")
    if namespace.port is None:
        namespace.port = DEFAULT_API_ONLY_PORT if namespace.nowebui else DEFAULT_PORT
    for flag in ("api_auth", "gradio_auth"):
        if getattr(namespace, flag) is not None:
            parse_credentials(getattr(namespace, flag), parser.error)
    for flag in ("queue_max", "queue_per_user", "max_upload_mb"):
        if getattr(namespace, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} {getattr(namespace, flag)} must be 1 or more")
    for flag, parse in (("trusted_proxies", parse_networks), ("user_quota", parse_quota)):
        try:
            parse(getattr(namespace, flag))
        except ValueError as error:
            parser.error(str(error))
    if (namespace.tls_keyfile is None) != (namespace.tls_certfile is None):
        parser.error("--tls-keyfile and --tls-certfile go together: give both to serve https")
    if namespace.http_redirect_port is not None and namespace.tls_certfile is None:
        parser.error("--http-redirect-port redirects to https: it needs --tls-keyfile and --tls-certfile")
    if namespace.workers < 0 or (namespace.worker_threads is not None and namespace.worker_threads < 1):
        parser.error("--workers must be 0 or more and --worker-threads 1 or more")
    if not 0 < namespace.port < 65536:
        parser.error(f"--port {namespace.port} is not a valid port (1-65535)")
    return CommandLineOptions(**vars(namespace))


def parse_credentials(text: str, fail) -> list[tuple[str, str]]:
    """A1111's "user:pass,user2:pass2" (split on the first ':'); `fail` reports a malformed entry."""
    pairs = []
    for entry in (part.strip() for part in text.split(",") if part.strip()):
        user, separator, password = entry.partition(":")
        if not separator or not user or not password:
            fail(f"credentials must look like user:password; got {entry.split(':')[0]!r} without a password")
        pairs.append((user, password))
    return pairs
