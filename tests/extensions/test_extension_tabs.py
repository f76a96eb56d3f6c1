"""Extension tabs on the page: a builder that raises costs only its tab, a taken elem_id is refused by name."""

import gradio as gr

from webui.extensions.registry import Contributions, ExtensionRecord, Extensions, Status, TabSpec
from webui.ui.extension_tabs import build_extension_tabs, extension_head


def registry(tmp_path, **tabs):
    extensions = Extensions()
    for name, specs in tabs.items():
        extensions.add(ExtensionRecord(name, tmp_path / name, "kestrel", Status.LOADED),
                       Contributions(tabs=tuple(TabSpec(name, title, builder, elem_id) for title, builder, elem_id
                                                in specs), scripts=(("x/javascript/a.js", "var a = '</script>';"),)))
    return extensions


def test_failing_builders_and_taken_ids_are_recorded(tmp_path):
    def explode(ctx):
        gr.Markdown("half")
        raise RuntimeError("builder exploded on purpose")

    extensions = registry(tmp_path, one=[("One", lambda ctx: gr.Markdown("one"), "shared_id")],
                          two=[("Two", explode, "two_id"), ("Again", lambda ctx: None, "shared_id"),
                               ("Clash", lambda ctx: None, "settings")])
    with gr.Blocks() as page, gr.Tabs():
        build_extension_tabs(extensions, [])
    tab_ids = [block.elem_id for block in page.blocks.values() if isinstance(block, gr.Tab)]
    assert tab_ids == ["tab_shared_id", "tab_two_id"]
    failures = extensions.record("two").failures
    assert [failure.stage for failure in failures] == ["tab", "tab", "tab"]
    assert "builder exploded on purpose" in failures[0].traceback
    assert "tab elem_id 'shared_id' is already used" in failures[1].traceback
    assert "'settings' is already used" in failures[2].traceback
    assert extensions.record("one").failures == []


def test_scripts_cannot_close_their_tag_early(tmp_path):
    head = extension_head(registry(tmp_path, one=[]))
    assert "var a = '<\\/script>';" in head and "window.onUiLoaded" in head
