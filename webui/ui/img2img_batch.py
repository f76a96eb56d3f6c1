"""img2img's Batch tab (A1111's "Batch"): every image of a folder on the server through img2img, one job each,
the results also written into an output folder.

A folder path names the server's disk, so the tab is for admins only, and it is off when the server listens
beyond this machine without logins (anyone on the network would be an admin then), as Extras' "Batch from
Directory". The folders must lie inside the server's own folders: the input folder inside the data directory,
the output folder inside its outputs folder (empty: the usual img2img folder only). A path that leaves them
(`..`, a link) is refused with the folder it must be in.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from webui.app_context import App
from webui.engine.request import GenerationRequest
from webui.jobs.extras import images_in_folder
from webui.ui.callers import ui_caller
from webui.ui.generation_panel import stream_job
from webui.ui.html import infotext_html


@dataclass
class BatchControls:
    input_dir: gr.Textbox
    output_dir: gr.Textbox

    def inputs(self) -> list:
        return [self.input_dir, self.output_dir]


def build_batch_controls(app: App) -> BatchControls:
    paths = app.paths
    gr.Markdown(f"Process the images in a folder of the server: the input folder inside the data folder "
                f"(`{paths.root.name}/`), the results also into a folder inside `outputs/` (leave it empty to "
                "keep them in the usual img2img folder only). Admins only.", elem_id="img2img_batch_hint")
    input_dir = gr.Textbox(label="Input directory", elem_id="img2img_batch_input_dir")
    output_dir = gr.Textbox(label="Output directory", elem_id="img2img_batch_output_dir")
    return BatchControls(input_dir, output_dir)


def _inside(text: str, base: Path, root: Path, what: str) -> Path:
    path = Path(text.strip()).expanduser()
    resolved = (path if path.is_absolute() else root / path).resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise gr.Error(f"Batch: the {what} directory {text.strip()!r} is outside {base}; use a folder inside it")
    return resolved


def batch_folders(app: App, request: gr.Request, input_dir: str | None,
                  output_dir: str | None) -> tuple[Path, Path | None]:
    """The checked (input, output) folders; a gr.Error says why a batch may not run."""
    caller = ui_caller(app, request)
    if app.options.non_local and not app.accounts.ui_login_required:
        raise gr.Error("Batch is disabled: the server listens beyond this machine (--listen or --server-name) "
                       "without logins, and a folder path reads and writes the server's disk.")
    if not caller.is_admin:
        raise gr.Error("Batch reads and writes folders on the server and needs an admin account.")
    if not (input_dir or "").strip():
        raise gr.Error("Batch: the input directory is empty")
    paths = app.paths
    root = paths.root.resolve()
    source = _inside(input_dir or "", root, root, "input")
    target = _inside(output_dir or "", paths.outputs, root, "output") if (output_dir or "").strip() else None
    return source, target


async def run_batch(app: App, make_request: Callable[[object], GenerationRequest], source: Path,
                    target: Path | None, request: gr.Request):
    """One img2img job per image of `source`, in name order; yields the tab's (gallery, progress, info, entries)."""
    try:
        inputs = images_in_folder(source)
    except ValueError as error:
        raise gr.Error(f"Batch: {error}") from error
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    gallery: list[str] = []
    entries: list[tuple] = []
    for number, item in enumerate(inputs, start=1):
        job_request = make_request(item.image.convert("RGBA"))
        async for _shown, progress, info, finished in stream_job(app, job_request, request):
            if not isinstance(finished, list):
                yield gr.skip(), f"<p>Batch: image {number}/{len(inputs)} ({item.name})</p>{progress}", info, \
                    gr.skip()
                continue
            for offset, (infotext, seed, path) in enumerate(finished):
                if target is not None and path:
                    suffix = f"-{offset}" if len(finished) > 1 else ""
                    shutil.copyfile(str(path), target / f"{Path(item.name or f'image-{number}').stem}{suffix}.png")
                gallery.append(path)
                entries.append((infotext, seed, path))
        where = f" into {target}" if target is not None else ""
        yield list(gallery), "", infotext_html(entries[-1][0] if entries else "",
                                               note=f"Batch: {number} of {len(inputs)} images done{where}"), \
            list(entries)
