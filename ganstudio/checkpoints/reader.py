"""Safe checkpoint reading: safetensors, or torch.load(weights_only=True). Never runs pickled code.

Before torch ever unpickles a file, its pickle opcodes are read with ``pickletools`` (which executes
nothing) to list the Python objects the file would ask for. That lets the refusal say what the file
really is:
  * an NVlabs StyleGAN ``.pkl`` (classes from ``dnnlib`` / ``torch_utils``): its networks are Python
    code inside the pickle; use the weights converted by rosinality's ``convert_weight.py`` instead;
  * a pickle that would call something that runs code (``os.system``, ``builtins.eval``,
    ``subprocess.Popen`` ...): refused as dangerous;
  * a whole pickled model object (``__main__.MyModel``, ``models.Generator``): the weights are inside
    but loading them would import and run that project's code; save ``model.state_dict()`` instead.
Truncated downloads (a zip archive without its central directory, a cut safetensors header) are named
as such.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ganstudio.core.errors import UserError
from ganstudio.core.files import file_sha256  # re-exported: hashing lives in core (no torch there)

__all__ = ["CheckpointError", "read_checkpoint", "file_sha256", "scan_pickle_globals", "sniff_format",
           "PickleReport", "inspect_pickle"]


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used, with a message meant for the user."""


# ---------------------------------------------------------------------------------------------- sniffing
def sniff_format(path: Path) -> str:
    """"empty", "zip", "truncated-zip", "pickle", "safetensors" or "unknown" from the first bytes."""
    size = path.stat().st_size
    if size == 0:
        return "empty"
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == b"PK\x03\x04":
        return "zip" if zipfile.is_zipfile(path) else "truncated-zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 0 < n < (1 << 30):
            return "safetensors"
    return "unknown"


# ---------------------------------------------------------------------------------------------- pickle scan
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING",
               "STRING"}
_GET_OPS = {"BINGET", "LONG_BINGET", "GET"}
_PUT_OPS = {"BINPUT", "LONG_BINPUT", "PUT"}


def _norm_module(module: str) -> str:
    return {"__builtin__": "builtins", "posix": "os", "nt": "os"}.get(module, module)


def scan_pickle_globals(data: bytes, max_pickles: int = 6, max_ops: int = 5_000_000) -> list[str]:
    """Every ``module.name`` the pickle(s) in ``data`` would import, in order, without running anything.

    Legacy torch files hold several pickles back to back followed by raw tensor bytes; up to
    ``max_pickles`` consecutive pickles are read. A damaged stream ends the scan quietly.
    """
    found: list[str] = []
    stream = io.BytesIO(data)
    for _ in range(max_pickles):
        start = stream.tell()
        if start >= len(data) or data[start] != 0x80:
            break
        recent: list = []  # values of recent pushes we can follow: strings and memo reads
        memo: dict = {}
        last = None
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                max_ops -= 1
                if max_ops < 0:  # enough to name what the file is; do not crawl a huge stream
                    break
                name = opcode.name
                if name in _STRING_OPS:
                    last = arg if isinstance(arg, str) else arg.decode("latin-1") if isinstance(arg, bytes) else None
                    recent.append(last)
                elif name == "MEMOIZE":
                    memo[len(memo)] = last
                elif name in _PUT_OPS:
                    memo[arg] = last
                elif name in _GET_OPS:
                    last = memo.get(arg)
                    recent.append(last)
                elif name in ("GLOBAL", "INST"):
                    module, _, attr = str(arg).partition(" ")
                    found.append(f"{_norm_module(module)}.{attr}")
                    last = None
                elif name == "STACK_GLOBAL":
                    if len(recent) >= 2 and isinstance(recent[-1], str) and isinstance(recent[-2], str):
                        found.append(f"{_norm_module(recent[-2])}.{recent[-1]}")
                    else:
                        found.append("<unknown>.<unknown>")
                    last = None
                elif name == "STOP":
                    break
                else:
                    last = None
        except Exception:  # truncated or not a pickle past this point: what we have is what we report
            break
    seen, out = set(), []
    for g in found:
        if g not in seen:
            seen.add(g)
            out.append(g)
    return out


