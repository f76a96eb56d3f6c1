"""styles.csv as A1111 reads and writes it."""

import pytest

from webui.config.styles import PromptStyle, StyleStore, merge_prompt

A1111_FILE = ('name,prompt,negative_prompt\n'
              '"anime","masterpiece, best quality, {prompt}","lowres, bad anatomy"\n'
              '"# comment row","ignored",""\n'
              'sketch,"pencil sketch",\n')


def test_a1111_file_is_read_with_comments_skipped(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text(A1111_FILE, encoding="utf-8")
    store = StyleStore(path)
    assert store.names() == ["anime", "sketch"]
    assert store.apply("1girl", "blurry", ["anime", "sketch"]) == (
        "masterpiece, best quality, 1girl, pencil sketch", "blurry, lowres, bad anatomy")
    with pytest.raises(ValueError, match="style 'nope' is not in styles.csv; known styles: anime, sketch"):
        store.apply("x", "", ["nope"])


def test_placeholder_and_append_rules():
    assert merge_prompt("a {prompt} b", "cat") == "a cat b"
    assert merge_prompt("style", "") == "style"
    assert merge_prompt("", "cat") == "cat"


def test_saving_writes_the_a1111_format_atomically_and_reloads_on_change(tmp_path):
    path = tmp_path / "styles.csv"
    store = StyleStore(path)
    assert store.names() == []
    store.save(PromptStyle("portrait", "close-up, {prompt}", "cropped"))
    assert path.read_text(encoding="utf-8").splitlines() == [
        "name,prompt,negative_prompt", 'portrait,"close-up, {prompt}",cropped']
    assert not list(tmp_path.glob("*.tmp*"))
    other = StyleStore(path)
    assert other.apply("cat", "", ["portrait"]) == ("close-up, cat", "cropped")
    path.write_text(A1111_FILE, encoding="utf-8")
    assert "anime" in other.names()
    with pytest.raises(ValueError, match="not allowed"):
        store.save(PromptStyle("#hidden"))
