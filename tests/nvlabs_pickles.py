"""Test helper (not a test module): write StyleGAN2-ADA network pickles the way NVIDIA's training code does,
from GAN Studio's own modules, without NVIDIA's code (../shared/parity/stylegan2_ada/SPEC.md §1).

Every module becomes ``REDUCE(torch_utils.persistence._reconstruct_persistent_obj, (meta,))`` with a
placeholder ``module_src``; tensors and storages are pickled by torch itself (``_rebuild_parameter``,
``_rebuild_tensor_v2``, ``_load_from_bytes``); float gains are numpy float64 scalars and nested kwargs are
``dnnlib.util.EasyDict``, as in the official files. NVIDIA's modules are written by name only: nothing of
theirs is imported, here or by the reader.

Also used by ``bench/pkl_load.py``.
"""
from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import torch

PLACEHOLDER_SOURCE = "# source omitted: written by GAN Studio's tests, never read by its loader"


class Named:
    """A global written by name only (GLOBAL / STACK_GLOBAL); its module need not exist here."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce wants a callable; this one is never called
        raise RuntimeError(f"{self.module}.{self.name} is a name only")


RECONSTRUCT = Named("torch_utils.persistence", "_reconstruct_persistent_obj")
EASYDICT = Named("dnnlib.util", "EasyDict")


class EasyDict(dict):
    """Pickled as NEWOBJ(dnnlib.util.EasyDict) + SETITEMS, like NVIDIA's."""


class Persistent:
    """One ``torch_utils.persistence`` object: class name and ``__dict__``."""

    def __init__(self, class_name: str, state: dict, version: int = 6, kind: str = "class") -> None:
        self.class_name, self.state, self.version, self.kind = class_name, state, version, kind


class Call:
    """REDUCE(fn, args) with ``fn`` a Named global: how a test plants a payload (it is never run here)."""

    def __init__(self, fn: Named, args: tuple) -> None:
        self.fn, self.args = fn, args


class _Writer(pickle._Pickler):  # the pure-Python pickler, so a few types can be written by hand
    dispatch = dict(pickle._Pickler.dispatch)
    source = PLACEHOLDER_SOURCE

    def save_named(self, obj: Named) -> None:
        if self.proto >= 4:
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    def save_persistent(self, obj: Persistent) -> None:
        meta = {"type": obj.kind, "version": obj.version, "module_src": self.source,
                "class_name": obj.class_name, "state": obj.state}
        self.save_reduce(RECONSTRUCT, (meta,), obj=obj)

    def save_easydict(self, obj: EasyDict) -> None:
        self.save(EASYDICT)
        self.save(())
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        self._batch_setitems(iter(obj.items()))

    def save_call(self, obj: Call) -> None:
        self.save_reduce(obj.fn, obj.args, obj=obj)

    dispatch[Named] = save_named
    dispatch[Persistent] = save_persistent
    dispatch[EasyDict] = save_easydict
    dispatch[Call] = save_call


def dumps(obj, protocol: int = 4, source: str = PLACEHOLDER_SOURCE) -> bytes:
    """Pickle ``obj``; every Persistent gets ``source`` as its module_src (one shared string, as upstream)."""
    import io

    buf = io.BytesIO()
    writer = _Writer(buf, protocol=protocol)
    writer.source = source
    writer.dump(obj)
    return buf.getvalue()


def record(class_name: str, params: dict | None = None, buffers: dict | None = None, modules: dict | None = None,
           **attrs) -> Persistent:
    """A module record with the bookkeeping an nn.Module ``__dict__`` has (torch 2.x: plain dicts for the
    three containers, OrderedDicts for the hooks)."""
    state = {
        "training": False,
        "_parameters": {k: (torch.nn.Parameter(v.detach().clone(), requires_grad=False) if v is not None else None)
                        for k, v in (params or {}).items()},
        "_buffers": {k: v.detach().clone() for k, v in (buffers or {}).items()},
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(), "_forward_hooks": OrderedDict(), "_forward_pre_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(), "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": dict(modules or {}),
    }
    state.update(attrs)
    state.setdefault("_init_args", ())
    state.setdefault("_init_kwargs", EasyDict())
    return Persistent(class_name, state)


_F64 = np.float64
# the plain attributes NVIDIA's classes keep (SPEC §2.1, §2.3), read from GAN Studio's modules of the same name
_ATTRS = {
    "Generator": ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "num_ws"),
    "MappingNetwork": ("z_dim", "c_dim", "w_dim", "num_ws", "num_layers", "w_avg_beta"),
    "SynthesisNetwork": ("w_dim", "img_resolution", "img_channels", "block_resolutions", "num_ws"),
    "SynthesisBlock": ("in_channels", "w_dim", "resolution", "img_channels", "is_last", "architecture", "use_fp16",
                       "num_conv", "num_torgb"),
    "SynthesisLayer": ("resolution", "up", "use_noise", "activation", "conv_clamp", "padding", "act_gain"),
    "ToRGBLayer": ("conv_clamp", "weight_gain"),
    "FullyConnectedLayer": ("activation", "weight_gain", "bias_gain"),
    "Conv2dLayer": ("up", "conv_clamp", "padding", "weight_gain"),
}
_NUMPY_FLOATS = {"act_gain", "weight_gain"}


