"""Kestrel's composition root: flags → App → HTTP app + UI → serve.

This is the only module that reads argv and the environment. It sets the network-silence variables before gradio
or huggingface_hub are imported (they read them at import), builds the one `App`, mounts the Gradio page on the
FastAPI app and serves it with uvicorn on the address that was asked for.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import webbrowser
from pathlib import Path

NETWORK_SILENCE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                   "DO_NOT_TRACK": "1", "RAY_USAGE_STATS_ENABLED": "0"}
REPOSITORY_ROOT = Path(__file__).resolve().parent
RAY_LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's node address is 127.0.0.1, its servers bind it


def silence_network() -> None:
    """Nothing may reach the internet unless a user asks for a download; these must be set before the imports."""
    for name, value in NETWORK_SILENCE.items():
        os.environ.setdefault(name, value)


def gradio_cache_folder() -> Path:
    """Where Gradio keeps uploads and copies of the images it shows: the only folder file routes may serve."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def _queue_first_server(config, on_exit):
    """A uvicorn server that stops the job queue as soon as Ctrl+C or SIGTERM arrives: waiting jobs stay in the
    queue's store for the next start, and the requests waiting on them end at once instead of running the queue dry
    during the graceful shutdown."""
    import uvicorn

    class QueueFirstServer(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            on_exit()
            super().handle_exit(sig, frame)

    return QueueFirstServer(config)


def tls_problem(options) -> str | None:
    """A key and certificate that do not load (or do not match) stop the start here, naming the files."""
    import ssl

    if not options.tls:
        return None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(options.tls_certfile, options.tls_keyfile)
    except (OSError, ssl.SSLError) as error:
        return f"--tls-certfile {options.tls_certfile} / --tls-keyfile {options.tls_keyfile}: cannot use them ({error})"
    return None


def warn_about_transport(options) -> None:
    """Passwords and images cross the network in clear text unless TLS is on (here or at a trusted proxy)."""
    log = logging.getLogger("kestrel")
    if options.exposed and not options.tls:
        behind = " (ignore this if a --trusted-proxies reverse proxy serves https)" if options.trusted_proxies else ""
        log.warning("--listen without TLS: passwords, session cookies and images cross the network unencrypted; "
                    "give --tls-keyfile and --tls-certfile to serve https%s", behind)
    if options.tls and not options.disable_tls_verify:
        log.info("serving https; a self-signed certificate makes browsers warn until it is trusted "
                 "(--disable-tls-verify silences this note)")


def _redirect_listener(options) -> None:
    """--http-redirect-port: plain http on another port, answered with redirects to https (a daemon thread)."""
    import threading

    import uvicorn

    from webui.api.server import https_redirect_app

    config = uvicorn.Config(https_redirect_app(options.port), host=options.bind_address,
                            port=options.http_redirect_port, log_level="warning", proxy_headers=False)
    threading.Thread(target=uvicorn.Server(config).run, name="http-redirect", daemon=True).start()


def port_in_use(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (taken by another program), or None when it can."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError as error:
            return (f"cannot listen on {host}:{port}: {error.strerror or error} (is another server running there? "
                    "choose another port with --port)")
    return None


def serve(argv: list[str]) -> int:
    from webui.config.flags import parse_flags

    options = parse_flags(argv)  # exits with code 2 and the usage on a bad flag
    if options.workers and not options.ray_address:  # Ray's switch for a one-machine cluster: loopback only
        os.environ.setdefault(RAY_LOOPBACK_ONLY, "0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if (problem := tls_problem(options)) is not None:
        print(f"app.py: error: {problem}", file=sys.stderr)
        return 2
    warn_about_transport(options)
    if (busy := port_in_use(options.bind_address, options.port)) is not None:
        print(f"app.py: error: {busy}", file=sys.stderr)  # before any "Running on" line, and before the slow start
        return 3

    import gradio as gr
    import uvicorn

    from webui.api.server import create_http_app, secure
    from webui.app_context import build_app
    from webui.ui.blocks import add_theme_redirect, build_ui, mount_options

    try:
        app = build_app(options, default_data_dir=REPOSITORY_ROOT)  # loads the extensions too
    except ValueError as error:  # an unreadable --gradio-auth-path or auth.json, an --admin-users name that is none
        print(f"app.py: error: {error}", file=sys.stderr)
        return 2
    page = None if options.nowebui else build_ui(app)
    http = create_http_app(app, page)
    if page is not None:
        add_theme_redirect(http, options.theme)
        http = gr.mount_gradio_app(http, page, path="/", **mount_options(app))
    served = secure(http, app, file_roots=(gradio_cache_folder(),))
    app.start()
    host = options.bind_address
    url = f"{'https' if options.tls else 'http'}://{'127.0.0.1' if host == '0.0.0.0' else host}:{options.port}"
    tls = {"ssl_keyfile": str(options.tls_keyfile), "ssl_certfile": str(options.tls_certfile)} if options.tls else {}
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the gate honours --trusted-proxies
    config = uvicorn.Config(served, host=host, port=options.port, log_level="warning", timeout_graceful_shutdown=5,
                            proxy_headers=False, **tls)
    server = _queue_first_server(config, on_exit=lambda: app.jobs.stop(timeout=0))
    if options.http_redirect_port is not None:
        _redirect_listener(options)
    print(f"Running on local URL:  {url}", flush=True)
    if options.autolaunch and not os.environ.get("CI"):
        webbrowser.open(url)
    try:
        server.run()
    finally:
        app.stop()
    return 0


def convert(argv: list[str]) -> int:
    """`python app.py convert FILE`: a pruned fp16 .safetensors from any SD checkpoint (.ckpt, fp32, ...)."""
    parser = argparse.ArgumentParser(prog="app.py convert",
                                     description="Write a pruned fp16 .safetensors copy of a checkpoint.")
    parser.add_argument("source", type=Path, help="the checkpoint to convert (.safetensors, .ckpt, .pt)")
    parser.add_argument("--out", type=Path, default=None, help="destination (default: <name>-pruned-fp16.safetensors)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing destination file")
    args = parser.parse_args(argv)

    from webui.model_manager.convert import convert_checkpoint
    from webui.model_manager.safetensors_header import CheckpointFormatError

    try:
        report = convert_checkpoint(args.source, args.out, overwrite=args.overwrite)
    except (CheckpointFormatError, ValueError, OSError) as error:
        print(f"app.py convert: error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def merge(argv: list[str]) -> int:
    """`python app.py merge A B [--tertiary C]`: A1111's Checkpoint Merger from the command line."""
    from webui.model_manager.merge import MERGE_METHODS, MergeRequest, merge_checkpoints
    from webui.model_manager.safetensors_header import CheckpointFormatError

    parser = argparse.ArgumentParser(prog="app.py merge", description="Merge checkpoints into an fp16 .safetensors.")
    parser.add_argument("primary", type=Path, help="model A")
    parser.add_argument("secondary", type=Path, help="model B")
    parser.add_argument("--tertiary", type=Path, default=None, help="model C (for Add difference)")
    parser.add_argument("--method", choices=list(MERGE_METHODS), default="Weighted sum")
    parser.add_argument("--multiplier", type=float, default=0.3, help="M, from 0 (model A) to 1 (default 0.3)")
    parser.add_argument("--vae", type=Path, default=None, help="a VAE file to bake in")
    parser.add_argument("--out", type=Path, required=True, help="the new .safetensors file")
    args = parser.parse_args(argv)
    try:
        merge_checkpoints(MergeRequest(args.primary, args.secondary, args.tertiary, args.method, args.multiplier,
                                       args.out, args.vae))
    except (CheckpointFormatError, ValueError, OSError) as error:
        print(f"app.py merge: error: {error}", file=sys.stderr)
        return 2
    print(f"merged into {args.out}")
    return 0


def download(argv: list[str]) -> int:
    """`python app.py download URL|sd15 [--sha256 HEX]`: fetch a checkpoint into models/Stable-diffusion."""
    from webui.model_manager.download import (
        KNOWN_CHECKPOINTS,
        DownloadError,
        DownloadRequest,
        download_checkpoint,
    )

    known_list = ", ".join(f"{known.key} ({known.label})" for known in KNOWN_CHECKPOINTS)
    parser = argparse.ArgumentParser(prog="app.py download", description="Download a checkpoint (resumable).")
    parser.add_argument("source", help=f"an http(s) URL, or one of: {known_list}")
    parser.add_argument("--sha256", default=None, help="expected sha256 of the file (checked when given)")
    parser.add_argument("--name", default=None, help="file name to save as (default: from the URL)")
    parser.add_argument("--data-dir", type=Path, default=REPOSITORY_ROOT, help="root of models/ (default: here)")
    args = parser.parse_args(argv)
    request = DownloadRequest.for_source(args.source, args.data_dir / "models" / "Stable-diffusion", args.name,
                                         args.sha256)
    reported = [-1]

    def progress(done: int, total: int | None) -> None:
        percent = int(100 * done / total) if total else -1
        if percent // 5 != reported[0] // 5 or percent < 0:
            reported[0] = percent
            print(f"\r{done / 1024**2:8.1f} MiB" + (f" ({percent}%)" if total else ""), end="", flush=True)

    try:
        path = download_checkpoint(request, progress)
    except (DownloadError, ValueError, OSError) as error:
        print(f"\napp.py download: error: {error}", file=sys.stderr)
        return 2
    print(f"\nsaved {path}")
    return 0


def _csv_of(kind, allowed: tuple | None = None):
    def parse(text: str) -> tuple:
        values = tuple(kind(item.strip()) for item in text.split(",") if item.strip())
        if allowed is not None and (bad := [value for value in values if value not in allowed]):
            raise argparse.ArgumentTypeError(f"{bad[0]} is not one of {', '.join(map(str, allowed))}")
        return values
    return parse


def benchmark(argv: list[str]) -> int:
    """`python app.py benchmark`: the fp16 benchmark report for the current checkpoint on this device."""
    from webui.benchmark.plan import ATTENTIONS, DEFAULT_RESOLUTIONS, PRECISIONS

    parser = argparse.ArgumentParser(prog="app.py benchmark", description=(
        "Time each precision x attention x resolution on this device with the current (or --ckpt) checkpoint; "
        "write report.md, results.csv and plot.png under outputs/benchmarks/."))
    parser.add_argument("--resolutions", type=_csv_of(int), default=DEFAULT_RESOLUTIONS, help="e.g. 256,512,768")
    parser.add_argument("--precisions", type=_csv_of(str, PRECISIONS), default=PRECISIONS, help="fp32,fp16,bf16")
    parser.add_argument("--attentions", type=_csv_of(str, ATTENTIONS), default=ATTENTIONS,
                        help="sdpa,sliced,xformers,classic")
    parser.add_argument("--steps", type=int, default=4, help="sampling steps per image (default 4)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--ckpt", type=Path, default=None, help="benchmark this checkpoint file")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from webui.app_context import SYSTEM_OWNER, build_app
    from webui.benchmark.suite import BenchmarkRequest
    from webui.config.flags import CommandLineOptions
    from webui.jobs.job import JobKind
    from webui.jobs.tasks import BenchmarkSpec, wait_result

    try:
        request = BenchmarkRequest(args.resolutions, args.precisions, args.attentions, args.steps)
        app = build_app(CommandLineOptions(data_dir=args.data_dir, ckpt=args.ckpt, device=args.device),
                        default_data_dir=REPOSITORY_ROOT)
    except ValueError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2
    try:
        app.start(restore_jobs=False)  # the benchmark is a job like any other device task; stored jobs wait
        job = app.jobs.submit(BenchmarkSpec(request, app.paths.outputs), SYSTEM_OWNER, kind=JobKind.BENCHMARK)
        outcome = wait_result(job, timeout=24 * 3600)
    except ValueError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2
    finally:
        app.stop()
    print(outcome.markdown)
    print(f"written to {outcome.folder}")
    return 0


# anything else starts the server
COMMANDS = {"convert": convert, "merge": merge, "download": download, "benchmark": benchmark}


def main(argv: list[str] | None = None) -> int:
    silence_network()
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and arguments[0] in COMMANDS:
        return COMMANDS[arguments[0]](arguments[1:])
    return serve(arguments)


if __name__ == "__main__":
    sys.exit(main())
