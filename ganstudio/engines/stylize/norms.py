"""Per-call changes to how a generator's normalisation layers behave, without changing the shared module.

The model cache hands out one module to every job (read-only, possibly used by two threads at once), but
Stylize needs, for one call at a time:

* ``tiled_norm_stats(net)``: measure every InstanceNorm layer's input statistics over all tiles of an image
  (the first of the two tiled passes);
* ``frozen_instance_norm(net, stats)``: normalise every tile with those image-wide statistics instead of the
  tile's own (the second pass), so the tiles agree in tone;
* ``official_batch_norm(net)``: BatchNorm on the current batch's statistics, as the official pix2pix
  ``test.py`` runs without ``--eval``.

Each is a context manager that holds its state in a thread-local; hooks installed once per layer
(``install``, idempotent, like ``runtime.watch_blocks``) act only inside such a block *in the same thread*.
Outside one, a forward pays one attribute read per normalisation layer and is otherwise unchanged.
"""
from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

_local = threading.local()  # .collect: _Stats | None, .frozen: dict | None, .batch_stats: bool
_install_lock = threading.Lock()  # two jobs starting on one module at once install the hooks once


def instance_norms(net) -> list[nn.InstanceNorm2d]:
    """The InstanceNorm layers that normalise with their input's statistics, in module order."""
    return [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats]


def _patchable_bns(net) -> list[nn.Module]:
    from ganstudio.nets.cyclegan import PatchableBatchNorm2d

    return [m for m in net.modules() if isinstance(m, PatchableBatchNorm2d)]


def install(net) -> None:
    """Install the thread-local hooks on ``net``'s normalisation layers (once; later calls do nothing)."""
    with _install_lock:
        _install(net)


def _install(net) -> None:
    for m in instance_norms(net):
        if not getattr(m, "_ganstudio_norm_hooks", False):
            m.register_forward_pre_hook(_in_measure)
            m.register_forward_hook(_in_frozen)
            m._ganstudio_norm_hooks = True
    for m in _patchable_bns(net):
        if not getattr(m, "_ganstudio_norm_hooks", False):
            m.register_forward_hook(_bn_batch_stats)
            m._ganstudio_norm_hooks = True


# ---------------------------------------------------------------------------------------------- hooks
def _in_measure(mod, args) -> None:
    st = getattr(_local, "collect", None)
    if st is None:
        return
    i = st.index.get(id(mod))
    if i is None:
        return
    t = args[0].float()
    a = st.acc[i]
    a[0] = a[0] + t.sum(dim=(2, 3), keepdim=True)
    a[1] = a[1] + (t * t).sum(dim=(2, 3), keepdim=True)
    a[2] += t.shape[2] * t.shape[3]


def _in_frozen(mod, args, out):
    frozen = getattr(_local, "frozen", None)
    if frozen is None:
        return None
    stats = frozen.get(id(mod))
    if stats is None:
        return None
    mean, var = stats
    t = args[0]
    return ((t.float() - mean) * torch.rsqrt(var + mod.eps)).to(out.dtype)  # fp32 under autocast too


def _bn_batch_stats(mod, args, out):
    if not getattr(_local, "batch_stats", False) or mod.training:
        return None
    return F.batch_norm(args[0], None, None, mod.weight, mod.bias, True, 0.0, mod.eps)


# ------------------------------------------------------------------------------------------- contexts
class _Stats:
    def __init__(self, norms) -> None:
        self.index = {id(m): i for i, m in enumerate(norms)}
        self.acc: list[list] = [[0.0, 0.0, 0] for _ in norms]

    def result(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(mean, var) per layer, shaped (1, C, 1, 1), in module order."""
        out = []
        for s1, s2, n in self.acc:
            mean = s1 / n
            out.append((mean, (s2 / n - mean * mean).clamp_min(0)))
        return out


class tiled_norm_stats:
    """Within the block (this thread), accumulate the pixel-weighted per-channel sum and sum of squares of
    every InstanceNorm layer's input over all forward calls (one per tile); ``result()`` gives (mean, var)
    per layer in module order."""

    def __init__(self, net) -> None:
        install(net)
        self._stats = _Stats(instance_norms(net))

    def __enter__(self) -> _Stats:
        self._prev = getattr(_local, "collect", None)
        _local.collect = self._stats
        return self._stats

    def __exit__(self, *exc) -> None:
        _local.collect = self._prev


class frozen_instance_norm:
    """Within the block (this thread), each InstanceNorm layer normalises with the given (mean, var) instead
    of its input's own statistics (``stats`` None: no change)."""

    def __init__(self, net, stats) -> None:
        install(net)
        norms = instance_norms(net) if stats is not None else []
        self._frozen = {id(m): s for m, s in zip(norms, stats or [])} if stats is not None else None

    def __enter__(self):
        self._prev = getattr(_local, "frozen", None)
        _local.frozen = self._frozen
        return self

    def __exit__(self, *exc) -> None:
        _local.frozen = self._prev


class official_batch_norm:
    """Within the block (this thread), BatchNorm layers of a pix2pix U-Net normalise with the current batch's
    statistics (running statistics untouched), like the official ``test.py`` without ``--eval``. Dropout
    stays off (eval), as the official test's ``--eval``-less default is random; we keep it deterministic."""

    def __init__(self, net, enabled: bool = True) -> None:
        self.enabled = enabled
        if enabled:
            install(net)

    def __enter__(self):
        self._prev = getattr(_local, "batch_stats", False)
        _local.batch_stats = self.enabled or self._prev
        return self

    def __exit__(self, *exc) -> None:
        _local.batch_stats = self._prev


def has_batch_norm(net) -> bool:
    """A pix2pix U-Net with BatchNorm (the official mode then uses batch statistics)."""
    return hasattr(net, "num_downs") and bool(_patchable_bns(net))
