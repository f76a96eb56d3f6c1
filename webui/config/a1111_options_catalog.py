"""A1111's option keys (modules/shared_options.py, v1.6–1.10), as data: key, default, label, section, type limits.

`/sdapi/v1/options` answers with every key an A1111 client may read, and `config.json` files written by A1111 keep
their values. Kestrel honours only some of them (those `options.default_options` defines itself, with their own
spec); every other key here becomes an `OptionSpec` with `honoured=False`: it is listed with its value and can be
set (the value is validated against its type, remembered and written to config.json, so an A1111 client reads
back what it wrote), but it changes nothing yet, and `POST /options` says so in its answer. Sections are A1111's
ids with A1111's titles. Facts only (names, types, defaults, the labels users see); no code of A1111's.
"""

from __future__ import annotations

from typing import Any

# A1111's section id → its title in the Settings tab
SECTIONS: dict[str, str] = {
    "saving-images": "Saving images/grids", "saving-paths": "Paths for saving",
    "saving-to-dirs": "Saving to a directory", "upscaling": "Upscaling", "face-restoration": "Face restoration",
    "system": "System", "API": "API", "training": "Training", "sd": "Stable Diffusion",
    "sdxl": "Stable Diffusion XL", "vae": "VAE", "img2img": "img2img", "optimizations": "Optimizations",
    "compatibility": "Compatibility", "interrogate": "Interrogate", "extra_networks": "Extra Networks",
    "ui": "User interface", "infotext": "Infotext", "sampler-params": "Sampler parameters",
    "postprocessing": "Postprocessing", "hidden": "Hidden options",
}

Row = tuple[str, Any, str, dict[str, Any]]  # key, default, label, {minimum, maximum, step, choices, component}


def _slider(minimum: float, maximum: float, step: float) -> dict[str, Any]:
    return {"minimum": minimum, "maximum": maximum, "step": step, "component": "slider"}


def _radio(*choices: str) -> dict[str, Any]:
    return {"choices": choices, "component": "radio"}


COLOR = {"component": "color"}
NUMBER = {"component": "number"}
NONE: dict[str, Any] = {}

