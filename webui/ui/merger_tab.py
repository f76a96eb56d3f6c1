"""The Checkpoint Merger tab (A1111's ids and defaults) with an "fp16 convert" section.

Merging and converting read and write files but do not use the GPU, so they run in the handler rather than in the
generation queue; their results are written atomically under new names and appear in the checkpoint dropdown.
"""

from __future__ import annotations

import html

import gradio as gr

from webui.app_context import App
from webui.errors import KestrelError
from webui.jobs.job import Job, JobKind
from webui.jobs.tasks import ConvertSpec, MergeSpec, outcome
from webui.model_manager.download import KNOWN_CHECKPOINTS, DownloadError
from webui.model_manager.manager import CheckpointNotFoundError
from webui.model_manager.merge import MERGE_METHODS
from webui.model_manager.safetensors_header import CheckpointFormatError
from webui.ui.callers import require_admin, ui_owner

NO_VAE = "None"
NO_KNOWN = "(none: use the URL below)"
TOOL_ERRORS = (CheckpointNotFoundError, CheckpointFormatError, ValueError, OSError)


def _vae_files(app: App) -> list[str]:
    """The VAEs the model manager found (models/VAE and *.vae.* beside checkpoints)."""
    return [NO_VAE, *(record.name for record in app.models.vaes())]


def _checkpoint_titles(app: App) -> list[str]:
    return [record.title for record in app.models.checkpoints()]


def build_merger_tab(app: App, checkpoint_dropdown: gr.Dropdown) -> None:
    titles = _checkpoint_titles(app)
    with gr.Row():
        primary = gr.Dropdown(titles, label="Primary model (A)", elem_id="modelmerger_primary_model_name")
        secondary = gr.Dropdown(titles, label="Secondary model (B)", elem_id="modelmerger_secondary_model_name")
        tertiary = gr.Dropdown(titles, label="Tertiary model (C)", elem_id="modelmerger_tertiary_model_name")
    custom_name = gr.Textbox(label="Custom Name (Optional)", elem_id="modelmerger_custom_name")
    multiplier = gr.Slider(0.0, 1.0, value=0.3, step=0.05, label="Multiplier (M) - set to 0 to get model A",
                           elem_id="modelmerger_interp_amount")
    method = gr.Radio(list(MERGE_METHODS), value="Weighted sum", label="Interpolation Method",
                      elem_id="modelmerger_interp_method")
    vae = gr.Dropdown(_vae_files(app), value=NO_VAE, label="Bake in VAE", elem_id="modelmerger_bake_in_vae")
    merge = gr.Button("Merge", variant="primary", elem_id="modelmerger_merge")
    with gr.Accordion("Convert a checkpoint to pruned fp16 .safetensors", open=False):
        convert_source = gr.Dropdown(titles, label="Checkpoint to convert", elem_id="convert_source")
        convert = gr.Button("Convert", elem_id="convert_run")
    with gr.Accordion("Download a checkpoint", open=False):
        known = gr.Dropdown([NO_KNOWN, *(item.label for item in KNOWN_CHECKPOINTS)], value=NO_KNOWN,
                            label="Known checkpoint", elem_id="download_known")
        url = gr.Textbox(label="…or a URL (e.g. a Hugging Face \"resolve\" link)", elem_id="download_url")
        sha256 = gr.Textbox(label="sha256 (optional, checked when given)", elem_id="download_sha256")
        download = gr.Button("Download", elem_id="download_run")
    result = gr.HTML(elem_id="modelmerger_result")

    def refreshed_lists():
        choices = _checkpoint_titles(app)
        return [gr.update(choices=choices) for _ in range(5)]

    async def do_merge(a, b, c, kind, amount, name, vae_name, request: gr.Request, progress=gr.Progress()):
        require_admin(app, request, "Writing a checkpoint into models/")
        try:
            vae_path = next((record.path for record in app.models.vaes() if record.name == vae_name), None)
            job = app.jobs.submit(MergeSpec(a, b, c, kind, float(amount), name or "", vae_path),
                                  ui_owner(app, request), kind=JobKind.MERGE)
            created = await _with_progress(job, progress, "merging")
        except TOOL_ERRORS + (KestrelError,) as error:
            raise gr.Error(f"Merge failed: {error}") from error
        return [f"<p>Checkpoint saved to <code>{html.escape(created.name)}</code></p>", *refreshed_lists()]

    async def do_convert(title, request: gr.Request, progress=gr.Progress()):
        require_admin(app, request, "Writing a checkpoint into models/")
        try:
            progress(0.1, desc="converting")
            job = app.jobs.submit(ConvertSpec(title), ui_owner(app, request), kind=JobKind.CONVERT)
            report = await _with_progress(job, progress, "converting")
        except TOOL_ERRORS + (KestrelError,) as error:
            raise gr.Error(f"Conversion failed: {error}") from error
        return [f"<p>{html.escape(report.summary())}</p>", *refreshed_lists()]

    def do_download(known_label, link, checksum, request: gr.Request, progress=gr.Progress()):
        require_admin(app, request, "Downloading into models/")
        source = known_label if known_label and known_label != NO_KNOWN else (link or "")
        try:
            path = app.tools.download(source, (checksum or "").strip() or None,
                                      lambda done, total: progress(done / total if total else None,
                                                                   desc=f"{done / 1024**2:.0f} MiB"))
        except TOOL_ERRORS + (DownloadError,) as error:
            raise gr.Error(f"Download failed: {error}") from error
        return [f"<p>Downloaded <code>{html.escape(path.name)}</code></p>", *refreshed_lists()]

    lists = [checkpoint_dropdown, primary, secondary, tertiary, convert_source]
    download.click(do_download, inputs=[known, url, sha256], outputs=[result, *lists])
    merge.click(do_merge, inputs=[primary, secondary, tertiary, method, multiplier, custom_name, vae],
                outputs=[result, *lists])
    convert.click(do_convert, inputs=[convert_source], outputs=[result, *lists])


async def _with_progress(job: Job, progress: gr.Progress, what: str):
    """Show a queued tool job's progress in the page until it ends; its result, or its error raised."""
    async for snapshot in job.updates(interval=0.25):
        if snapshot.queue_position is not None:
            progress(0.0, desc=f"waiting: {snapshot.queue_position} job(s) ahead")
        else:
            progress(snapshot.progress.fraction, desc=what)
    return outcome(snapshot)