_CODE_RUNNING_MODULES = {"os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "runpy", "importlib",
                         "pty", "webbrowser", "code", "commands", "ctypes", "multiprocessing", "platform",
                         "pickle", "marshal", "types", "operator", "functools", "codecs", "io", "tempfile",
                         "asyncio", "threading", "signal", "http", "urllib", "requests", "pip", "setuptools"}
_CODE_RUNNING_NAMES = {"eval", "exec", "compile", "system", "popen", "__import__", "getattr", "setattr",
                       "open", "apply", "execfile", "spawn", "call", "run", "Popen", "check_output",
                       "input", "breakpoint", "globals", "locals", "vars", "delattr", "attrgetter",
                       "methodcaller"}
# what torch.save writes for a plain state dict (the weights_only unpickler allows these)
_SAFE_PREFIXES = ("torch.", "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.slice",
                  "builtins.complex", "builtins.bytearray", "_codecs.encode", "numpy.core.multiarray._reconstruct",
                  "numpy._core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray",
                  "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
_NVLABS_MODULES = ("dnnlib", "torch_utils", "legacy", "training.networks")


def _is_nvlabs(g: str) -> bool:
    return any(g == m or g.startswith(m + ".") for m in _NVLABS_MODULES)


def _runs_code(g: str) -> bool:
    module, _, name = g.rpartition(".")
    top = module.split(".")[0]
    if module in ("builtins", "__builtin__"):
        return name in _CODE_RUNNING_NAMES or name not in {"set", "frozenset", "slice", "complex", "bytearray",
                                                          "list", "dict", "tuple", "int", "float", "str",
                                                          "bytes", "bool", "object", "range"}
    return top in _CODE_RUNNING_MODULES or name in _CODE_RUNNING_NAMES or module == "<unknown>"


def _is_safe(g: str) -> bool:
    if g.startswith(("torch.nn.modules.", "torch.jit.", "torch._C._jit", "torch.fx.")):
        return False  # a pickled module object, not plain weights
    return g.startswith(_SAFE_PREFIXES)


@dataclass
class PickleReport:
    globals: list[str]
    nvlabs: list[str]
    code_running: list[str]
    objects: list[str]   # classes / functions from other projects (a pickled model object)

    @property
    def refuse_reason(self) -> str | None:
        if self.nvlabs:
            return (
                f"it is an NVlabs StyleGAN pickle (it needs {', '.join(self.nvlabs[:3])}): unpickling those files "
                "runs the Python code stored inside them, so GAN Studio will not open them. Convert it with "
                "rosinality's stylegan2-pytorch convert_weight.py (or use that project's .pt output), which "
                "holds only weights")
        if self.code_running:
            return (
                f"unpickling it would call {', '.join(self.code_running[:3])}, which can run arbitrary commands on "
                "this computer. This file may be malicious; it was not opened")
        if self.objects:
            return (
                f"it stores whole Python objects ({', '.join(self.objects[:3])}) rather than plain weights, and "
                "loading those would run that project's code. In the project that made it, save "
                "model.state_dict() (torch.save or safetensors) and load that file instead")
        return None


def inspect_pickle(data: bytes) -> PickleReport:
    gl = scan_pickle_globals(data)
    nv = [g for g in gl if _is_nvlabs(g)]
    bad = [g for g in gl if g not in nv and _runs_code(g)]
    objs = [g for g in gl if g not in nv and g not in bad and not _is_safe(g)]
    return PickleReport(gl, nv, bad, objs)


def _pickle_bytes(path: Path, kind: str) -> bytes:
    """The pickle part of a torch checkpoint: data.pkl inside a zip, or the head of a legacy/raw pickle."""
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith("data.pkl")] or \
                    [n for n in zf.namelist() if n.endswith(".pkl")]
            if not names:
                return b""
            return zf.read(names[0])
    with open(path, "rb") as fh:
        return fh.read(64 << 20)  # pickles come first; the tensor bytes after them are not needed