def module_record(m: torch.nn.Module) -> Persistent:
    """The record of one of GAN Studio's StyleGAN2-ADA modules (``ganstudio.nets.stylegan2_ada``), children
    included, as NVIDIA's pickle of the same network holds it."""
    name = type(m).__name__
    attrs = {}
    for a in _ATTRS[name]:
        v = getattr(m, a)
        attrs[a] = _F64(v) if a in _NUMPY_FLOATS else (list(v) if isinstance(v, (list, tuple)) else v)
    if name == "SynthesisBlock":
        attrs["channels_last"] = False
        if m.fused_modconv_default is not None:
            attrs["fused_modconv_default"] = m.fused_modconv_default
    if name == "Conv2dLayer":
        attrs["activation"] = "linear"
        if m.bias is None:  # NVIDIA's layer keeps a missing bias as a plain attribute
            attrs["bias"] = None
    if name == "Generator":
        attrs["_init_kwargs"] = EasyDict(z_dim=m.z_dim, c_dim=m.c_dim, w_dim=m.w_dim,
                                         mapping_kwargs=EasyDict(num_layers=m.mapping.num_layers))
    params = {k: v for k, v in m._parameters.items() if v is not None}
    buffers = dict(m._buffers)
    children = {k: module_record(c) for k, c in m._modules.items()}
    return record(name, params, buffers, children, **attrs)


def discriminator_record(resolution: int, channel_base: int = 32768, channel_max: int = 512, img_channels: int = 3,
                         seed: int = 0) -> Persistent:
    """A 'resnet' Discriminator record with the official tensor names and shapes and random weights. The
    reader never decodes it; it is there so a snapshot is the size of a real one."""
    g = torch.Generator().manual_seed(seed)
    log2 = int(np.log2(resolution))
    ch = {r: min(channel_base // r, channel_max) for r in [2 ** i for i in range(2, log2 + 1)]}
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = (f[:, None] * f[None, :]) / 64

    def conv(i, o, k, bias=True, **kw):
        p = {"weight": torch.randn(o, i, k, k, generator=g)}
        if bias:
            p["bias"] = torch.zeros(o)
        return record("Conv2dLayer", p, {"resample_filter": f}, activation="lrelu" if bias else "linear",
                      weight_gain=_F64(1 / np.sqrt(i * k * k)), **kw)

    blocks = {}
    for res in range(log2, 2, -1):
        r = 2 ** res
        mods = {}
        if r == resolution:
            mods["fromrgb"] = conv(img_channels, ch[r], 1)
        mods["conv0"] = conv(ch[r], ch[r], 3)
        mods["conv1"] = conv(ch[r], ch[r // 2], 3, down=2)
        mods["skip"] = conv(ch[r], ch[r // 2], 1, bias=False, down=2)
        blocks[f"b{r}"] = record("DiscriminatorBlock", {}, {"resample_filter": f}, mods, resolution=r,
                                 architecture="resnet")
    c4 = ch[4]
    fc = record("FullyConnectedLayer", {"weight": torch.randn(c4, c4 * 16, generator=g), "bias": torch.zeros(c4)},
                activation="lrelu", weight_gain=_F64(1 / np.sqrt(c4 * 16)), bias_gain=1)
    out = record("FullyConnectedLayer", {"weight": torch.randn(1, c4, generator=g), "bias": torch.zeros(1)},
                 activation="linear", weight_gain=_F64(1 / np.sqrt(c4)), bias_gain=1)
    blocks["b4"] = record("DiscriminatorEpilogue", {}, {}, {
        "mbstd": record("MinibatchStdLayer", group_size=4, num_channels=1),
        "conv": conv(c4 + 1, c4, 3), "fc": fc, "out": out}, resolution=4, architecture="resnet")
    return record("Discriminator", {}, {}, blocks, img_resolution=resolution, img_channels=img_channels,
                  block_resolutions=[2 ** i for i in range(log2, 2, -1)])


def snapshot(G_ema: torch.nn.Module, G: torch.nn.Module | None = None, D: Persistent | None = None,
             **extra) -> dict:
    """The dict ``training_loop.py`` pickles: {training_set_kwargs, G, D, G_ema, augment_pipe} (+ ``extra``)."""
    out = {"training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "use_labels": False,
                                   "resolution": int(G_ema.img_resolution), "xflip": False},
           "G": module_record(G if G is not None else G_ema), "D": D, "G_ema": module_record(G_ema),
           "augment_pipe": None}
    out.update(extra)
    return out


def write_snapshot(path, G_ema: torch.nn.Module, protocol: int = 4, source: str = PLACEHOLDER_SOURCE, **kw) -> str:
    with open(path, "wb") as fh:
        fh.write(dumps(snapshot(G_ema, **kw), protocol=protocol, source=source))
    return str(path)


def tiny_ada_generator(seed: int = 0, c_dim: int = 0, fp16_resolutions=(), conv_clamp=None, resolution: int = 16,
                       architecture: str = "skip"):
    """A seeded small StyleGAN2-ADA generator with non-trivial weights (biases, noise strengths and w_avg
    away from their zero / one initial values), in eval mode."""
    from ganstudio.nets import stylegan2_ada

    torch.manual_seed(seed)
    n_blocks = int(np.log2(resolution)) - 1
    g = stylegan2_ada.Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=resolution, img_channels=3,
                                channels=[32, 16, 16, 8, 8][:n_blocks], mapping_layers=2,
                                architecture=architecture, fp16_resolutions=fp16_resolutions,
                                conv_clamp=conv_clamp).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            elif name.endswith("bias"):
                p.add_(torch.randn(p.shape, generator=gen) * (20 if name.startswith("mapping.fc") else 0.2))
        g.mapping.w_avg.copy_(torch.randn(16, generator=gen) * 0.5)
    return g
