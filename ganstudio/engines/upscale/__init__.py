"""Super-resolution with Real-ESRGAN / ESRGAN networks: one image, one file, or a whole folder.

    pipeline.py   load a network (checkpoints.cache), the runtime, tiling, one image in memory
    cost.py       what a large image will take (memory, time), said before it starts
    stream_io.py  huge images: PNG written band by band, uncompressed BMP / TIFF read strip by strip
    to_file.py    one file in, one file out (streamed when large): the CLI's single file, every batch item
    batch.py      many files through core.batch (plan, decode-ahead, report, thumbnails)
    jobs.py       the Upscale tab's worker jobs (open, check a model, upscale for the view, save)

The names below are the engine's public API (``ganstudio.engines.upscale:<function>`` job strings resolve).
"""
from ganstudio.engines import tiling  # noqa: F401  (tests patch tiling.free_memory_bytes through here)
from ganstudio.engines.upscale.batch import plan_upscale, upscale_batch  # noqa: F401
from ganstudio.engines.upscale.cost import Cost, announce, estimate_cost  # noqa: F401
from ganstudio.engines.upscale.jobs import (  # noqa: F401
    UpscaleResult,
    inspect_model,
    open_image,
    save_image,
    upscale_for_view,
)
from ganstudio.engines.upscale.pipeline import (  # noqa: F401
    BAND_CAP,
    BAND_MAX,
    CPU_ACTIVATION_CAP,
    DEFAULT_MODEL,
    MAX_SCALE,
    MIN_SCALE,
    OVERLAP,
    TileSource,
    Upscaler,
    auto_tile,
    band_budget,
    check_scale,
    load_upscaler,
    rrdbnet_forward_chunked,
    run_network,
    upscale_array,
    upscale_image,
)
from ganstudio.engines.upscale.to_file import default_output_name, upscale_file  # noqa: F401