CATALOG: dict[str, tuple[Row, ...]] = {
    "saving-images": (
        ("samples_save", True, "Always save all generated images", NONE),
        ("samples_format", "png", "File format for images", NONE),
        ("samples_filename_pattern", "", "Images filename pattern", NONE),
        ("save_images_add_number", True, "Add number to filename when saving", NONE),
        ("grid_save", True, "Always save all generated image grids", NONE),
        ("grid_format", "png", "File format for grids", NONE),
        ("grid_extended_filename", False, "Add extended info (seed, prompt) to filename when saving grid", NONE),
        ("grid_only_if_multiple", True, "Do not save grids consisting of one picture", NONE),
        ("grid_prevent_empty_spots", False, "Prevent empty spots in grid (when set to autodetect)", NONE),
        ("grid_zip_filename_pattern", "", "Archive filename pattern", NONE),
        ("n_rows", -1, "Grid row count; use -1 for autodetect and 0 for it to be same as batch size",
         _slider(-1, 16, 1)),
        ("font", "", "Font for image grids that have text", NONE),
        ("grid_text_active_color", "#000000", "Text color for image grids", COLOR),
        ("grid_text_inactive_color", "#999999", "Inactive text color for image grids", COLOR),
        ("grid_background_color", "#ffffff", "Background color for image grids", COLOR),
        ("enable_pnginfo", True, "Save text information about generation parameters as chunks to png files", NONE),
        ("save_txt", False, "Create a text file next to every image with generation parameters.", NONE),
        ("save_images_before_face_restoration", False, "Save a copy of image before doing face restoration.", NONE),
        ("save_images_before_highres_fix", False, "Save a copy of image before applying highres fix.", NONE),
        ("save_images_before_color_correction", False,
         "Save a copy of image before applying color correction to img2img results", NONE),
        ("save_mask", False, "For inpainting, save a copy of the greyscale mask", NONE),
        ("save_mask_composite", False, "For inpainting, save a masked composite", NONE),
        ("jpeg_quality", 80, "Quality for saved jpeg images", _slider(1, 100, 1)),
        ("webp_lossless", False, "Use lossless compression for webp images", NONE),
        ("export_for_4chan", True, "Save copy of large images as JPG", NONE),
        ("img_downscale_threshold", 4.0, "File size limit for the above option, MB", NUMBER),
        ("target_side_length", 4000, "Width/height limit for the above option, in pixels", NUMBER),
        ("img_max_size_mp", 200, "Maximum image size", NUMBER),
        ("use_original_name_batch", True, "Use original name for output filename during batch process in extras tab",
         NONE),
        ("use_upscaler_name_as_suffix", False, "Use upscaler name as filename suffix in the extras tab", NONE),
        ("save_selected_only", True, "When using 'Save' button, only save a single selected image", NONE),
        ("save_init_img", False, "Save init images when using img2img", NONE),
        ("temp_dir", "", "Directory for temporary images; leave empty for default", NONE),
        ("clean_temp_dir_at_start", False, "Cleanup non-default temporary directory when starting webui", NONE),
        ("save_incomplete_images", False, "Save incomplete images", NONE),
    ),
    "saving-paths": (
        ("outdir_samples", "", "Output directory for images; if empty, defaults to three directories below", NONE),
        ("outdir_txt2img_samples", "outputs/txt2img-images", "Output directory for txt2img images", NONE),
        ("outdir_img2img_samples", "outputs/img2img-images", "Output directory for img2img images", NONE),
        ("outdir_extras_samples", "outputs/extras-images", "Output directory for images from extras tab", NONE),
        ("outdir_grids", "", "Output directory for grids; if empty, defaults to two directories below", NONE),
        ("outdir_txt2img_grids", "outputs/txt2img-grids", "Output directory for txt2img grids", NONE),
        ("outdir_img2img_grids", "outputs/img2img-grids", "Output directory for img2img grids", NONE),
        ("outdir_save", "log/images", "Directory for saving images using the Save button", NONE),
        ("outdir_init_images", "outputs/init-images", "Directory for saving init images when using img2img", NONE),
    ),
    "saving-to-dirs": (
        ("save_to_dirs", True, "Save images to a subdirectory", NONE),
        ("grid_save_to_dirs", True, "Save grids to a subdirectory", NONE),
        ("use_save_to_dirs_for_ui", False, "When using \"Save\" button, save images to a subdirectory", NONE),
        ("directories_filename_pattern", "[date]", "Directory name pattern", NONE),
        ("directories_max_prompt_words", 8, "Max prompt words for [prompt_words] pattern", _slider(1, 20, 1)),
    ),
    "upscaling": (
        ("ESRGAN_tile", 192, "Tile size for ESRGAN upscalers.", _slider(0, 512, 16)),
        ("ESRGAN_tile_overlap", 8, "Tile overlap for ESRGAN upscalers.", _slider(0, 48, 1)),
        ("realesrgan_enabled_models", ["R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B"],
         "Select which Real-ESRGAN models to show in the web UI.", NONE),
        ("upscaler_for_img2img", None, "Upscaler for img2img", NONE),
    ),
    "face-restoration": (
        ("face_restoration", False, "Restore faces", NONE),
        ("face_restoration_model", "CodeFormer", "Face restoration model", NONE),
        ("code_former_weight", 0.5, "CodeFormer weight", _slider(0, 1, 0.01)),
        ("face_restoration_unload", False, "Move face restoration model from VRAM into RAM after processing", NONE),
    ),
    "system": (
        ("auto_launch_browser", "Local", "Automatically open webui in browser on startup",
         _radio("Disable", "Local", "Remote")),
        ("show_warnings", False, "Show warnings in console.", NONE),
        ("show_gradio_deprecation_warnings", True, "Show gradio deprecation warnings in console.", NONE),
        ("memmon_poll_rate", 8, "VRAM usage polls per second during generation.", _slider(0, 40, 1)),
        ("samples_log_stdout", False, "Always print all generation info to standard output", NONE),
        ("multiple_tqdm", True, "Add a second progress bar to the console that shows progress for an entire job.",
         NONE),
        ("print_hypernet_extra", False, "Print extra hypernetwork information to console.", NONE),
        ("list_hidden_files", True, "Load models/files in hidden directories", NONE),
        ("disable_mmap_load_safetensors", False, "Disable memmapping for loading .safetensors files.", NONE),
        ("hide_ldm_prints", True, "Prevent Stability-AI's ldm/sgm modules from printing noise to console.", NONE),
    ),
    "API": (
        ("api_enable_requests", True, "Allow http:// and https:// URLs for input images in API", NONE),
        ("api_forbid_local_requests", True, "Forbid URLs to local resources", NONE),
        ("api_useragent", "", "User agent for requests", NONE),
    ),
    "training": (
        ("unload_models_when_training", False, "Move VAE and CLIP to RAM when training if possible. Saves VRAM.",
         NONE),
        ("pin_memory", False, "Turn on pin_memory for DataLoader. Makes training slightly faster but can increase "
         "memory usage.", NONE),
        ("save_optimizer_state", False, "Saves Optimizer state as separate *.optim file. Training of embedding or HN "
         "can be resumed with the matching optim file.", NONE),
        ("save_training_settings_to_txt", True, "Save textual inversion and hypernet settings to a text file "
         "whenever training starts.", NONE),
        ("dataset_filename_word_regex", "", "Filename word regex", NONE),
        ("dataset_filename_join_string", " ", "Filename join string", NONE),
        ("training_image_repeats_per_epoch", 1, "Number of repeats for a single input image per epoch; used only for "
         "displaying epoch number", NUMBER),
        ("training_write_csv_every", 500, "Save an csv containing the loss to log directory every N steps, 0 to "
         "disable", NONE),
        ("training_xattention_optimizations", False, "Use cross attention optimizations while training", NONE),
        ("training_enable_tensorboard", False, "Enable tensorboard logging.", NONE),
        ("training_tensorboard_save_images", False, "Save generated images within tensorboard.", NONE),
        ("training_tensorboard_flush_every", 120, "How often, in seconds, to flush the pending tensorboard events "
         "and summaries to disk.", NONE),
    ),
    "sd": (
        ("sd_checkpoints_keep_in_cpu", True, "Only keep one model on device", NONE),
        ("sd_checkpoint_cache", 0, "Checkpoints to cache in RAM", _slider(0, 10, 1)),
        ("sd_unet", "Automatic", "SD Unet", NONE),
        ("enable_quantization", False, "Enable quantization in K samplers for sharper and cleaner results. This may "
         "change existing seeds", NONE),
        ("emphasis", "Original", "Emphasis mode", NONE),
        ("enable_batch_seeds", True, "Make K-diffusion samplers produce same images in a batch as when making a "
         "single image", NONE),
        ("comma_padding_backtrack", 20, "Prompt word wrap length limit", _slider(0, 74, 1)),
        ("sdxl_clip_l_skip", False, "Clip skip SDXL", NONE),
        ("upcast_attn", False, "Upcast cross attention layer to float32", NONE),
        ("tiling", False, "Tiling", NONE),
        ("hires_fix_refiner_pass", "second pass", "Hires fix: which pass to enable refiner for",
         _radio("first pass", "second pass", "both passes")),
        ("enable_prompt_comments", True, "Enable comments", NONE),
        ("sd_noise_schedule", "Default", "Noise schedule for sampling", _radio("Default", "Zero Terminal SNR")),
    ),
    "sdxl": (
        ("sdxl_crop_top", 0, "crop top coordinate", NONE),
        ("sdxl_crop_left", 0, "crop left coordinate", NONE),
        ("sdxl_refiner_low_aesthetic_score", 2.5, "SDXL low aesthetic score", NUMBER),
        ("sdxl_refiner_high_aesthetic_score", 6.0, "SDXL high aesthetic score", NUMBER),
    ),
    "vae": (
        ("sd_vae_checkpoint_cache", 0, "VAE Checkpoints to cache in RAM", _slider(0, 10, 1)),
        ("sd_vae_overrides_per_model_preferences", True, "Selected VAE overrides per-model preferences", NONE),
        ("auto_vae_precision_bfloat16", False, "Automatically convert VAE to bfloat16", NONE),
        ("auto_vae_precision", True, "Automatically revert VAE to 32-bit floats", NONE),
        ("sd_vae_encode_method", "Full", "VAE type for encode", _radio("Full", "TAESD")),
        ("sd_vae_decode_method", "Full", "VAE type for decode", _radio("Full", "TAESD")),
    ),
    "img2img": (
        ("inpainting_mask_weight", 1.0, "Inpainting conditioning mask strength", _slider(0.0, 1.0, 0.01)),
        ("initial_noise_multiplier", 1.0, "Noise multiplier for img2img", _slider(0.0, 1.5, 0.001)),
        ("img2img_extra_noise", 0.0, "Extra noise multiplier for img2img and hires fix", _slider(0.0, 1.0, 0.01)),
        ("img2img_color_correction", False, "Apply color correction to img2img results to match original colors.",
         NONE),
        ("img2img_fix_steps", False, "With img2img, do exactly the amount of steps the slider specifies.", NONE),
        ("img2img_background_color", "#ffffff", "With img2img, fill transparent parts of the input image with this "
         "color.", COLOR),
        ("img2img_editor_height", 720, "Height of the image editor", _slider(80, 1600, 1)),
        ("img2img_sketch_default_brush_color", "#ffffff", "Sketch initial brush color", COLOR),
        ("img2img_inpaint_mask_brush_color", "#ffffff", "Inpaint mask brush color", COLOR),
        ("img2img_inpaint_sketch_default_brush_color", "#ffffff", "Inpaint sketch initial brush color", COLOR),
        ("return_mask", False, "For inpainting, include the greyscale mask in results for web", NONE),
        ("return_mask_composite", False, "For inpainting, include masked composite in results for web", NONE),
        ("img2img_batch_show_results_limit", 32, "Show the first N batch img2img results in UI",
         _slider(-1, 1000, 1)),
        ("overlay_inpaint", True, "Overlay original for inpaint", NONE),
    ),
    "optimizations": (
        ("cross_attention_optimization", "Automatic", "Cross attention optimization", NONE),
        ("s_min_uncond", 0.0, "Negative Guidance minimum sigma", _slider(0.0, 15.0, 0.01)),
        ("token_merging_ratio", 0.0, "Token merging ratio", _slider(0.0, 0.9, 0.1)),
        ("token_merging_ratio_img2img", 0.0, "Token merging ratio for img2img", _slider(0.0, 0.9, 0.1)),
        ("token_merging_ratio_hr", 0.0, "Token merging ratio for high-res pass", _slider(0.0, 0.9, 0.1)),
        ("pad_cond_uncond", False, "Pad prompt/negative prompt", NONE),
        ("pad_cond_uncond_v0", False, "Pad prompt/negative prompt (v0)", NONE),
        ("persistent_cond_cache", True, "Persistent cond cache", NONE),
        ("batch_cond_uncond", True, "Batch cond/uncond", NONE),
        ("fp8_storage", "Disable", "FP8 weight", _radio("Disable", "Enable for SDXL", "Enable")),
        ("cache_fp16_weight", False, "Cache FP16 weight for LoRA", NONE),
    ),
    "compatibility": (
        ("auto_backcompat", True, "Automatic backward compatibility", NONE),
        ("use_old_emphasis_implementation", False, "Use old emphasis implementation. Can be useful to reproduce old "
         "seeds.", NONE),
        ("use_old_karras_scheduler_sigmas", False, "Use old karras scheduler sigmas (0.1 to 10).", NONE),
        ("no_dpmpp_sde_batch_determinism", False, "Do not make DPM++ SDE deterministic across different batch "
         "sizes.", NONE),
        ("use_old_hires_fix_width_height", False, "For hires fix, use width/height sliders to set final resolution "
         "rather than first pass (disables Upscale by, Resize width/height to).", NONE),
        ("hires_fix_use_firstpass_conds", False, "For hires fix, calculate conds of second pass using extra networks "
         "of first pass.", NONE),
        ("use_old_scheduling", False, "Use old prompt editing timelines.", NONE),
        ("use_downcasted_alpha_bar", False, "Downcast model alphas_cumprod to fp16 before sampling. For "
         "reproducing old seeds.", NONE),
        ("refiner_switch_by_sample_steps", False, "Switch to refiner by sampling steps instead of model timesteps. "
         "Old behavior for refiner.", NONE),
    ),
    "interrogate": (
        ("interrogate_keep_models_in_memory", False, "Keep models in VRAM", NONE),
        ("interrogate_return_ranks", False, "Include ranks of model tags matches in results.", NONE),
        ("interrogate_clip_num_beams", 1, "BLIP: num_beams", _slider(1, 16, 1)),
        ("interrogate_clip_min_length", 24, "BLIP: minimum description length", _slider(1, 128, 1)),
        ("interrogate_clip_max_length", 48, "BLIP: maximum description length", _slider(1, 256, 1)),
        ("interrogate_clip_dict_limit", 1500, "CLIP: maximum number of lines in text file", NONE),
        ("interrogate_clip_skip_categories", [], "CLIP: skip inquire categories", NONE),
        ("interrogate_deepbooru_score_threshold", 0.5, "deepbooru: score threshold", _slider(0, 1, 0.01)),
        ("deepbooru_sort_alpha", True, "deepbooru: sort tags alphabetically", NONE),
        ("deepbooru_use_spaces", True, "deepbooru: use spaces in tags", NONE),
        ("deepbooru_escape", True, "deepbooru: escape (\\) brackets", NONE),
        ("deepbooru_filter_tags", "", "deepbooru: filter out those tags", NONE),
    ),
    "extra_networks": (
        ("extra_networks_show_hidden_directories", True, "Show hidden directories", NONE),
        ("extra_networks_dir_button_function", False, "Add a '/' to the beginning of directory buttons", NONE),
        ("extra_networks_hidden_models", "When searched", "Show cards for models in hidden directories",
         _radio("Always", "When searched", "Never")),
        ("extra_networks_default_multiplier", 1.0, "Default multiplier for extra networks", _slider(0.0, 2.0, 0.01)),
        ("extra_networks_card_width", 0, "Card width for Extra Networks", NONE),
        ("extra_networks_card_height", 0, "Card height for Extra Networks", NONE),
        ("extra_networks_card_text_scale", 1.0, "Card text scale", _slider(0.0, 2.0, 0.01)),
        ("extra_networks_card_show_desc", True, "Show description on card", NONE),
        ("extra_networks_card_description_is_html", False, "Treat card description as HTML", NONE),
        ("extra_networks_card_order_field", "Path", "Default order field for Extra Networks cards",
         _radio("Path", "Name", "Date Created", "Date Modified")),
        ("extra_networks_card_order", "Ascending", "Default order for Extra Networks cards",
         _radio("Ascending", "Descending")),
        ("extra_networks_tree_view_style", "Dirs", "Extra Networks directory view style", _radio("Tree", "Dirs")),
        ("extra_networks_tree_view_default_enabled", True, "Show the Extra Networks directory view by default",
         NONE),
        ("extra_networks_tree_view_default_width", 180.0, "Default width for the Extra Networks directory tree view",
         NUMBER),
        ("extra_networks_add_text_separator", " ", "Extra networks separator", NONE),
        ("ui_extra_networks_tab_reorder", "", "Extra networks tab order", NONE),
        ("textual_inversion_print_at_load", False, "Print a list of Textual Inversion embeddings when loading model",
         NONE),
        ("textual_inversion_add_hashes_to_infotext", True, "Add Textual Inversion hashes to infotext", NONE),
        ("sd_hypernetwork", "None", "Add hypernetwork to prompt", NONE),
    ),
    "ui": (
        ("localization", "None", "Localization", NONE),
        ("gradio_theme", "Default", "Gradio theme", NONE),
        ("gradio_themes_cache", True, "Cache gradio themes locally", NONE),
        ("show_progress_in_title", True, "Show generation progress in window title.", NONE),
        ("send_seed", True, "Send seed when sending prompt or image to other interface", NONE),
        ("send_size", True, "Send size when sending prompt or image to another interface", NONE),
        ("enable_reloading_ui_scripts", False, "Reload UI scripts when using Reload UI option", NONE),
        ("gallery_height", "", "Gallery height", NONE),
        ("open_dir_button_choice", "Subdirectory", "What directory the [📂] button opens",
         _radio("Output Root", "Subdirectory", "Subdirectory (even temp dir)")),
        ("return_grid", True, "Show grid in gallery", NONE),
        ("do_not_show_images", False, "Do not show any images in gallery", NONE),
        ("js_modal_lightbox", True, "Full page image viewer: enable", NONE),
        ("js_modal_lightbox_initially_zoomed", True, "Full page image viewer: show images zoomed in by default",
         NONE),
        ("js_modal_lightbox_gamepad", False, "Full page image viewer: navigate with gamepad", NONE),
        ("js_modal_lightbox_gamepad_repeat", 250.0, "Full page image viewer: gamepad repeat period", NONE),
        ("sd_webui_modal_lightbox_icon_opacity", 1.0, "Full page image viewer: control icon unfocused opacity",
         _slider(0.0, 1.0, 0.01)),
        ("sd_webui_modal_lightbox_toolbar_opacity", 0.9, "Full page image viewer: tool bar opacity",
         _slider(0.0, 1.0, 0.01)),
        ("samplers_in_dropdown", True, "Use dropdown for sampler selection instead of radio group", NONE),
        ("dimensions_and_batch_together", True, "Show Width/Height and Batch sliders in same row", NONE),
        ("sd_checkpoint_dropdown_use_short", False, "Checkpoint dropdown: use filenames without paths", NONE),
        ("keyedit_precision_attention", 0.1, "Precision for (attention:1.1) when editing the prompt with "
         "Ctrl+up/down", _slider(0.01, 0.2, 0.001)),
        ("keyedit_precision_extra", 0.05, "Precision for <extra networks:0.9> when editing the prompt with "
         "Ctrl+up/down", _slider(0.01, 0.2, 0.001)),
        ("keyedit_delimiters", r".,\/!?%^*;:{}=`~() ", "Word delimiters when editing the prompt with Ctrl+up/down",
         NONE),
        ("keyedit_delimiters_whitespace", ["Tab", "Carriage Return", "Line Feed"],
         "Ctrl+up/down whitespace delimiters", NONE),
        ("keyedit_move", True, "Alt+left/right moves prompt elements", NONE),
        ("disable_token_counters", False, "Disable prompt token counters", NONE),
        ("include_styles_into_token_counters", True, "Count tokens of enabled styles", NONE),
        ("extra_options_txt2img", [], "Settings in txt2img", NONE),
        ("extra_options_img2img", [], "Settings in img2img", NONE),
        ("extra_options_cols", 1, "Number of columns for added settings", NUMBER),
        ("extra_options_accordion", False, "Place added settings into an accordion", NONE),
        ("compact_prompt_box", False, "Compact prompt layout", NONE),
        ("ui_tab_order", [], "UI tab order", NONE),
        ("hidden_tabs", [], "Hidden UI tabs", NONE),
        ("ui_reorder_list", [], "UI item order for txt2img/img2img tabs", NONE),
        ("hires_fix_show_sampler", False, "Hires fix: show hires checkpoint and sampler selection", NONE),
        ("hires_fix_show_prompts", False, "Hires fix: show hires prompt and negative prompt", NONE),
        ("txt2img_settings_accordion", False, "Settings in txt2img hidden under Accordion", NONE),
        ("img2img_settings_accordion", False, "Settings in img2img hidden under Accordion", NONE),
        ("interrupt_after_current", True, "Don't Interrupt in the middle", NONE),
        ("show_progressbar", True, "Show progressbar", NONE),
        ("live_previews_image_format", "png", "Live preview file format", _radio("jpeg", "png", "webp")),
        ("show_progress_grid", True, "Show previews of all images generated in a batch as a grid", NONE),
        ("show_progress_type", "Approx NN", "Live preview method",
         _radio("Full", "Approx NN", "Approx cheap", "TAESD")),
        ("live_preview_allow_lowvram_full", False, "Allow Full live preview method with lowvram/medvram", NONE),
        ("live_preview_content", "Prompt", "Live preview subject", _radio("Combined", "Prompt", "Negative prompt")),
        ("live_preview_refresh_period", 1000.0, "Progressbar and preview update period", NONE),
        ("live_preview_fast_interrupt", False, "Return image with chosen live preview method on interrupt", NONE),
        ("js_live_preview_in_modal_lightbox", False, "Show Live preview in full page image viewer", NONE),
        ("prevent_screen_sleep_during_generation", True, "Prevent screen sleep during generation", NONE),
    ),
    "infotext": (
        ("add_user_name_to_info", False, "Add user name to infotext when authenticated", NONE),
        ("infotext_skip_pasting", [], "Disregard fields from pasted infotext", NONE),
        ("infotext_styles", "Apply if any", "Infer styles from prompts of pasted infotext",
         _radio("Ignore", "Apply", "Discard", "Apply if any")),
    ),
    "sampler-params": (
        ("hide_samplers", [], "Hide samplers in user interface", NONE),
        ("ddim_discretize", "uniform", "img2img DDIM discretize", _radio("uniform", "quad")),
        ("k_sched_type", "Automatic", "Scheduler type", {"choices": ("Automatic", "karras", "exponential",
                                                                      "polyexponential")}),
        ("sgm_noise_multiplier", False, "SGM noise multiplier", NONE),
        ("uni_pc_variant", "bh1", "UniPC variant", _radio("bh1", "bh2", "vary_coeff")),
        ("uni_pc_skip_type", "time_uniform", "UniPC skip type", _radio("time_uniform", "time_quadratic", "logSNR")),
        ("uni_pc_order", 3, "UniPC order", _slider(1, 50, 1)),
        ("uni_pc_lower_order_final", True, "UniPC lower order final", NONE),
        ("skip_early_cond", 0.0, "Ignore negative prompt during early sampling", _slider(0.0, 1.0, 0.01)),
    ),
    "postprocessing": (
        ("postprocessing_enable_in_main_ui", [], "Enable postprocessing operations in txt2img and img2img tabs", NONE),
        ("postprocessing_disable_in_extras", [], "Disable postprocessing operations in extras tab", NONE),
        ("postprocessing_operation_order", [], "Postprocessing operation order", NONE),
        ("upscaling_max_images_in_cache", 5, "Maximum number of images in upscaling cache", _slider(0, 10, 1)),
        ("postprocessing_existing_caption_action", "Ignore", "Action for existing captions",
         _radio("Ignore", "Keep", "Prepend", "Append")),
    ),
    "hidden": (
        ("disabled_extensions", [], "Disable these extensions", NONE),
        ("disable_all_extensions", "none", "Disable all extensions (preserves the list of disabled extensions)",
         _radio("none", "extra", "all")),
        ("restore_config_state_file", "", "Config state file to restore from, under 'config-states/' folder", NONE),
        ("sd_checkpoint_hash", "", "SHA256 hash of the current checkpoint", NONE),
    ),
}


def catalog_specs(option_spec, defined: set[str]) -> list:
    """`option_spec(key, default, label, section, **limits)` for every catalogued key not in `defined`, marked not
    honoured (the caller passes the OptionSpec class: this module stays plain data)."""
    specs = []
    for section, rows in CATALOG.items():
        for key, default, label, extra in rows:
            if key not in defined:
                specs.append(option_spec(key, default, label, section, section_label=SECTIONS[section],
                                         honoured=False, in_settings_tab=False, **extra))
    return specs


def catalogued_spec(option_spec, key: str):
    """The catalogue's row for `key` as an honoured setting shown in the Settings tab: for a feature that now
    acts on an A1111 key (the defaults, labels and limits stay in one place: here)."""
    for section, rows in CATALOG.items():
        for row_key, default, label, extra in rows:
            if row_key == key:
                return option_spec(key, default, label, section, section_label=SECTIONS[section], **extra)
    raise KeyError(f"{key!r} is not an A1111 option in the catalogue")
