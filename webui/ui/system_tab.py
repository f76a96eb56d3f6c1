"""The System tab: what this machine is and does (device, memory, the memory plan, versions, the loaded checkpoint
and the RAM cache), and the built-in fp16 benchmark with its report, CSV and plot."""

from __future__ import annotations

import os
import platform

import gradio as gr

from webui.app_context import App
from webui.benchmark.plan import ATTENTIONS, DEFAULT_RESOLUTIONS, PRECISIONS
from webui.benchmark.suite import BenchmarkRequest
from webui.errors import KestrelError
from webui.jobs.job import JobKind
from webui.jobs.tasks import BenchmarkSpec
from webui.jobs.tasks import outcome as result_of_job
from webui.ui.callers import require_admin, ui_owner
from webui.ui.memory_ledger import ledger_markdown
from webui.ui.workers_panel import build_workers_panel


def system_markdown(app: App) -> str:
    import diffusers
    import torch
    import transformers

    plan = app.models.plan
    if plan.device == "cuda" and torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        device = f"CUDA: {properties.name}, {properties.total_memory / 2**30:.1f} GB VRAM"
    else:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        device = f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} threads, {ram:.1f} GB RAM"
    loaded = app.models.loaded
    cache = app.models.cache
    lines = [
        f"- **Device**: {device}",
        f"- **Memory plan**: {plan.describe()}",
        f"- **Why**: {'; '.join(plan.reasons) or 'defaults'}",
        f"- **Versions**: torch {torch.__version__}, diffusers {diffusers.__version__}, "
        f"transformers {transformers.__version__}, Python {platform.python_version()}",
        f"- **Loaded checkpoint**: {loaded.record.title if loaded else 'none'}"
        + (f" (loaded in {loaded.load_seconds:.2f} s{', from the RAM cache' if loaded.from_cache else ''})"
           if loaded else ""),
        f"- **RAM cache**: {len(cache.keys())} checkpoint(s), {cache.total_bytes() / 2**20:.0f} MB: "
        + (", ".join(cache.keys()) or "empty"),
    ]
    return "\n".join(lines)


def build_system_tab(app: App) -> None:
    info = gr.Markdown(lambda: system_markdown(app), elem_id="system_info")  # evaluated on each page load
    ledger = gr.Markdown(lambda: ledger_markdown(app), elem_id="memory_ledger")
    refresh = gr.Button("🔄 Refresh", elem_id="system_refresh", size="sm")
    build_workers_panel(app)
    with gr.Accordion("Benchmark", open=True, elem_id="benchmark"):
        with gr.Row():
            resolutions = gr.CheckboxGroup([256, 512, 768, 1024], value=list(DEFAULT_RESOLUTIONS),
                                           label="Resolutions", elem_id="benchmark_resolutions")
            precisions = gr.CheckboxGroup(list(PRECISIONS), value=list(PRECISIONS), label="Precisions",
                                          elem_id="benchmark_precisions")
            attentions = gr.CheckboxGroup(list(ATTENTIONS), value=list(ATTENTIONS), label="Attention",
                                          elem_id="benchmark_attentions")
            steps = gr.Slider(2, 50, value=4, step=1, label="Steps per image", elem_id="benchmark_steps")
        run = gr.Button("Run benchmark", variant="primary", elem_id="benchmark_run")
        status = gr.HTML(elem_id="benchmark_status")
        report = gr.Markdown(elem_id="benchmark_report")
        plot = gr.Image(label="Plot", type="filepath", interactive=False, elem_id="benchmark_plot")

    async def benchmark(chosen_resolutions, chosen_precisions, chosen_attentions, chosen_steps,
                        gradio_request: gr.Request, progress=gr.Progress()):
        require_admin(app, gradio_request, "A benchmark holds the device for minutes and")
        try:
            request = BenchmarkRequest(tuple(sorted(int(size) for size in chosen_resolutions)),
                                       tuple(chosen_precisions), tuple(chosen_attentions), int(chosen_steps))
            job = app.jobs.submit(BenchmarkSpec(request, app.paths.outputs), ui_owner(app, gradio_request),
                                  kind=JobKind.BENCHMARK)
            async for snapshot in job.updates(interval=0.5):
                progress(snapshot.progress.fraction, desc="benchmarking")
            outcome = result_of_job(snapshot)
        except (ValueError, KestrelError) as error:
            raise gr.Error(str(error)) from error
        return f"<p>Written to <code>{outcome.folder}</code></p>", outcome.markdown, str(outcome.plot)

    refresh.click(lambda: (system_markdown(app), ledger_markdown(app)), outputs=[info, ledger], show_progress="hidden")
    run.click(benchmark, inputs=[resolutions, precisions, attentions, steps], outputs=[status, report, plot],
              concurrency_limit=1)
