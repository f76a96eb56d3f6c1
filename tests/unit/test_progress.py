"""Progress as A1111 computes it, and the bar the page shows."""

from webui.engine.request import GenerationRequest
from webui.jobs.job import Job, JobProgress, JobState
from webui.ui.html import format_eta, infotext_html, progress_html


def test_fraction_counts_finished_batches_plus_the_current_one():
    assert JobProgress(batch_index=0, step=5, total_steps=20, batch_count=1).fraction == 0.25
    assert JobProgress(batch_index=1, step=10, total_steps=20, batch_count=2).fraction == 0.75
    assert JobProgress(total_steps=0).fraction == 0.0


def test_bar_shows_the_queue_position_then_steps_and_eta():
    job = Job(GenerationRequest(steps=20, batch_count=2, batch_size=4), owner="alice")
    job.set_queue_position(2)
    assert "2 job(s) ahead of you" in progress_html(job.snapshot())
    job.mark_running()
    job.report_progress(1, 10, 20)
    html = progress_html(job.snapshot())
    assert "75% · batch 2/2 · step 10/20" in html and 'style="width:75%"' in html and "ETA: 00:0" in html
    job.finish(JobState.DONE, result="r")
    assert progress_html(job.snapshot()) == ""


def test_eta_format_and_escaped_infotext():
    assert format_eta(75.4) == "ETA: 01:15" and format_eta(None) == ""
    html = infotext_html("<b>cat</b>\nSteps: 20", seconds=1.234, note="Interrupted")
    assert "&lt;b&gt;cat&lt;/b&gt;<br>Steps: 20" in html and "1.23 s" in html and "Interrupted" in html
