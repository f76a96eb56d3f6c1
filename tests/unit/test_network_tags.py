import pytest

from webui.engine.network_tags import NetworkTag, extract_network_tags


@pytest.mark.parametrize(("prompt", "text", "tags"), [
    ("1girl <lora:flat:0.8>, smile", "1girl , smile", [NetworkTag("lora", "flat", 0.8, 0.8)]),
    ("<lora:a>", "", [NetworkTag("lora", "a", 1.0, 1.0)]),
    ("<lora:a:0.7:0.3>", "", [NetworkTag("lora", "a", 0.7, 0.3)]),
    ("<lora:a:te=0.5:unet=0.2>", "", [NetworkTag("lora", "a", 0.5, 0.2)]),
    ("<lyco:b:1.2> x <hypernet:h:0.4>", " x ",
     [NetworkTag("lyco", "b", 1.2, 1.2), NetworkTag("hypernet", "h", 0.4, 0.4)]),
    ("no tags (here:1.2)", "no tags (here:1.2)", []),
])
def test_tags_are_parsed_and_removed(prompt, text, tags):
    assert extract_network_tags(prompt) == (text, tuple(tags))
    assert all(tag.is_lora == (tag.kind in ("lora", "lyco")) for tag in tags)


def test_a_bad_weight_names_the_tag():
    with pytest.raises(ValueError, match=r"<lora:a:much>: 'much' is not a number"):
        extract_network_tags("<lora:a:much>")
