"""The runtime every engine and the trainer run on: device, precision and CPU threads, chosen in one place.

``resolve_runtime(device, precision)`` turns what the user said (Settings in the GUI, ``--device`` /
``--precision`` on every command; "auto" by default everywhere) into a ``Runtime``:

* device "auto": CUDA, then Apple MPS, then the CPU. An explicit choice this machine cannot honour (a
  saved "cuda:1" on a laptop) falls back to the automatic choice with a logged warning, unless
  ``strict=True`` (the CLI's --device), which raises ``DeviceError`` instead: ``--device cuda`` on a machine
  without CUDA is refused, never run silently on the CPU.
* precision "auto": fp16 autocast on CUDA; bf16 autocast on a CPU with native bf16 matrix units (Intel
  AMX), where Real-ESRGAN x4plus ran 3x faster than fp32 at 48-53 dB PSNR against the fp32 output
  (bench/runtime.py prints both); fp32 everywhere else. fp32 is always one click / flag away.
* threads: torch's intra-op thread count is process-wide, so it is set once at start-up
  (``configure_threads``) and never changed behind another job's back.

Engines receive ``device`` / ``precision`` as plain strings (they cross the GUI's worker thread as job
arguments) and call ``resolve_runtime`` once per job.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

import torch

from ganstudio.core.errors import UserError

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class DeviceError(UserError, ValueError):
    """A device the user asked for that this machine does not have."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Device strings this machine offers, best first: "cuda:0", ..., "mps", "cpu"."""
    out = []
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        out.append("mps")
    out.append("cpu")
    return out


def _auto() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def select_device(pref: "str | torch.device | None" = "auto", strict: bool = False) -> torch.device:
    """Turn a preference ("auto", "cpu", "cuda", "cuda:N", "mps") into a usable torch.device."""
    if isinstance(pref, torch.device):
        pref = str(pref)
    pref = (pref or "auto").strip().lower()
    if pref == "auto":
        return _auto()
    if pref == "cpu":
        return torch.device("cpu")
    problem = None
    if pref == "gpu":
        pref = "cuda"
    if pref.startswith("cuda"):
        index = 0
        if pref != "cuda":
            head, _, num = pref.partition(":")
            if head != "cuda" or not num.isdigit():
                raise DeviceError(f"unknown device {pref!r}: use auto, cpu, cuda, cuda:N or mps")
            index = int(num)
        if not torch.cuda.is_available():
            problem = "CUDA is not available on this machine"
        elif index >= torch.cuda.device_count():
            problem = f"there is no CUDA device {index} (this machine has {torch.cuda.device_count()})"
        else:
            return torch.device("cuda", index)
    elif pref == "mps":
        if _mps_available():
            return torch.device("mps")
        problem = "Apple MPS is not available on this machine"
    else:
        raise DeviceError(f"unknown device {pref!r}: use auto, cpu, cuda, cuda:N or mps")
    if strict:
        raise DeviceError(f"cannot use {pref}: {problem}")
    fallback = _auto()
    log.warning("cannot use %s (%s); using %s instead", pref, problem, fallback)
    return fallback


def describe_device(dev: "torch.device | str") -> str:
    """A short human description: "CUDA: NVIDIA H100 (cuda:0)", "Apple MPS", "CPU (8 threads)"."""
    dev = torch.device(dev) if not isinstance(dev, torch.device) else dev
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        try:
            name = torch.cuda.get_device_name(index)
        except Exception:  # no driver: still say what was asked for
            name = "unavailable"
        return f"CUDA: {name} (cuda:{index})"
    if dev.type == "mps":
        return "Apple MPS"
    if dev.type == "cpu":
        threads = torch.get_num_threads()
        return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
    return str(dev)


def supported_precisions(device: "torch.device | str") -> list[str]:
    """Precisions worth offering on this device (fp32 always first)."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    out = ["fp32"]
    if dev.type == "cuda":
        out.append("fp16")
        try:
            if torch.cuda.is_bf16_supported():
                out.append("bf16")
        except Exception:
            pass
    elif dev.type == "mps":
        out.append("fp16")
    elif dev.type == "cpu":
        out.append("bf16")  # CPU autocast runs in bfloat16 (fp16 autocast on CPU is slow and patchy)
    return out


def autocast(device: "torch.device | str", precision: str = "fp32"):
    """A context manager running its block in ``precision`` on ``device`` (no-op for fp32).

    An unsupported combination (fp16 on CPU) runs in fp32 with a logged note rather than failing.
    """
    precision = (precision or "fp32").lower()
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision not in supported_precisions(dev):
        log.info("%s is not offered on %s; running in fp32", precision, dev)
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=_DTYPES[precision])


def configure_threads(n: int | None) -> int:
    """Set torch's CPU thread count once, at start-up (None or 0: leave torch's default). Returns the
    count in use. Never call this from a job: the count is shared by every job of the process."""
    if n:
        torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()


def has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 matrices in hardware (Intel AMX); there bf16 autocast is several
    times faster than fp32. Without it, bf16 on the CPU is emulated and slower than fp32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if probe is not None:
        try:
            return bool(probe())
        except Exception:  # an old or unusual build: read the flags instead
            pass
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return "amx_bf16" in fh.read(1 << 16)
    except OSError:
        return False


PRECISION_CHOICES = ("auto",) + PRECISIONS


def auto_precision(device: "torch.device | str") -> str:
    """What "auto" means on ``device`` (see the module docstring)."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        return "fp16"
    if dev.type == "cpu" and has_native_bf16():
        return "bf16"
    return "fp32"


