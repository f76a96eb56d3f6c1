"""The built-in benchmark: the plan per device (pure), the report formats, and a real run on the tiny model."""

import csv
import io

import pytest

from webui.benchmark.plan import BenchmarkConfig, Capabilities, plan_benchmark
from webui.benchmark.report import RunResult, SystemDescription, csv_report, markdown_report

CPU = Capabilities("cpu", bf16=True, xformers=False)
CUDA = Capabilities("cuda", bf16=True, xformers=True, total_vram_mb=6144)


def test_cpu_plan_skips_fp16_and_xformers_with_reasons():
    runs = plan_benchmark(CPU, (256,))
    assert len(runs) == 12
    reasons = {(run.config.precision, run.config.attention): run.skip_reason for run in runs}
    assert reasons[("fp32", "sdpa")] is None and reasons[("bf16", "classic")] is None
    assert "CUDA" in reasons[("fp16", "sdpa")] and "CUDA only" in reasons[("fp32", "xformers")]


def test_cuda_plan_runs_everything_it_can():
    runs = plan_benchmark(CUDA, (512, 768), precisions=("fp16",), attentions=("sdpa", "xformers"))
    assert [run.skip_reason for run in runs] == [None] * 4
    assert [run.config.resolution for run in runs] == [512, 512, 768, 768]
    no_xformers = plan_benchmark(Capabilities("cuda", bf16=False, xformers=False), (512,), ("bf16", "fp16"),
                                 ("xformers",))
    assert "not supported" in no_xformers[0].skip_reason and "not installed" in no_xformers[1].skip_reason


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"resolutions": (500,)}, "resolution 500 is not allowed"),
    ({"precisions": ("fp8",)}, "unknown precision fp8"),
    ({"attentions": ("flash",)}, "unknown attention flash"),
])
def test_bad_plans_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_benchmark(CPU, **kwargs)


def test_reports_show_skips_as_reasons_not_zeros():
    results = [RunResult(BenchmarkConfig("fp32", "sdpa", 256), 0.5, 2.25, 120.0),
               RunResult(BenchmarkConfig("fp16", "sdpa", 256), skipped="fp16 needs a CUDA card")]
    system = SystemDescription("cpu", "2 CPU threads, 24.0 GB RAM", {"torch": "2.14.1"}, "tiny [abc]", 2.0, 0.4, 4)
    markdown = markdown_report(system, results)
    assert "| fp32 | sdpa | 256 | 0.500 | 2.00 | 2.250 | 120.0 |  |" in markdown
    assert "| fp16 | sdpa | 256 |  |  |  |  | skipped: fp16 needs a CUDA card |" in markdown
    assert "- Device: cpu (2 CPU threads, 24.0 GB RAM)" in markdown
    rows = list(csv.DictReader(io.StringIO(csv_report(results))))
    assert rows[0]["iterations_per_second"] == "2.0000" and rows[1]["seconds_per_step"] == ""
    assert rows[1]["skipped"] == "fp16 needs a CUDA card"


def test_a_real_run_on_the_tiny_model_writes_all_three_files(loaded_manager, tmp_path):
    from webui.benchmark.suite import BenchmarkRequest, run_benchmark

    before = {name: tensor.clone() for name, tensor in loaded_manager.loaded.pipeline.unet.state_dict().items()}
    seen = []
    outcome = run_benchmark(loaded_manager, tmp_path, BenchmarkRequest((64, 128), ("fp32", "fp16"),
                                                                        ("sdpa", "sliced"), steps=2),
                            progress=lambda done, total, what: seen.append((done, total)))
    assert {path.name for path in outcome.folder.iterdir()} == {"report.md", "results.csv", "plot.png"}
    assert outcome.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    measured = [result for result in outcome.results if result.skipped is None]
    assert len(measured) == 4 and all(result.seconds_per_step > 0 and result.seconds_per_image > 0
                                      for result in measured)
    assert all(result.peak_memory_mb is not None and result.peak_memory_mb >= 0 for result in measured)
    assert [result.skipped is not None for result in outcome.results] == [False, False, True, True] * 2
    assert seen[-1] == (4, 4)
    after = loaded_manager.loaded.pipeline.unet.state_dict()  # the live model was not touched
    assert all(after[name].dtype == tensor.dtype and bool((after[name] == tensor).all())
               for name, tensor in before.items())
