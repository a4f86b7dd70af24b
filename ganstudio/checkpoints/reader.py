"""Safe checkpoint reading: safetensors, or torch.load(weights_only=True). Never runs pickled code.

NVIDIA's network pickles (a plain pickle that names ``dnnlib`` / ``torch_utils`` classes in its first 64 KB)
never reach torch: ``read_checkpoint`` hands them to ``nvlabs_pickle``, which reads StyleGAN2-ADA
generators without running anything and refuses TensorFlow-era (``dnnlib.tflib``) and StyleGAN3 pickles
with a sentence.

For every other pickle, before torch ever unpickles it, its opcodes are read with ``pickletools`` (which
executes nothing) to list the Python objects the file would ask for. That lets the refusal say what the
file really is:
  * NVlabs classes anywhere else (inside a ``torch.save`` archive, or past the first 64 KB): unpickling
    them would run the code stored in the file; refused, pointing to rosinality's ``convert_weight.py``;
  * a pickle that would call something that runs code (``os.system``, ``builtins.eval``,
    ``subprocess.Popen`` ...): refused as dangerous;
  * a whole pickled model object (``__main__.MyModel``, ``models.Generator``): the weights are inside
    but loading them would import and run that project's code; save ``model.state_dict()`` instead.
Truncated downloads (a zip archive without its central directory, a cut safetensors header) are named
as such.

A model file is as safe to open as an image: nothing in it may exhaust the machine. Before torch reads
anything, the work a file can cause is bounded by what a real checkpoint of its size holds
(``read_pickle_bytes`` and ``scan_pickle``):
  * a zip archive may hold at most ``MAX_ZIP_ENTRIES`` entries, and its entries may declare at most
    ``MAX_EXPANSION`` times the file's size (plus ``ZIP_SLACK``): torch.save stores its entries
    uncompressed, so a 1 MB file whose ``data.pkl`` inflates to gigabytes is a zip bomb, refused before
    anything is inflated. Pickle entries are inflated in pieces, never past their cap;
  * the opcode scan stops and refuses past ``MAX_PICKLE_OPS`` operations or ``MAX_UNPICKLE_BYTES`` of
    objects an unpickler would build (estimated per opcode: a one-byte EMPTY_SET is a 200-byte set), so
    the unpickler that runs afterwards has a known ceiling;
  * a safetensors header over ``MAX_SAFETENSORS_HEADER`` is refused (real headers are kilobytes).
Tensor storages claimed by a pickle are checked by torch itself against the bytes in the file (the zip
entry or the legacy record) before it allocates them; the loader compares the network a file describes
with the values it holds (``loader.load_model``).
"""
from __future__ import annotations

import io
import pickle
import pickletools
import re
import struct
import warnings
import zipfile
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganstudio.core.errors import UserError
from ganstudio.core.files import file_sha256  # re-exported: hashing lives in core (no torch there)

__all__ = ["CheckpointError", "read_checkpoint", "file_sha256", "scan_pickle", "scan_pickle_globals",
           "sniff_format", "PickleReport", "PickleScan", "inspect_pickle", "read_pickle_bytes", "clean_torch_message"]

