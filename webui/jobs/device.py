"""The one thread that does model work: loading and swapping checkpoints, generating, benchmarking, merging.

Why one thread: besides keeping the device's work in order, PyTorch's CPU kernels run on an OpenMP team per calling
thread, and a team left by another thread slows the next one badly — measured here, a model loaded on the main
thread then sampled on the queue's worker ran 3.4× slower than the same work on one thread (bench/overhead.py).
Callers on any thread hand their work over with `run` and wait for the result; work already on this thread runs
directly, so nested calls cannot deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class DeviceThread:
    def __init__(self, name: str = "device") -> None:
        self._marker = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=self._mark)

    def _mark(self) -> None:
        self._marker.is_device_thread = True

    @property
    def is_current(self) -> bool:
        return bool(getattr(self._marker, "is_device_thread", False))

    def run(self, function: Callable[..., T], *args, **kwargs) -> T:
        """Run `function` on the device thread and return its result (or raise its exception) to the caller."""
        if self.is_current:
            return function(*args, **kwargs)
        return self._executor.submit(function, *args, **kwargs).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
