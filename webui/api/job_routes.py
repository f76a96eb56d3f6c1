"""Our own job routes (beside A1111's API): a caller's job history, one job's result, and cancelling it.

A1111 clients wait on `/sdapi/v1/txt2img`; if such a client goes away, its job still runs and its result stays here
for its owner (until the queue forgets old jobs), and a job restored after a restart saves its images to outputs.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from webui.api.callers import current_caller, job_owner, may_control
from webui.app_context import App
from webui.jobs.job import JobSnapshot
from webui.security.accounts import Caller


def _images_of(result: Any) -> list[Any]:
    """The images a finished job made: a generation's `images`, an Extras run's `outputs`; none for other kinds."""
    if result is None:
        return []
    return list(getattr(result, "images", None) or getattr(result, "outputs", None) or [])


def describe(snapshot: JobSnapshot, with_images: bool = False) -> dict[str, Any]:
    images = _images_of(snapshot.result)
    described: dict[str, Any] = {
        "id": snapshot.id, "kind": snapshot.kind.value, "state": snapshot.state.value,
        "queue_position": snapshot.queue_position, "progress": snapshot.progress.fraction, "error": snapshot.error,
        "image_count": len(images),
        "worker": snapshot.worker, "retried_from": list(snapshot.retried_from),  # device workers (--workers)
        "files": [str(image.path) for image in images if image.path is not None],
    }
    if with_images:
        described["images"] = [base64.b64encode(image.png).decode("ascii") for image in images]
        described["infotexts"] = [image.infotext for image in images]
    return described


def create_job_router(app: App) -> APIRouter:
    router = APIRouter(prefix="/kestrel/v1", tags=["jobs"])

    def owned(job_id: str, caller: Caller) -> JobSnapshot:
        job = app.jobs.get(job_id)
        if job is None or not may_control(caller, job.owner):  # someone else's job is reported as unknown
            raise HTTPException(404, f"no job {job_id!r} of yours")
        return job.snapshot()

    @router.get("/jobs")
    def my_jobs(caller: Caller = Depends(current_caller)) -> list[dict[str, Any]]:
        return [describe(snapshot) for snapshot in app.jobs.snapshots_of(job_owner(caller))]

    @router.get("/jobs/{job_id}")
    def my_job(job_id: str, caller: Caller = Depends(current_caller)) -> dict[str, Any]:
        return describe(owned(job_id, caller), with_images=True)

    @router.delete("/jobs/{job_id}")
    def cancel_job(job_id: str, caller: Caller = Depends(current_caller)) -> dict[str, Any]:
        owned(job_id, caller)
        return {"cancelled": app.jobs.cancel(job_id)}

    return router
