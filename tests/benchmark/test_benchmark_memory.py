"""The benchmark's memory column on a CPU: each configuration's own peak, also after a larger configuration left
its freed pages resident (the RSS high-water mark used to be above them: 0.00 MB rows)."""

from webui.benchmark.plan import BenchmarkConfig, PlannedRun
from webui.benchmark.runner import Benchmark, BenchmarkSettings, PeakMemory, release_freed_memory


def test_a_configuration_measured_after_a_larger_one_reports_its_own_peak(loaded_manager):
    planned = [PlannedRun(BenchmarkConfig("fp32", "sdpa", size)) for size in (256, 64)]
    _, (large, small) = Benchmark(loaded_manager, BenchmarkSettings(steps=2)).run(planned)
    assert large.peak_memory_mb > small.peak_memory_mb > 1.0  # it was 0.004 MB before the allocator trim


def test_peak_memory_counts_what_the_block_allocates_after_a_bigger_block():
    import torch

    assert release_freed_memory()  # glibc here
    with PeakMemory("cpu"):
        big = [torch.ones(64, 1024) for _ in range(800)]  # 200 MB in 256 KB pieces: heap, not mmap
        del big
    with PeakMemory("cpu") as second:
        small = [torch.ones(64, 1024) for _ in range(100)]  # 25 MB
    del small
    assert second.megabytes > 15
