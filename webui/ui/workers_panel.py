"""The System tab's list of device workers (--workers / --ray-address): node, device, memory, the loaded checkpoint,
jobs done, state, and which job each one runs. Without workers it says that jobs run in this process."""

from __future__ import annotations

import html

import gradio as gr

from webui.app_context import App
from webui.jobs.ray_pool import WorkerView

HEADERS = ("Worker", "Node", "Device", "Memory", "Checkpoint", "Jobs done", "State", "Running job")


def _memory(view: WorkerView) -> str:
    facts = view.facts
    if facts.vram_total:
        return f"{(facts.vram_used or 0) / 2**30:.1f} / {facts.vram_total / 2**30:.1f} GB VRAM"
    return f"{facts.ram_bytes / 2**30:.2f} GB RAM" if facts.ram_bytes else ""


def workers_table(views: list[WorkerView]) -> str:
    """An HTML table, one row per worker (escaped: names come from other machines)."""
    rows = []
    for view in views:
        facts = view.facts
        device = f"{facts.device}, {facts.threads} thread(s)" if facts.device == "cpu" else facts.device
        state = view.state.value + (f" (restarted {view.restarts}×)" if view.restarts else "")
        cells = (view.name, facts.node, device, _memory(view), facts.loaded or "none", str(view.jobs_done), state,
                 (view.job or "")[:8])
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{name}</th>" for name in HEADERS)
    return f'<table class="workers-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def workers_html(app: App) -> str:
    if app.workers is None:
        return "<p>Jobs run in this process (one device worker). <code>--workers N</code> or " \
               "<code>--ray-address ADDR</code> runs them on device workers (Ray).</p>"
    overhead = app.workers.overhead_ms()
    note = f"<p>Ray's cost per job beyond the generation itself: {overhead:.0f} ms (median of the last jobs)</p>" \
        if overhead is not None else ""
    return workers_table(app.workers.refresh()) + note


def build_workers_panel(app: App) -> None:
    with gr.Accordion("Device workers", open=app.workers is not None, elem_id="workers"):
        table = gr.HTML(lambda: workers_html(app), elem_id="workers_table")  # evaluated on each page load
        refresh = gr.Button("🔄 Refresh workers", elem_id="workers_refresh", size="sm")
    refresh.click(lambda: workers_html(app), outputs=[table], show_progress="hidden")
