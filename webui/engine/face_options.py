"""A1111 v1.10's face-restoration settings (`shared_options.py`, section "Face restoration"), as OptionSpecs.

Kept beside the feature so the keys, defaults and ranges are in one place; the composition root registers the
ones the options catalogue does not already define. (`face_restoration_unload` is not honoured yet, so it is
not declared here.) "Restore faces" is a setting in A1111 v1.10 (shown in
quicksettings when the user adds `face_restoration` there), not a checkbox under the prompt; a request's
`restore_faces` overrides it for that request.
"""

from __future__ import annotations

from webui.config.options import OptionSpec
from webui.model_manager.face_models import CODEFORMER, RESTORER_NAMES

SECTION = "face-restoration"


def face_option_specs() -> tuple[OptionSpec, ...]:
    return (
        OptionSpec("face_restoration", False, "Restore faces", SECTION, section_label="Face restoration"),
        OptionSpec("face_restoration_model", CODEFORMER, "Face restoration model", SECTION,
                   choices=RESTORER_NAMES, component="radio", section_label="Face restoration"),
        OptionSpec("code_former_weight", 0.5, "CodeFormer weight (0 = maximum effect; 1 = minimum effect)",
                   SECTION, minimum=0.0, maximum=1.0, step=0.01, component="slider",
                   section_label="Face restoration"),
    )
