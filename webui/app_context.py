"""The `App` object: every long-lived service, built once by `app.py` and handed down explicitly.

There are no globals: the UI, the API and (later) extensions receive this object. Building it reads the disk
(settings, the checkpoint list, the demo model when needed) but starts no thread and opens no socket; `start()`
does those, so tests can build an App cheaply and in isolation.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from webui.app_options import (
    checkpoint_cache_bytes,
    login_flags,
    physical_memory_bytes,
    precision_flags,
    read_extras_options,
    read_face_options,
    read_job_options,
)
from webui.config.a1111_options_catalog import catalogued_spec
from webui.config.flags import CommandLineOptions
from webui.config.options import OptionSpec, SettingsStore, default_options
from webui.config.paths import DataPaths
from webui.config.styles import StyleStore
from webui.config.ui_config import UiConfig
from webui.engine.controlnet.options import controlnet_option_specs
from webui.engine.controlnet.preprocessors import default_registry
from webui.engine.controlnet.service import ControlNetService
from webui.engine.face_options import face_option_specs
from webui.engine.face_restore import FaceRestorers
from webui.engine.generate import GenerationEngine
from webui.engine.interrogate import InterrogateFiles, UnknownInterrogator
from webui.engine.interrogators import InterrogateSpec, Interrogators
from webui.engine.postprocess_faces import register_face_steps
from webui.engine.request import GenerationRequest
from webui.engine.samplers import SamplerTable, default_sampler_table
from webui.engine.upscale import UpscalerRegistry
from webui.extensions.loader import load_extensions
from webui.extensions.registry import Extensions
from webui.jobs.admission import InstanceModel, admit_generation, check_quota
from webui.jobs.backend import LocalBackend, RunnerRegistry
from webui.jobs.extras import ExtrasService, ExtrasSpec
from webui.jobs.generation import GenerationService
from webui.jobs.job import Job, JobKind
from webui.jobs.queue import JobQueue
from webui.jobs.sampler_settings import sampler_parameters
from webui.jobs.scheduling import RoundRobinByOwner
from webui.jobs.store import SqliteJobStore
from webui.jobs.tasks import DeviceTasks, ModelSwitch, job_result
from webui.model_manager.controlnet_models import ControlNetModels
from webui.model_manager.demo import write_demo_checkpoint
from webui.model_manager.device import detect_device
from webui.model_manager.face_models import FaceFolders
from webui.model_manager.hashing import HashCache
from webui.model_manager.manager import CheckpointNotFoundError, LoadedModel, ModelManager, ModelSources
from webui.model_manager.memory_policy import MemoryPlan, plan_memory
from webui.model_manager.networks import EmbeddingLibrary, ExtraNetworks, LoraLibrary
from webui.model_manager.tools import CheckpointTools
from webui.model_manager.upscalers import UpscalerLibrary
from webui.model_manager.weight_cache import WeightCache
from webui.security.accounts import AccountDirectory
from webui.security.quotas import QuotaBook, parse_quota
from webui.security.sessions import SessionStore
from webui.security.setup import build_accounts, users_file_of
from webui.security.user_admin import UserAdmin
from webui.storage.outputs import ImageSaver
from webui.storage.stale_files import remove_stale_temp_files

if TYPE_CHECKING:
    from webui.jobs.ray_backend import RayBackend

log = logging.getLogger(__name__)


SYSTEM_OWNER = "system"  # the owner of jobs the server makes itself (start-up, an admin's settings change)


@dataclass
class App:
    options: CommandLineOptions
    paths: DataPaths
    settings: SettingsStore
    models: ModelManager
    engine: GenerationEngine
    jobs: JobQueue        # every device task: generation, extras, merge/convert, benchmark, model switches
    tools: CheckpointTools
    styles: StyleStore
    backend: LocalBackend  # where jobs run (one device thread here); only build_app calls it directly
    ui_config: UiConfig   # A1111's ui-config.json: the page's control defaults
    accounts: AccountDirectory  # logins and admins (empty: a trusted local instance)
    extras: ExtrasService  # the runner of Extras jobs (its `check` validates upscaler names before queueing)
    extensions: Extensions = field(default_factory=Extensions)  # what extensions/ brought (also the job hooks)
    sessions: SessionStore = field(default_factory=SessionStore)  # browser logins (persisted in the data dir)
    users: UserAdmin | None = None  # the Users section's service (accounts in auth.json, quotas)
    quotas: QuotaBook = field(default_factory=QuotaBook)  # each account's jobs in the last hour
    faces: FaceRestorers | None = None  # GFPGAN / CodeFormer over models/GFPGAN and models/Codeformer
    workers: RayBackend | None = None  # --workers / --ray-address: device workers on Ray (None: in-process)
    interrogators: Interrogators | None = None  # CLIP and DeepBooru over A1111's folders (jobs of their own)

    def start(self, restore_jobs: bool = True) -> None:
        """Start the queue; `restore_jobs=False` for tools (the benchmark) that must not run the server's stored
        jobs, which stay stored for the next server start."""
        if self.workers is not None:
            self.workers.start()  # before the queue: it runs one dispatcher per worker
        self.jobs.start(restore=restore_jobs)

    def stop(self) -> None:
        self.jobs.stop()
        (self.workers or self.backend).shutdown()
        self.sessions.close_store()

    # ---- what handlers need, one attribute away (no app.x.y.z chains in the UI and the API)
    @property
    def samplers(self) -> SamplerTable:
        return self.engine.samplers

    @property
    def networks(self) -> ExtraNetworks | None:
        return self.engine.networks

    @property
    def upscalers(self) -> UpscalerRegistry:
        return self.engine.upscalers

    @property
    def plan(self) -> MemoryPlan:
        return self.models.plan

    @property
    def loaded_model(self) -> LoadedModel | None:
        return self.models.loaded

    def refresh_networks(self, loras: bool = True, embeddings: bool = True) -> None:
        """Rescan models/Lora and embeddings/ (file lists only; nothing is loaded)."""
        if self.networks is not None:
            if loras:
                self.networks.loras.refresh()
            if embeddings:
                self.networks.embeddings.refresh()

    def refresh_upscalers(self) -> list[str]:
        """Rescan the upscaler folders; the names the dropdowns offer now."""
        if self.upscalers.library is not None:
            self.upscalers.library.refresh()
        return self.upscalers.names()

    # ---- admission and submission
    def instance_model(self) -> InstanceModel:
        """The instance's checkpoint is a setting (A1111's sd_model_checkpoint), not whatever is loaded."""
        checkpoint = str(self.settings.get("sd_model_checkpoint") or "") or None
        if checkpoint is None and self.models.loaded is not None:
            checkpoint = self.models.loaded.record.title
        return InstanceModel(checkpoint, int(self.settings.get("CLIP_stop_at_last_layers")),
                             sampler_parameters(self.settings.get))

    def admit(self, request: GenerationRequest) -> GenerationRequest:
        return admit_generation(self.with_face_restoration(request), self.instance_model(), self.models.check_file)

    def with_face_restoration(self, request: GenerationRequest) -> GenerationRequest:
        """restore_faces unset → A1111's `face_restoration` setting; when on, its weight files must be there
        (FaceModelMissing, 422, names the file and the folder) before the job is queued."""
        if request.restore_faces is None:
            request = replace(request, restore_faces=bool(self.settings.get("face_restoration")))
        if not request.restore_faces:
            return request
        chosen = read_face_options(self.settings)  # what override_settings left unset: the instance's settings
        request = replace(request, face_restoration_model=request.face_restoration_model or chosen.model,
                          code_former_weight=chosen.codeformer_weight if request.code_former_weight is None
                          else request.code_former_weight)
        if self.faces is not None:
            self.faces.check(str(request.face_restoration_model))
        return request

    def submit_generation(self, request: GenerationRequest, owner: str) -> Job:
        """Admit (the owner's quota checked, model facts decided now) and queue one generation job."""
        quota = self.users.quota_for(owner) if self.users is not None else None
        if quota is None:
            return self.jobs.submit(self.admit(request), owner)
        check_quota(self.quotas, owner, quota, request)
        try:
            return self.jobs.submit(self.admit(request), owner)
        except Exception:
            self.quotas.refund(owner)
            raise

    def submit_extras(self, spec: ExtrasSpec, owner: str) -> Job:
        self.extras.check(spec.request)
        if self.faces is not None:
            for name, visibility in (("GFPGAN", spec.request.gfpgan_visibility),
                                     ("CodeFormer", spec.request.codeformer_visibility)):
                if visibility > 0:
                    self.faces.check(name)
        return self.jobs.submit(spec, owner, kind=JobKind.EXTRAS)

    def submit_interrogate(self, spec: InterrogateSpec, owner: str) -> Job:
        """Check the model and its files (404 / 422 naming them) now, then queue: it runs on the device thread in
        its turn, as A1111 runs it under the queue lock."""
        if self.interrogators is None:
            raise UnknownInterrogator(spec.model)
        self.interrogators.check(spec.model)
        return self.jobs.submit(spec, owner, kind=JobKind.INTERROGATE)

    def submit_model_switch(self, switch: ModelSwitch, owner: str = SYSTEM_OWNER) -> Job:
        if switch.checkpoint is not None:  # an unknown or unusable file fails now, from its header alone
            self.models.check_file(switch.checkpoint)
        return self.jobs.submit(switch, owner, kind=JobKind.MODEL)

    async def switch_checkpoint(self, query: str, owner: str = SYSTEM_OWNER) -> str:
        """Load a checkpoint (in its turn in the queue) and remember it in config.json, as A1111 does."""
        title = await job_result(self.submit_model_switch(ModelSwitch(checkpoint=query), owner))
        return str(title)

    async def switch_vae(self, choice: str, owner: str = SYSTEM_OWNER) -> str:
        """A1111's sd_vae: apply to the live model and remember it in config.json."""
        await job_result(self.submit_model_switch(ModelSwitch(vae=choice), owner))
        return choice

    def remember_model(self, loaded: LoadedModel | None, vae: str | None) -> None:
        """After an admin's switch: the instance's settings name what is now live."""
        if loaded is not None:
            self.settings.update({"sd_model_checkpoint": loaded.record.title,
                                  "sd_checkpoint_hash": loaded.record.sha256 or ""})
        if vae is not None:
            self.settings.set("sd_vae", vae)


def _upscalers(settings: SettingsStore, paths: DataPaths, plan_device: str, half: bool) -> UpscalerRegistry:
    library = UpscalerLibrary(paths.upscaler_folders, plan_device, half)
    library.refresh()
    return UpscalerRegistry(library, lambda: (int(settings.get("ESRGAN_tile")),
                                              int(settings.get("ESRGAN_tile_overlap"))), plan_device)


def _face_restorers(settings: SettingsStore, paths: DataPaths, engine: GenerationEngine, device: str
                    ) -> FaceRestorers:
    """A1111's face-restoration settings (unless the options catalogue has them) and the post-processors."""
    for spec in face_option_specs():  # honoured now: they take the catalogue's place (listed, not acted on)
        settings.register(spec)
    faces = FaceRestorers(FaceFolders(paths.models), device)
    register_face_steps(engine.seams.postprocessors, engine.seams.extras, faces, lambda: read_face_options(settings))
    return faces


def _interrogators(options: CommandLineOptions, settings: SettingsStore, paths: DataPaths, plan: MemoryPlan
                   ) -> Interrogators:
    """CLIP and DeepBooru; the A1111 options they read become honoured settings (listed in Settings)."""
    files = InterrogateFiles(paths.root, options.clip_models_path, Path.home() / ".cache" / "clip")
    interrogators = Interrogators(files, plan.device, plan.unet_dtype == "fp16", settings.get)
    choices = interrogators.setting_choices()
    for key in interrogators.setting_keys():
        spec = catalogued_spec(OptionSpec, key)
        if key in choices:
            spec = replace(spec, choices_from=choices[key], component="checkboxgroup")
        settings.register(spec)
    return interrogators


def _model_sources(options: CommandLineOptions, paths: DataPaths) -> ModelSources:
    folders = ((options.ckpt_dir,) if options.ckpt_dir else ()) + (paths.checkpoints,)
    return ModelSources(folders, (options.ckpt,) if options.ckpt else (), vae_folders=(paths.vae,))


def _initial_checkpoint(app: App) -> str:
    """--ckpt, else the remembered setting, else the first checkpoint (A1111's order); writes the demo if none."""
    if not app.models.refresh():
        path = write_demo_checkpoint(app.paths.checkpoints)
        log.info("no checkpoint found: wrote the demo model %s (random weights; it draws noise)", path)
        app.models.refresh()
    if app.options.ckpt:
        return app.options.ckpt.name
    remembered = app.settings.get("sd_model_checkpoint")
    if remembered:
        try:
            return app.models.find(remembered).name
        except CheckpointNotFoundError:
            log.warning("remembered checkpoint %r is gone; using the first one found", remembered)
    return app.models.checkpoints()[0].name


def build_models(options: CommandLineOptions, paths: DataPaths,
                 settings: SettingsStore) -> tuple[ModelManager, GenerationEngine]:
    """The model manager (RAM cache, hashes) and the engine over it: the front process's, and each worker's own."""
    plan = plan_memory(detect_device(options.device), precision_flags(options, settings))
    log.info("memory plan: %s (%s)", plan.describe(), "; ".join(plan.reasons))
    hash_cache = None if options.no_hashing else HashCache(paths.cache_file)
    cache = WeightCache(max_bytes=checkpoint_cache_bytes(options.ckpt_cache_gb, physical_memory_bytes()),
                        max_entries=max(1, int(settings.get("sd_checkpoints_limit"))))
    models = ModelManager(_model_sources(options, paths), plan, hash_cache, cache)
    networks = ExtraNetworks(LoraLibrary(paths.lora), EmbeddingLibrary(paths.embeddings, hash_cache))
    networks.refresh()
    upscalers = _upscalers(settings, paths, plan.device, plan.unet_dtype == "fp16")
    controlnet = ControlNetService(ControlNetModels(paths.controlnet_folders),
                                   default_registry(paths.annotator_folders))
    engine = GenerationEngine(models, default_sampler_table(), networks=networks, upscalers=upscalers,
                              controlnet=controlnet)
    return models, engine


def build_worker_engine(options: CommandLineOptions, data_root: Path) -> tuple[ModelManager, GenerationEngine]:
    """A device worker's own models and engine, built in the worker's process (Ray pickles this function by
    name): the same folders as the front (the same path on every node) and the instance's settings, read only."""
    paths = DataPaths(data_root)
    settings = SettingsStore(default_options(), paths.config_file)
    settings.load()
    models, engine = build_models(options, paths, settings)
    _face_restorers(settings, paths, engine, models.plan.device)  # restore_faces runs where the image is made
    return models, engine


def _ray_workers(options: CommandLineOptions, paths: DataPaths, local: LocalBackend) -> RayBackend:
    from webui.jobs.ray_backend import RayBackend
    from webui.jobs.ray_cluster import ClusterPlan, RayCluster

    plan = ClusterPlan(workers=options.workers, threads=options.worker_threads, address=options.ray_address)
    return RayBackend(local, RayCluster(plan, functools.partial(build_worker_engine, options, paths.root)))


def build_app(options: CommandLineOptions, default_data_dir: Path) -> App:
    """Compose the services and load the starting checkpoint (on the device thread); no socket yet."""
    paths = DataPaths((options.data_dir or default_data_dir).resolve())
    paths.ensure_folders()
    settings = SettingsStore(default_options(), paths.config_file)
    settings.load()
    models, engine = build_models(options, paths, settings)
    upscalers = engine.upscalers
    faces = _face_restorers(settings, paths, engine, models.plan.device)
    for spec in controlnet_option_specs():
        settings.register(spec)
    extensions = Extensions()
    tools = CheckpointTools(models, paths.checkpoints)
    runners = RunnerRegistry()
    backend = LocalBackend(runners)
    workers = _ray_workers(options, paths, backend) if options.workers or options.ray_address else None
    jobs = JobQueue(workers or backend, policy=RoundRobinByOwner(), max_queued=options.queue_max,
                    max_per_owner=options.queue_per_user, store=SqliteJobStore(paths.root / "queue.sqlite3"))
    accounts = build_accounts(login_flags(options), paths.root)
    sessions = SessionStore.in_folder(paths.root)
    users = UserAdmin(accounts, sessions, users_file_of(paths.root), parse_quota(options.user_quota))
    app = App(options, paths, settings, models, engine, jobs, tools, StyleStore(paths.styles_file), backend,
              UiConfig(paths.root / "ui-config.json"), accounts,
              ExtrasService(upscalers, lambda: read_extras_options(settings, paths),
                            steps=engine.seams.extras_entries), extensions, sessions, users, faces=faces,
              workers=workers, interrogators=_interrogators(options, settings, paths, models.plan))
    _register_runners(app, runners)
    removed = remove_stale_temp_files(_output_folders(app))  # before restored jobs save anything
    if removed:
        log.info("removed %d temp file(s) left by interrupted saves", len(removed))
    _load_initial_model(app)
    load_extensions(app, extensions)  # after the model (setup may list models), before any UI is built
    return app


def _output_folders(app: App) -> list[Path]:
    """Every folder images are saved under (settings may point outside outputs/), for the temp-file sweep."""
    job = read_job_options(app.settings, app.paths)
    folders = [app.paths.outputs, job.save.folder, read_extras_options(app.settings, app.paths).folder]
    folders += [options.folder for options in (job.save_img2img, job.grids.txt2img, job.grids.img2img) if options]
    return sorted(set(folders))


def _register_runners(app: App, runners: RunnerRegistry) -> None:
    from webui.benchmark.suite import run_benchmark

    saver = ImageSaver()  # one numbering, whichever worker made the image
    service = GenerationService(app.engine, saver, lambda: read_job_options(app.settings, app.paths),
                                hooks=app.extensions)
    runners.register(JobKind.GENERATE, service.run)
    if app.workers is not None:  # generation on the workers; hooks, infotext and saving stay here
        app.workers.serve_generation(lambda engine: GenerationService(
            engine, saver, lambda: read_job_options(app.settings, app.paths), hooks=app.extensions).run)
    runners.register(JobKind.EXTRAS, app.extras.run)
    if app.interrogators is not None:
        interrogators = app.interrogators
        runners.register(JobKind.INTERROGATE, lambda job: interrogators.run(job.spec))
    DeviceTasks(app.models, app.tools, app.remember_model, run_benchmark).register(runners)


def _load_initial_model(app: App) -> None:
    """Scan the folders (VAEs too), write the demo when there is nothing, and load the starting checkpoint: torch
    work, so on the device thread, before the queue starts. A file that fails to load (corrupt, refused) is logged
    and the next one is tried, as the server must come up either way."""
    initial = app.backend.call(_initial_checkpoint, app)
    try:
        app.backend.call(app.models.set_vae, str(app.settings.get("sd_vae")))  # before the first load
    except LookupError as error:
        log.warning("%s; using Automatic", error)
    others = [record.name for record in app.models.checkpoints() if record.name != initial]
    for name in (initial, *others):
        try:
            loaded = app.backend.call(app.models.load, name)
        except Exception as error:  # a corrupt or refused file must not keep the server from starting
            log.error("could not load checkpoint %s (%s); trying the next one", name, error)
            continue
        app.remember_model(loaded, None)
        return
    log.error("no checkpoint could be loaded; starting without a model: choose or add one, then generate")