@dataclass(frozen=True)
class Runtime:
    """Where and how a job runs. ``precision`` is always a concrete one ("fp32", "fp16", "bf16") that the
    device supports."""

    device: torch.device
    precision: str = "fp32"

    def autocast(self):
        """Context manager: the block runs in ``precision`` (a no-op for fp32)."""
        return autocast(self.device, self.precision)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def describe(self) -> str:
        return f"{describe_device(self.device)}, {self.precision}"

    def as_kwargs(self) -> dict:
        """Plain data for a job's kwargs or a run's config."""
        return {"device": str(self.device), "precision": self.precision}


def resolve_runtime(device: "str | torch.device | Runtime | None" = "auto", precision: str | None = "auto",
                    strict: bool = False) -> Runtime:
    """The one place that turns a device / precision preference into a ``Runtime``.

    ``precision`` None or "auto" picks ``auto_precision``; an explicit one the device cannot run (fp16 on
    the CPU) becomes fp32 with a logged note, or, with ``strict``, a ``DeviceError``."""
    if isinstance(device, Runtime):
        return device
    dev = select_device(device, strict=strict)
    prec = (precision or "auto").strip().lower()
    if prec == "auto":
        return Runtime(dev, auto_precision(dev))
    if prec not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}: use auto, {', '.join(PRECISIONS)}")
    if prec not in supported_precisions(dev):
        if strict:
            raise DeviceError(f"{prec} is not available on {describe_device(dev)}: use "
                              f"{', '.join(['auto'] + supported_precisions(dev))}")
        log.warning("%s is not offered on %s; running in fp32", prec, dev)
        prec = "fp32"
    return Runtime(dev, prec)


# ---------------------------------------------------------------------------------------------- block watch
_watch = threading.local()  # the current thread's (cancel token, callback, counter), set by block_watch


def _block_hook(_module, _args) -> None:
    state = getattr(_watch, "state", None)
    if state is None:
        return  # a forward outside any block_watch (or in another thread's job): nothing to do
    state.count += 1
    state.cancel.check()  # raises Cancelled: the forward stops here, within one block
    if state.on_block is not None:
        now = time.monotonic()
        if now - state.last >= state.every_s:
            state.last = now
            state.on_block(state.count)


def watch_blocks(net: torch.nn.Module, blocks=None) -> int:
    """Install (once; idempotent) a pre-forward hook on ``blocks`` (default: every submodule of ``net``)
    that, inside a ``block_watch``, checks the job's CancelToken and counts blocks. The hooks read
    thread-local state, so a shared cached module can serve several jobs at once: each job's checks
    and counts stay its own, and a forward outside any watch costs one attribute read per block.
    Returns the number of watched blocks (the count one forward reaches)."""
    mods = list(blocks) if blocks is not None else [m for m in net.modules() if m is not net]
    for m in mods:
        if not getattr(m, "_ganstudio_watched", False):
            m.register_forward_pre_hook(_block_hook)
            m._ganstudio_watched = True
    return len(mods)


class _WatchState:
    def __init__(self, cancel, on_block, every_s):
        self.cancel, self.on_block, self.every_s = cancel, on_block, every_s
        self.count = 0
        self.last = time.monotonic()


@contextlib.contextmanager
def block_watch(cancel, on_block=None, every_s: float = 0.25):
    """Within the block, forwards of watched modules (``watch_blocks``) in this thread check ``cancel``
    before every block, so Cancel acts within one block instead of one tile or one image, and call
    ``on_block(blocks_done)`` at most every ``every_s`` seconds, so a long tile still reports progress
    (e.g. ``cancel.report(Progress(tile + blocks_done / blocks_per_tile, tiles, ...))``)."""
    if cancel is None:
        yield None
        return
    prev = getattr(_watch, "state", None)
    state = _WatchState(cancel, on_block, every_s)
    _watch.state = state
    try:
        yield state
    finally:
        _watch.state = prev
