"""The Ray side of the device workers: start a local cluster (loopback only) or join one, and start the actors.

Resources are explicit and small: a local cluster gets one CPU slot per worker, a 150 MB object store (results are
a few PNGs), no dashboard and loopback addresses only; a joined cluster gets one worker per GPU (`num_gpus=1`).
Each actor is restarted by Ray when its process dies (`max_restarts=-1`); the call that was running fails (no task
retries: the queue decides whether the job runs again, once, so nothing runs twice to completion).
Ray is imported here only, when `--workers` or `--ray-address` asks for workers.

Loopback: Ray turns a node address of 127.0.0.1 into the machine's LAN address and its gRPC servers then listen
on every interface, unless `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` is in the environment (Ray's "no cluster" switch:
the node address stays 127.0.0.1 and every server binds it). app.py sets it for `--workers` without
`--ray-address` (only app.py touches the environment); a local cluster started without it is logged as a warning.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from webui.jobs.ray_worker import DeviceWorker, EngineRecipe

log = logging.getLogger(__name__)
OBJECT_STORE_BYTES = 150 * 2**20
ACTOR_THREADS = 4
LOOPBACK = ("127.0.0.1", "::1", "localhost")  # generate + poll + signal + status may be in flight at once


@dataclass(frozen=True)
class ClusterPlan:
    workers: int = 0                   # local workers; with an address, used only when the cluster has no GPU
    threads: int | None = None         # torch threads per CPU worker (default: cores ÷ workers)
    address: str | None = None         # join this cluster instead of starting one
    object_store_bytes: int = OBJECT_STORE_BYTES
    log_to_driver: bool = False        # workers' stdout/stderr in this process's log


def worker_threads(plan: ClusterPlan, count: int) -> int:
    return plan.threads or max(1, (os.cpu_count() or 1) // max(1, count))


class RayCluster:
    """The connection and the actors; `shutdown` ends the actors and, for a cluster it started, the cluster."""

    def __init__(self, plan: ClusterPlan, recipe: EngineRecipe) -> None:
        self._plan = plan
        self._recipe = recipe
        self._started_ray = False
        self.actors: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        try:
            import ray
        except ImportError as error:
            raise RuntimeError("--workers and --ray-address need Ray: ./launch.sh installs it "
                               "(pip install -r requirements-ray.txt)") from error

        plan = self._plan
        common: dict[str, Any] = {"namespace": "kestrel", "log_to_driver": plan.log_to_driver,
                                  "configure_logging": False}
        if not ray.is_initialized():
            if plan.address:
                ray.init(address=plan.address, **common)
            else:
                ray.init(num_cpus=max(1, plan.workers), object_store_memory=plan.object_store_bytes,
                         include_dashboard=False, _node_ip_address="127.0.0.1", **common)
            self._started_ray = True
            if not plan.address and ray.util.get_node_ip_address() not in LOOPBACK:
                log.warning("the local Ray cluster listens on %s, not only on loopback (start through app.py, or set "
                            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0)", ray.util.get_node_ip_address())
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = gpus if plan.address and gpus else max(1, plan.workers)
        share = 1.0 if gpus >= count else gpus / count
        threads = worker_threads(plan, count)
        actor_class = ray.remote(DeviceWorker)
        for index in range(count):
            self.actors[f"worker-{index + 1}"] = actor_class.options(
                num_cpus=0 if gpus else 1, num_gpus=share, max_restarts=-1, max_task_retries=0,
                max_concurrency=ACTOR_THREADS).remote(self._recipe, threads)
        log.info("Ray: %d device worker(s) (%s, %d torch thread(s) each)", count,
                 f"{share:g} GPU each" if gpus else "CPU", threads)
        return self.actors

    def shutdown(self) -> None:
        import ray

        for actor in self.actors.values():
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # already gone, or the cluster with it: nothing left to end
                log.debug("actor already gone", exc_info=True)
        self.actors = {}
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False
