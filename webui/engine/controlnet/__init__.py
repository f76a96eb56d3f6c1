"""ControlNet built in, compatible with A1111's sd-webui-controlnet: units, hints, the UNet hook, preprocessors."""