# What a real checkpoint can hold (see the module docstring). Generous for real files, tight for bombs.
MAX_EXPANSION = 16             # inflated size / file size of a zip checkpoint (torch.save: 1, deflated weights ~1.1)
ZIP_SLACK = 64 << 20           # ... plus this much, so small files with a few deflated zero buffers still open
MAX_ZIP_ENTRIES = 100_000      # one entry per tensor storage; the biggest training checkpoints hold thousands
MAX_PICKLE_BYTES = 256 << 20   # one pickle entry (a state dict's pickle is ~100 bytes per tensor)
MAX_PICKLE_OPS = 2_000_000     # ~20 opcodes per tensor: 100 k tensors; the scan reads ~1 M a second
MAX_UNPICKLE_BYTES = 256 << 20  # estimated memory of the objects an unpickler would build (~1.5 KB a tensor)
MAX_SAFETENSORS_HEADER = 16 << 20  # ~100 bytes per tensor in real files
LEGACY_HEAD = 64 << 20         # legacy (non-zip) files: their pickles come first, the tensor bytes after


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used, with a message meant for the user."""


# ---------------------------------------------------------------------------------------------- sniffing
def sniff_format(path: Path) -> str:
    """"empty", "zip", "truncated-zip", "damaged-zip", "pickle", "safetensors" or "unknown" from the first
    bytes (and, for a zip, its end record)."""
    size = path.stat().st_size
    if size == 0:
        return "empty"
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == b"PK\x03\x04":
        try:
            return "zip" if zipfile.is_zipfile(path) else "truncated-zip"
        except zipfile.BadZipFile:  # an end record that lies (e.g. "spans multiple disks")
            return "damaged-zip"
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


# Estimated bytes of Python objects the unpickler keeps per opcode (objects stay on its stack or memo until
# STOP). A one-byte opcode can build a 64..216-byte object: that, not the pickle's size, is what a pickle bomb
# exploits. Strings and bytes add their length. Other opcodes: _OP_COST_DEFAULT.
_OP_COST = {"EMPTY_SET": 232, "FROZENSET": 232, "EMPTY_DICT": 72, "DICT": 72, "EMPTY_LIST": 64, "LIST": 64,
            "MARK": 72, "TUPLE": 64, "TUPLE1": 64, "TUPLE2": 72, "TUPLE3": 80, "BINPUT": 100, "LONG_BINPUT": 100,
            "PUT": 100, "MEMOIZE": 100, "REDUCE": 256, "NEWOBJ": 256, "NEWOBJ_EX": 256, "BUILD": 64,
            "BINPERSID": 256, "PERSID": 256, "PROTO": 0, "FRAME": 0, "STOP": 0,
            # a pointer to a shared object (None, True, small ints, a memo entry)
            "NONE": 8, "NEWTRUE": 8, "NEWFALSE": 8, "EMPTY_TUPLE": 8, "BININT1": 8, "BINGET": 8,
            "LONG_BINGET": 8, "GET": 8, "DUP": 8, "POP": 0, "POP_MARK": 0}
_OP_COST_DEFAULT = 48


@dataclass
class PickleScan:
    """What the opcode scan found: the globals a pickle asks for and the work it would cause."""
    globals: list[str] = field(default_factory=list)
    ops: int = 0
    cost: int = 0             # estimated bytes of objects an unpickler would build
    too_big: str = ""         # why the scan stopped early ("" when it read every pickle to its end)
    cut: bool = False         # the data ended inside a pickle (a truncated file, or a pickle past the head read)


def scan_pickle(data: bytes, max_pickles: int = 6, max_ops: int = MAX_PICKLE_OPS,
                max_cost: int = MAX_UNPICKLE_BYTES) -> PickleScan:
    """Every ``module.name`` the pickle(s) in ``data`` would import, in order, without running anything,
    and what unpickling them would cost.

    Legacy torch files hold several pickles back to back followed by raw tensor bytes; up to
    ``max_pickles`` consecutive pickles are read. A damaged stream ends the scan quietly (``cut`` tells
    whether it ended because the data did). Past ``max_ops`` opcodes or ``max_cost`` estimated bytes the scan
    stops and says so in ``too_big``: such a file is refused, since the unpickler would do that work too.
    """
    with warnings.catch_warnings():  # pickletools decodes protocol-0 strings: bad escapes warn, harmlessly
        warnings.simplefilter("ignore", DeprecationWarning)
        return _scan(data, max_pickles, max_ops, max_cost)


_TRACKED = _STRING_OPS | _PUT_OPS | _GET_OPS | {"MEMOIZE", "GLOBAL", "INST", "STACK_GLOBAL", "STOP"}


def _scan(data: bytes, max_pickles: int, max_ops: int, max_cost: int) -> PickleScan:
    scan = PickleScan()
    found: list[str] = []
    stream = io.BytesIO(data)
    ops = cost = 0  # locals, not scan attributes: this loop runs millions of times on a hostile file
    op_cost = _OP_COST.get
    for _ in range(max_pickles):
        start = stream.tell()
        if start >= len(data) or data[start] != 0x80:
            break
        recent: deque = deque(maxlen=2)  # the last two pushes we can follow (strings, memo reads): STACK_GLOBAL
        memo: dict = {}                  # memo index -> string (only strings are worth remembering)
        memo_len = 0                     # MEMOIZE stores at the memo's length, strings or not
        last = None
        finished = False
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                name = opcode.name
                ops += 1
                cost += op_cost(name, _OP_COST_DEFAULT)
                if arg is not None and (type(arg) is str or type(arg) is bytes):
                    cost += len(arg)
                if ops > max_ops:
                    scan.too_big = f"its pickle runs to more than {max_ops:,} operations"
                    break
                if cost > max_cost:
                    scan.too_big = (f"unpickling it would build more than {max_cost >> 20} MB of Python objects "
                                    f"(from {len(data) / 1e6:.1f} MB of pickle)")
                    break
                if name not in _TRACKED:
                    last = None
                elif name in _STRING_OPS:
                    last = arg if isinstance(arg, str) else arg.decode("latin-1") if isinstance(arg, bytes) else None
                    recent.append(last)
                elif name == "MEMOIZE":
                    if last is not None:
                        memo[memo_len] = last
                    memo_len += 1
                elif name in _PUT_OPS:
                    if last is not None:
                        memo[arg] = last
                elif name in _GET_OPS:
                    last = memo.get(arg)
                    recent.append(last)
                elif name in ("GLOBAL", "INST"):
                    module, _, attr = str(arg).partition(" ")
                    found.append(f"{_norm_module(module)}.{attr}")
                    last = None
                elif name == "STACK_GLOBAL":
                    if len(recent) == 2 and isinstance(recent[0], str) and isinstance(recent[1], str):
                        found.append(f"{_norm_module(recent[0])}.{recent[1]}")
                    else:
                        found.append("<unknown>.<unknown>")
                    last = None
                else:  # STOP
                    finished = True
                    break
        except Exception:  # truncated or not a pickle past this point: what we have is what we report
            scan.cut = stream.tell() >= len(data)
            break
        if scan.too_big:
            break
        if not finished:  # genops ended without STOP: the data ran out
            scan.cut = True
            break
    scan.ops, scan.cost = ops, cost
    seen: set = set()
    for g in found:
        if g not in seen:
            seen.add(g)
            scan.globals.append(g)
    return scan


def scan_pickle_globals(data: bytes, max_pickles: int = 6, max_ops: int = MAX_PICKLE_OPS) -> list[str]:
    """Every ``module.name`` the pickle(s) in ``data`` would import (see :func:`scan_pickle`)."""
    return scan_pickle(data, max_pickles, max_ops).globals


_CODE_RUNNING_MODULES = {"os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "runpy", "importlib",
                         "pty", "webbrowser", "code", "commands", "ctypes", "multiprocessing", "platform",
                         "pickle", "marshal", "types", "operator", "functools", "codecs", "io", "tempfile",
                         "asyncio", "threading", "signal", "http", "urllib", "requests", "pip", "setuptools"}
_CODE_RUNNING_NAMES = {"eval", "exec", "compile", "system", "popen", "__import__", "getattr", "setattr",
                       "open", "apply", "execfile", "spawn", "call", "run", "Popen", "check_output",
                       "input", "breakpoint", "globals", "locals", "vars", "delattr", "attrgetter",
                       "methodcaller", "runstring", "load_library", "exec_command"}
# Globals in otherwise harmless packages that run code or read / write other files when called (a
# pickle may call any global it names): numpy's test helper runstring() is exec(); ctypeslib loads shared
# libraries; f2py / distutils run compilers; numpy.load of a .npy with a pickle inside runs that pickle;
# torch.hub downloads and runs code; cpp_extension compiles it; torch.load / jit.load / package load more.
_CODE_RUNNING_PREFIXES = ("numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.load",
                          "numpy.lib.npyio", "numpy.lib.format", "numpy.fromfile", "numpy.memmap", "numpy.save",
                          "numpy.loads", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "numpy.loadtxt",
                          "numpy.genfromtxt", "numpy.core.memmap", "numpy._core.memmap", "torch.hub",
                          "torch.utils.cpp_extension", "torch.package", "torch.load", "torch.save",
                          "torch.jit.load", "torch.serialization", "torch._dynamo", "torch.compile")
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
    if any(g == p or g.startswith(p + ".") for p in _CODE_RUNNING_PREFIXES):
        return True
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
    too_big: str = ""    # the scan's refusal: more work than a real checkpoint's pickle asks for

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
        if self.too_big:
            return (f"{self.too_big}, far more than the weights of a real checkpoint need. It is damaged or made to "
                    "exhaust memory (a pickle bomb); it was not opened")
        if self.objects:
            return (
                f"it stores whole Python objects ({', '.join(self.objects[:3])}) rather than plain weights, and "
                "loading those would run that project's code. In the project that made it, save "
                "model.state_dict() (torch.save or safetensors) and load that file instead")
        return None


def inspect_pickle(data: bytes, scan: PickleScan | None = None) -> PickleReport:
    scan = scan if scan is not None else scan_pickle(data)
    gl = scan.globals
    nv = [g for g in gl if _is_nvlabs(g)]
    bad = [g for g in gl if g not in nv and _runs_code(g)]
    objs = [g for g in gl if g not in nv and g not in bad and not _is_safe(g)]
    return PickleReport(gl, nv, bad, objs, scan.too_big)


# ---------------------------------------------------------------------------------------------- bounded reads
def _zip_entry_count(path: Path, size: int) -> int | None:
    """The entry count in the zip's end record (zip64 aware), read before zipfile builds an object per entry."""
    with open(path, "rb") as fh:
        tail_len = min(size, 22 + 0xFFFF)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        count, cd_size = struct.unpack("<H", tail[at + 10:at + 12])[0], struct.unpack("<I", tail[at + 12:at + 16])[0]
        if count != 0xFFFF and cd_size != 0xFFFFFFFF:
            return count
        loc = tail[at - 20:at] if at >= 20 else b""
        if loc[:4] != b"PK\x06\x07":
            return count
        (offset,) = struct.unpack("<Q", loc[8:16])
        if offset + 56 > size:
            return None
        fh.seek(offset)
        rec = fh.read(56)
        if rec[:4] != b"PK\x06\x06":
            return None
        return struct.unpack("<Q", rec[32:40])[0]


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, name: str) -> bytes:
    """One zip entry, inflated in pieces and never past ``cap`` bytes."""
    out = bytearray()
    with zf.open(info) as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                return bytes(out)
            out += block
            if len(out) > cap:
                raise CheckpointError(
                    f"{name} refused: its entry {info.filename} inflates past {cap / 1e6:.0f} MB, more than a real "
                    "checkpoint of this size holds (a zip bomb)")