# ---------------------------------------------------------------------------------------------- reading
def read_checkpoint(path) -> tuple[object, str]:
    """Return (object, source_format). The object is a dict (maybe nested) of tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such file: {path}" if not path.exists() else f"not a file: {path}")
    name = path.name
    try:
        kind = sniff_format(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read {name}: {exc.strerror or exc}") from exc
    if kind == "empty":
        raise CheckpointError(f"{name} is empty (0 bytes): the download or copy did not complete")
    if kind == "truncated-zip":
        raise CheckpointError(
            f"{name} is truncated: the archive ends before its table of contents, so the download or copy was "
            "cut short. Download it again")

    if path.suffix.lower() == ".safetensors" or kind == "safetensors":
        return _read_safetensors(path), "safetensors"

    if kind in ("zip", "pickle"):
        try:
            data = _pickle_bytes(path, kind)
        except (zipfile.BadZipFile, OSError, KeyError, EOFError) as exc:
            raise CheckpointError(f"{name} is truncated or damaged ({exc})") from exc
        if kind == "zip" and not data:  # a zip archive without torch.save's data.pkl (photos, a project ...)
            raise CheckpointError(_not_a_checkpoint(name, "a zip archive without PyTorch weights"))
        report = inspect_pickle(data)
        reason = report.refuse_reason
        if reason:
            raise CheckpointError(f"{name} refused: {reason}.")
    else:  # not a zip, not a pickle, not safetensors: tried below, named plainly if torch cannot read it
        report = None

    try:
        allowed = _numpy_safe_globals(report.globals if report is not None else [])
        if allowed:  # numpy scalars (e.g. a saved iteration count) in otherwise plain checkpoints
            with torch.serialization.safe_globals(allowed):
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if kind == "unknown":  # torch's long weights_only text says nothing useful about a non-checkpoint
            raise CheckpointError(_not_a_checkpoint(name)) from exc
        extra = ""
        if report is not None and report.globals:
            unsafe = [g for g in report.globals if not _is_safe(g)]
            if unsafe:
                extra = f" (it asks for {', '.join(unsafe[:3])})"
        raise CheckpointError(
            f"{name} refused: loading it would need more than plain weights{extra}, and unpickling arbitrary "
            f"objects can run code. Save the state dict (model.state_dict()) or use safetensors. [{_torch_reason(exc)}]"
        ) from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError ... for damaged files
        msg = _first_line(exc)
        if kind == "unknown":
            raise CheckpointError(_not_a_checkpoint(name)) from exc
        if kind == "pickle" and "magic number" in msg.lower():  # a plain Python pickle, not torch.save output
            raise CheckpointError(_not_a_checkpoint(name, "a Python pickle that torch.save did not write")) from exc
        raise CheckpointError(f"{name} is truncated or damaged and cannot be loaded ({msg})") from exc
    return obj, "torch (weights_only)"


_NUMPY_DATA = {"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
               "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray"}


def _numpy_safe_globals(names: list[str]) -> list:
    """numpy data types a checkpoint may hold (plain data, never code), as torch safe_globals entries."""
    import importlib

    out: list = []
    for g in names:
        if g in _NUMPY_DATA:
            module, _, attr = g.rpartition(".")
            try:
                out.append((getattr(importlib.import_module(module), attr), g))
            except (ImportError, AttributeError):
                continue
    if any(g.endswith(".dtype") for g in names):
        try:  # np.dtype(...) rebuilds instances of these concrete classes
            import numpy.dtypes as npd

            out += [getattr(npd, n) for n in dir(npd) if n.endswith("DType") and isinstance(getattr(npd, n), type)]
        except ImportError:
            pass
    return out


def _read_safetensors(path: Path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        size = path.stat().st_size
        detail = _first_line(exc)
        try:
            with open(path, "rb") as fh:
                head = fh.read(9)
            (n,) = struct.unpack("<Q", head[:8])
            if head[8:9] != b"{":  # no JSON header at all: some other file with a .safetensors name
                raise CheckpointError(_not_a_checkpoint(path.name)) from exc
            if 8 + n > size or "incomplete" in detail.lower() or "too small" in detail.lower():
                raise CheckpointError(f"{path.name} is truncated: the safetensors file is cut short ({detail}). "
                                      "Download it again") from exc
        except struct.error:
            pass
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({detail})") from exc


def _not_a_checkpoint(name: str, what: str = "") -> str:
    return f"{name} is not a PyTorch (.pth/.pt) or safetensors checkpoint" + (f" ({what})" if what else "")


def _torch_reason(exc: BaseException) -> str:
    """The useful sentence of torch's long weights_only message."""
    for line in str(exc).splitlines():
        line = line.strip()
        if "Unsupported global" in line or "Can only build" in line or "Unsupported operand" in line:
            return line.replace("WeightsUnpickler error: ", "")[:300]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
