"""Small HTML fragments the UI shows: progress bar and infotext (pure functions, easy to test)."""

from __future__ import annotations

import html

from webui.jobs.job import JobSnapshot, JobState


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"ETA: {minutes:02d}:{secs:02d}"


def progress_html(snapshot: JobSnapshot) -> str:
    """A1111-style bar: percentage, step i/N, ETA; the queue position while waiting."""
    if snapshot.state is JobState.QUEUED:
        ahead = snapshot.queue_position or 0
        text = "Waiting: next in the queue" if ahead == 0 else f"Waiting: {ahead} job(s) ahead of you"
        return f'<div class="progress-info" data-state="queued">{html.escape(text)}</div>'
    if snapshot.state.finished:
        return ""
    progress = snapshot.progress
    percent = int(progress.fraction * 100)
    batch = f"batch {progress.batch_index + 1}/{progress.batch_count} · " if progress.batch_count > 1 else ""
    detail = f"{percent}% · {batch}step {progress.step}/{progress.total_steps} {format_eta(snapshot.eta_seconds)}"
    if snapshot.worker:  # device workers (--workers): which one runs it
        detail = f"{detail.strip()} · on {snapshot.worker}"
    return ('<div class="progress-info" data-state="running">'
            f'<div class="progress-bar" style="width:{percent}%"></div>'
            f'<span class="progress-text">{html.escape(detail.strip())}</span></div>')


def infotext_html(infotext: str, seconds: float | None = None, note: str | None = None) -> str:
    """The infotext under the gallery, escaped, one line per line, with the time taken."""
    body = "<br>".join(html.escape(line) for line in infotext.split("\n"))
    parts = [f'<p class="infotext">{body}</p>']
    if seconds is not None:
        parts.append(f'<p class="time-taken">Time taken: <b>{seconds:.2f} s</b></p>')
    if note:
        parts.append(f'<p class="generation-note">{html.escape(note)}</p>')
    return "".join(parts)
