"""Kestrel's composition root: flags → App → HTTP app + UI → serve.

This is the only module that reads argv and the environment. It sets the network-silence variables before gradio
or huggingface_hub are imported (they read them at import), builds the one `App`, mounts the Gradio page on the
FastAPI app and serves it with uvicorn on the address that was asked for.
"""

from __future__ import annotations

import logging
import os
import sys
import webbrowser
from pathlib import Path

NETWORK_SILENCE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                   "DO_NOT_TRACK": "1"}
REPOSITORY_ROOT = Path(__file__).resolve().parent


def silence_network() -> None:
    """Nothing may reach the internet unless a user asks for a download; these must be set before the imports."""
    for name, value in NETWORK_SILENCE.items():
        os.environ.setdefault(name, value)


def serve(argv: list[str]) -> int:
    from webui.config.flags import parse_flags

    options = parse_flags(argv)  # exits with code 2 and the usage on a bad flag
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    import gradio as gr
    import uvicorn

    from webui.api.server import create_http_app
    from webui.app_context import build_app
    from webui.ui.blocks import build_ui, mount_options

    app = build_app(options, default_data_dir=REPOSITORY_ROOT)
    http = create_http_app(app)
    http = gr.mount_gradio_app(http, build_ui(app), path="/", **mount_options(app))
    app.start()
    host = options.bind_address
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{options.port}"
    config = uvicorn.Config(http, host=host, port=options.port, log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    print(f"Running on local URL:  {url}", flush=True)
    if options.autolaunch and not os.environ.get("CI"):
        webbrowser.open(url)
    try:
        server.run()
    finally:
        app.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    silence_network()
    return serve(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