def read_pickle_bytes(path: Path, kind: str) -> bytes:
    """The pickle part of a torch checkpoint, read within the bounds of the module docstring: every
    ``.pkl`` entry of a zip archive (torch reads ``data.pkl``; a TorchScript archive adds ``constants.pkl``),
    or the first ``LEGACY_HEAD`` bytes of a legacy / raw pickle file. Raises CheckpointError for zip bombs."""
    path = Path(path)
    name = path.name
    if kind != "zip":
        with open(path, "rb") as fh:
            return fh.read(LEGACY_HEAD)
    size = path.stat().st_size
    count = _zip_entry_count(path, size)
    if count is not None and count > MAX_ZIP_ENTRIES:
        raise CheckpointError(f"{name} refused: its archive lists {count:,} entries (real checkpoints hold one per "
                              f"tensor, at most {MAX_ZIP_ENTRIES:,} here)")
    allowed = size * MAX_EXPANSION + ZIP_SLACK
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        odd = next((i for i in infos if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)), None)
        if odd is not None:  # torch reads stored and deflated entries only (and an LZMA decoder allocates
            # whatever dictionary size the file declares)
            method = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}.get(odd.compress_type, odd.compress_type)
            raise CheckpointError(_not_a_checkpoint(name, f"a zip archive torch cannot read: {odd.filename} is "
                                                          f"compressed with {method}"))
        declared = sum(i.file_size for i in infos)
        if declared > allowed:
            raise CheckpointError(
                f"{name} refused: its entries claim {declared / 1e6:,.0f} MB once inflated, from a "
                f"{size / 1e6:,.1f} MB file (torch.save stores them uncompressed): a zip bomb, or a damaged file")
        pickles = [i for i in infos if i.filename.endswith(".pkl")]
        if not pickles:
            return b""
        # data.pkl first: the scan names what torch will read before the rest of the archive
        pickles.sort(key=lambda i: not i.filename.endswith("data.pkl"))
        parts, budget = [], min(allowed, MAX_PICKLE_BYTES)
        for info in pickles:
            if info.file_size > budget:
                raise CheckpointError(
                    f"{name} refused: its pickle {info.filename} is {info.file_size / 1e6:,.0f} MB once inflated "
                    f"(at most {budget / 1e6:,.0f} MB for a file of this size): a zip bomb, or a damaged file")
            data = _inflate(zf, info, budget, name)
            budget -= len(data)
            parts.append(data)
        return b"".join(parts)


