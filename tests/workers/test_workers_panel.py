"""The System tab's worker list, and the progress bar naming the worker (pure HTML; no server)."""

from types import SimpleNamespace

from webui.jobs.job import Job, JobProgress
from webui.jobs.ray_pool import WorkerFacts, WorkerState, WorkerView
from webui.ui.html import progress_html
from webui.ui.workers_panel import workers_html, workers_table


def test_each_worker_is_a_row_with_its_node_device_memory_checkpoint_jobs_and_state():
    gpu = WorkerFacts("gpu-box", 41, "NVIDIA RTX 4090", 0, 0, 24 * 2**30, 3 * 2**30, "v1-5 [6ce0161689]")
    views = [WorkerView("worker-1", WorkerState.BUSY, gpu, 12, "abcdef0123456", 0),
             WorkerView("worker-2", WorkerState.DOWN, WorkerFacts("<b>lab</b>", 7, "cpu", 2, 2**30), 3, None, 1)]
    table = workers_table(views)
    assert "<td>worker-1</td><td>gpu-box</td><td>NVIDIA RTX 4090</td><td>3.0 / 24.0 GB VRAM</td>" in table
    assert "<td>v1-5 [6ce0161689]</td><td>12</td><td>busy</td><td>abcdef01</td>" in table
    assert "&lt;b&gt;lab&lt;/b&gt;" in table and "<td>cpu, 2 thread(s)</td><td>1.00 GB RAM</td>" in table
    assert "<td>down (restarted 1×)</td>" in table


def test_without_workers_the_panel_says_jobs_run_in_this_process():
    assert "Jobs run in this process" in workers_html(SimpleNamespace(workers=None))


def test_the_progress_bar_names_the_worker_running_the_job():
    job = Job(SimpleNamespace(steps=4, batch_count=1), "alice")
    job.mark_running()
    job.set_worker("worker-2")
    job.report_progress(0, 2, 4)
    bar = progress_html(job.snapshot())
    assert "step 2/4" in bar and bar.endswith(" · on worker-2</span></div>")
    assert job.snapshot().progress == JobProgress(0, 2, 4, 1)
