"""sd-webui-controlnet's settings that Kestrel acts on (its Settings section "ControlNet", `control_net`), as
OptionSpecs: keys, defaults and labels as the extension has them, so A1111 clients and config.json files carry
over."""

from __future__ import annotations

from webui.config.options import OptionSpec
from webui.engine.controlnet.unit import DEFAULT_UNIT_COUNT, MAX_UNITS

SECTION, SECTION_LABEL = "control_net", "ControlNet"
NO_DETECTMAP = "control_net_no_detectmap"


def controlnet_option_specs() -> tuple[OptionSpec, ...]:
    return (
        OptionSpec("control_net_unit_count", DEFAULT_UNIT_COUNT,
                   "Multi-ControlNet: ControlNet unit number (requires restart)", SECTION, minimum=1,
                   maximum=MAX_UNITS, step=1, component="slider", section_label=SECTION_LABEL),
        OptionSpec(NO_DETECTMAP, False, "Do not append detectmap to output", SECTION, section_label=SECTION_LABEL),
    )