def is_torchscript_archive(path: Path) -> bool:
    """A ``torch.jit.save`` archive: code (``code/``) and ``constants.pkl`` next to the weights."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


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
    if kind == "damaged-zip":
        raise CheckpointError(f"{name} is damaged: its zip archive's table of contents cannot be read")

    if path.suffix.lower() == ".safetensors" or kind == "safetensors":
        return _read_safetensors(path), "safetensors"

    if kind == "pickle":  # NVIDIA's network pickles: their own reader, an allow-list that never runs their code
        from ganstudio.checkpoints import nvlabs_pickle
        if nvlabs_pickle.is_nvlabs_pickle(path):
            return nvlabs_pickle.read_nvlabs_pickle(path)
    if kind in ("zip", "pickle"):
        try:
            data = read_pickle_bytes(path, kind)
        except CheckpointError:
            raise
        except NotImplementedError as exc:  # LZMA / bzip2 / encrypted entries: torch.save never writes them
            raise CheckpointError(_not_a_checkpoint(name, f"a zip archive torch cannot read: {exc}")) from exc
        except (zipfile.BadZipFile, zlib.error, OSError, KeyError, EOFError, ValueError, RuntimeError,
                struct.error) as exc:
            raise CheckpointError(f"{name} is truncated or damaged ({_first_line(exc)})") from exc
        if kind == "zip" and not data:  # a zip archive without torch.save's data.pkl (photos, a project ...)
            raise CheckpointError(_not_a_checkpoint(name, "a zip archive without PyTorch weights"))
        scan = scan_pickle(data)
        if kind == "pickle" and scan.cut and not scan.too_big and len(data) == LEGACY_HEAD \
                and path.stat().st_size > LEGACY_HEAD:
            # torch would unpickle the rest from the file itself, past what was checked
            scan.too_big = f"its pickle runs past the first {LEGACY_HEAD >> 20} MB"
        report = inspect_pickle(data, scan)
        reason = report.refuse_reason
        if kind == "zip" and not (report.code_running or report.too_big) and is_torchscript_archive(path):
            reason = ("it is a TorchScript archive (torch.jit.save): it holds the network's code as well as its "
                      "weights, and GAN Studio does not run code from model files. In the project that made it, "
                      "save model.state_dict() (torch.save or safetensors) and load that file instead")
        if reason:
            raise CheckpointError(f"{name} refused: {reason}.")
    else:  # not a zip, not a pickle, not safetensors: tried below, named plainly if torch cannot read it
        report = None

    try:
        allowed = _numpy_safe_globals(report.globals if report is not None else [])
        with warnings.catch_warnings():
            # torch's own remarks while it rebuilds a damaged or odd pickle ("Detected pickle protocol 4 ...",
            # deprecations inside the calls it allows): the file either loads or is refused, in one line
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch(\.|$)")
            with torch.serialization.safe_globals(allowed):  # numpy scalars (e.g. a saved iteration count)
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if kind == "unknown":  # torch's long weights_only text says nothing useful about a non-checkpoint
            raise CheckpointError(_not_a_checkpoint(name)) from exc
        extra = ""
        if report is not None and report.globals:
            unsafe = [g for g in report.globals if not _is_safe(g)]
            if unsafe:
                extra = f" (it asks for {', '.join(unsafe[:3])})"
        reason = clean_torch_message(exc)
        raise CheckpointError(
            f"{name} refused: loading it would need more than plain weights{extra}, and unpickling arbitrary "
            "objects can run code. Save the state dict (model.state_dict()) or use safetensors."
            + (f" [{reason}]" if reason else "")
        ) from exc
    except MemoryError as exc:  # past every bound above: still one line, never a traceback
        raise CheckpointError(f"{name} is too large to load in the memory of this computer") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError ... for damaged files
        msg = clean_torch_message(exc)
        if kind == "unknown":
            raise CheckpointError(_not_a_checkpoint(name)) from exc
        if kind == "pickle" and "magic number" in msg.lower():  # a plain Python pickle, not torch.save output
            raise CheckpointError(_not_a_checkpoint(name, "a Python pickle that torch.save did not write")) from exc
        raise CheckpointError(f"{name} is truncated or damaged and cannot be loaded ({msg or type(exc).__name__})"
                              ) from exc
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

    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if MAX_SAFETENSORS_HEADER < n <= path.stat().st_size - 8:
            raise CheckpointError(
                f"{path.name} refused: its safetensors header is {n / 1e6:,.0f} MB (real headers take about 100 "
                f"bytes per tensor; at most {MAX_SAFETENSORS_HEADER >> 20} MB here)")
    try:
        return load_file(str(path))
    except MemoryError as exc:
        raise CheckpointError(f"{path.name} is too large to load in the memory of this computer") from exc
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


# torch's weights_only errors advise re-running torch.load with weights_only=False: the one thing a user must
# never do with a stranger's file. Every torch message shown to users goes through clean_torch_message.
_ADVICE_SENTENCE = re.compile(r"weights_only|trusted source|arbitrary code execution|two options|file an issue|"
                              r"documentation of torch\.load|Weights only load failed|add_safe_globals|safe_globals",
                              re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean_torch_message(exc: BaseException | str) -> str:
    """The useful line of a torch error, without its advice to load the file unsafely ("" when none is left)."""
    text = _ANSI.sub("", str(exc))
    if "WeightsUnpickler error:" in text:  # torch's own reason follows this tag
        text = text.split("WeightsUnpickler error:", 1)[1]
    for line in text.splitlines():
        sentences = re.split(r"(?<=[.!?])\s+", line.strip())
        kept = " ".join(s for s in sentences if s and not _ADVICE_SENTENCE.search(s)).strip()
        if kept:
            return kept[:300]
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
