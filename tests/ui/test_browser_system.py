"""The System tab in a real browser: the system panel and a small benchmark run with its report and plot."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_system_panel_and_benchmark(start_server, page, tmp_path, artifacts):
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="System").click()
    page.wait_for_function("document.querySelector('#system_info').innerText.includes('Memory plan')")
    text = page.inner_text("#system_info")
    assert "kestrel-demo-tiny.safetensors" in text and "torch 2.14.1" in text and "RAM cache" in text
    for elem_id, names in (("benchmark_resolutions", ("512", "768")), ("benchmark_precisions", ("fp16", "bf16")),
                           ("benchmark_attentions", ("xformers",))):
        for name in names:
            box = page.locator(f"#{elem_id}").get_by_label(name, exact=True)
            box.uncheck()
            assert not box.is_checked()
    page.click("#benchmark_run")
    page.wait_for_selector("#benchmark_report table", timeout=120_000)
    page.wait_for_selector("#benchmark_plot img")
    rows = page.locator("#benchmark_report table tbody tr").all_inner_texts()
    assert [row.split("\t")[:3] for row in rows] == [["fp32", "sdpa", "256"], ["fp32", "sliced", "256"],
                                                      ["fp32", "classic", "256"]]
    (folder,) = (data_dir / "outputs" / "benchmarks").iterdir()
    assert {path.name for path in folder.iterdir()} == {"report.md", "results.csv", "plot.png"}
    page.screenshot(path=artifacts("benchmark"), full_page=True)
