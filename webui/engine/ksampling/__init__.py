"""A1111's sampling, so that an infotext redraws the same image: k-diffusion's samplers behind A1111's CFG denoiser,
A1111's sigma schedules, its per-image noise (GPU / CPU / NV sources, variation seeds, ENSD) and its own timestep
samplers (DDIM, DDIM CFG++, PLMS, LCM). See `../shared/reference/a1111-sampling.md` for the facts reproduced."""
