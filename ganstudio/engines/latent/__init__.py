"""The latent engine: StyleGAN2 / DCGAN sampling, interpolation, arithmetic, attribute directions, projection.

    model.py       open_model(ref, device, precision) -> LatentModel (the shared cached network + its facts)
    render.py      latents (seeds, z, W, W+), truncation, noise modes, edits, render_state
    progress.py    progress with an ETA and Cancel from inside a long forward
    jobs.py        what the Latent tab and the commands run: describe, grid, interpolate, arithmetic, edit, ...
    directions.py  SeFa, GANSpace PCA, supervised (InterFaceGAN) directions; files tied to a model's sha256
    projection.py  a photo -> W / W+ by optimisation
    recipe.py      PNG recipes: what made an image, in its text chunks (reading one loads no model)

Imports go one way: recipe <- nothing of the engine; model <- render <- jobs / directions / projection.
The names below are the engine's public API (``from ganstudio.engines import latent as L``).
"""
from ganstudio.engines.latent.jobs import (
                                           arithmetic_job,
                                           describe_model,
                                           edit,
                                           interpolate,
                                           sample_grid,
                                           style_mix,
)
from ganstudio.engines.latent.model import (
                                           LatentError,
                                           LatentModel,
                                           latent_runtime,
                                           open_model,
)
from ganstudio.engines.latent.render import (
                                           NOISE_MODES,
                                           apply_edits,
                                           arithmetic,
                                           check_class,
                                           interpolation_path,
                                           latent_rows,
                                           latents_for_state,
                                           lerp,
                                           map_z,
                                           parse_seeds,
                                           render_state,
                                           slerp,
                                           synthesize,
                                           to_uint8,
                                           z_from_seed,
                                           z_from_seeds,
)

__all__ = [
    "NOISE_MODES", "LatentError", "LatentModel", "apply_edits", "arithmetic", "arithmetic_job", "check_class",
    "describe_model", "edit", "interpolate", "interpolation_path", "latent_rows", "latent_runtime",
    "latents_for_state", "lerp", "map_z", "open_model", "parse_seeds", "render_state", "sample_grid", "slerp",
    "style_mix", "synthesize", "to_uint8", "z_from_seed", "z_from_seeds",
]
