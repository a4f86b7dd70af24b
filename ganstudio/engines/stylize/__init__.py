"""Stylize: CycleGAN / pix2pix style transfer for single photos and whole batches.

    models.py    which generator file a reference means (file, G_A/G_B pair, training folder, manifest or
                 library id with ``files`` / ``reverse``) and loading it from the shared model cache
    norms.py     per-call InstanceNorm statistics / official BatchNorm behaviour through thread-local hooks
                 (the cached module is shared and never changed)
    pipeline.py  the computation: padding to what the network needs, tiling with image-wide InstanceNorm
                 statistics, progress and cancel from inside a forward pass, uint8 batches
    jobs.py      the GUI's single-image jobs: check_model, stylize_image (preview then full), save_result
    batch.py     stylize_batch on ``core.batch`` (the shared planner / runner), with decode-ahead and
                 same-size batching on CUDA

Job strings the GUI uses: ``ganstudio.engines.stylize.jobs:stylize_image`` / ``:check_model`` /
``:save_result`` and ``ganstudio.engines.stylize.batch:stylize_batch``. Every function takes
``device="auto", precision="auto"`` and resolves them once per job (``runtime.resolve_runtime``).
"""
from __future__ import annotations

from ganstudio.engines.stylize.batch import DEFAULT_PATTERN, OUTPUT_FORMATS, check_pattern, stylize_batch
from ganstudio.engines.stylize.jobs import check_model, save_result, stylize_image
from ganstudio.engines.stylize.models import DIRECTIONS, load_generator, resolve_model
from ganstudio.engines.stylize.norms import frozen_instance_norm, instance_norms, tiled_norm_stats
from ganstudio.engines.stylize.pipeline import (
    OFFICIAL_SIZE,
    min_side,
    official_resize,
    size_multiple,
    stylize_array,
    stylize_array_iter,
)

__all__ = [
    "DEFAULT_PATTERN", "DIRECTIONS", "OFFICIAL_SIZE", "OUTPUT_FORMATS", "check_model", "check_pattern",
    "frozen_instance_norm", "instance_norms", "load_generator", "min_side", "official_resize",
    "resolve_model", "save_result", "size_multiple", "stylize_array", "stylize_array_iter", "stylize_batch",
    "stylize_image", "tiled_norm_stats",
]
