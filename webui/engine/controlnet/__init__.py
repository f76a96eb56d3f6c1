"""ControlNet built in, compatible with sd-webui-controlnet: models, preprocessors, units, the UNet hook."""
