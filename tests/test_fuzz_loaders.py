"""Fuzz the shared loaders (issue 14): a few hundred seeded mutations of small valid checkpoints and images
go through ``read_checkpoint``, ``load_model`` and ``read_image``.

Each must end in the file being read or in one of the project's user errors (a ``UserError`` with its one
line): no other exception (a traceback), no payload running (the seeds include checkpoints carrying
code-running payloads whose marker file must never appear), and the process's peak memory stays under
1.5 GB. The mutations run in a fresh interpreter (this file run as a script) so its peak memory is theirs.

Mutations: byte flips, truncations, byte runs spliced in; for checkpoints also pickle edits inside the zip
(numbers in the opcodes: shapes, storage sizes; stored or deflated again), zip header size fields,
safetensors header edits (shapes, offsets, dtypes), and state dicts rewritten with wrong, empty, huge or
zero-stride shapes; for images header edits (PNG IHDR size and chunk lengths, JPEG frame size).

To explore further by hand: ``GANSTUDIO_FUZZ_SEED=5 GANSTUDIO_FUZZ_SCALE=4 python tests/test_fuzz_loaders.py DIR``
(another seed, four times the cases; ``GANSTUDIO_FUZZ_TRACE=FILE`` logs each case and the peak memory before
it, to find a hard crash or a jump). Seeds 1-10 at scale 4 (3000 cases each) ran clean when this was written.
"""
from __future__ import annotations

import io
import json
import math
import os
import random
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

COUNT_CHECKPOINTS = 500
COUNT_IMAGES = 250
PEAK_LIMIT_MB = 1500


# ------------------------------------------------------------------------------------------- seeds
def _seed_checkpoints(folder: Path, marker: Path) -> list[Path]:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from ganstudio.nets import cyclegan, dcgan, rrdbnet, srvgg

    torch.manual_seed(0)
    seeds = []

    def add(name, obj, **kw):
        p = folder / name
        torch.save(obj, p, **kw)
        seeds.append(p)

    sr = srvgg.build(num_feat=4, num_conv=1, upscale=2).state_dict()
    rr = rrdbnet.build(num_feat=4, num_block=1, num_grow_ch=2).state_dict()
    cg = cyclegan.ResnetGenerator(ngf=2, n_blocks=1).state_dict()
    dc = dcgan.Generator(nz=4, ngf=2, nc=3).state_dict()
    add("srvgg.pth", {"params": sr})
    add("rrdb_legacy.pth", {"params_ema": rr}, _use_new_zipfile_serialization=False)
    add("cyclegan.pth", cg)
    add("dcgan.pth", dc)
    add("with_numpy.pth", {"params": sr, "iter": np.int64(3)})
    save_file(sr, str(folder / "srvgg.safetensors"))
    save_file(rr, str(folder / "rrdb.safetensors"))
    seeds += [folder / "srvgg.safetensors", folder / "rrdb.safetensors"]

    class Touch:  # unpickling runs os.system: the marker appears
        def __reduce__(self):
            return (os.system, (f"touch '{marker}'",))

    class Opener:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    add("payload_os.pth", {"params": sr, "x": Touch()})
    add("payload_open_legacy.pth", {"x": Opener(), "params": sr}, _use_new_zipfile_serialization=False)
    import pickle

    raw = folder / "payload_raw.pkl"
    raw.write_bytes(pickle.dumps({"a": Touch()}, protocol=2))
    seeds.append(raw)
    return seeds


def _seed_images(folder: Path) -> list[Path]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    seeds = []
    for name, kw in (("a.png", {}), ("a.jpg", {"quality": 90}), ("a.webp", {}), ("a.gif", {}), ("a.bmp", {}),
                     ("a.tiff", {})):
        p = folder / name
        im = Image.fromarray(a)
        if name.endswith(".gif"):
            im = im.convert("P")
        im.save(p, **kw)
        seeds.append(p)
    rgba = Image.fromarray(rng.integers(0, 256, (9, 7, 4), dtype=np.uint8), "RGBA")
    rgba.save(folder / "alpha.png")
    seeds.append(folder / "alpha.png")
    return seeds


# ------------------------------------------------------------------------------------------- mutations
def _flip(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] = rng.choice([0, 0xFF, b[i] ^ (1 << rng.randrange(8)), rng.randrange(256)])
    return bytes(b)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _splice(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    run = bytes([rng.randrange(256)]) * rng.choice([1, 7, 300, 5000])
    return data[:i] + run + data[i + rng.choice([0, len(run)]):]


_BIG = [0, 1, 3, 255, 65535, 2 ** 31 - 1, 12000, 4000, 1 << 20]


def _edit_pickle_numbers(rng: random.Random, pk: bytes) -> bytes:
    """Change the arguments of integer opcodes (shapes, strides, offsets, storage sizes) in place."""
    import pickletools

    try:
        ops = [(op.name, pos) for op, _arg, pos in pickletools.genops(pk)]
    except Exception:
        return _flip(rng, pk)
    ints = [(n, p) for n, p in ops if n in ("BININT1", "BININT2", "BININT")]
    if not ints:
        return _flip(rng, pk)
    b = bytearray(pk)
    for name, pos in rng.sample(ints, min(len(ints), rng.randint(1, 3))):
        v = rng.choice(_BIG)
        if name == "BININT1":
            b[pos + 1] = v & 0xFF
        elif name == "BININT2":
            b[pos + 1:pos + 3] = struct.pack("<H", v & 0xFFFF)
        else:
            b[pos + 1:pos + 5] = struct.pack("<i", min(v, 2 ** 31 - 1))
    return bytes(b)


def _mutate_zip(rng: random.Random, data: bytes) -> bytes:
    """Rewrite a torch zip with one entry edited (the pickle's numbers, or bytes), stored or deflated."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    target = rng.choice(src.namelist())
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == target:
                body = _edit_pickle_numbers(rng, body) if target.endswith(".pkl") else _flip(rng, body)
            z.writestr(info.filename, body,
                       compress_type=rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    return out.getvalue()


def _zip_size_fields(rng: random.Random, data: bytes) -> bytes:
    """Lie in a local or central header's size fields."""
    b = bytearray(data)
    sigs = [i for i in range(len(b) - 4) if b[i:i + 4] in (b"PK\x03\x04", b"PK\x01\x02")]
    if not sigs:
        return _flip(rng, data)
    i = rng.choice(sigs)
    field = (18, 22) if b[i:i + 4] == b"PK\x03\x04" else (20, 24)
    b[i + rng.choice(field):i + rng.choice(field) + 4] = struct.pack("<I", rng.choice([0, 1, 2 ** 31, 2 ** 32 - 1]))
    return bytes(b[: len(data)])


def _safetensors_header(rng: random.Random, data: bytes) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    key = rng.choice([k for k in header if k != "__metadata__"])
    what = rng.choice(["shape", "offsets", "dtype", "huge_len"])
    if what == "shape":
        header[key]["shape"] = [rng.choice(_BIG) for _ in header[key]["shape"]] or [12000]
    elif what == "offsets":
        header[key]["data_offsets"] = [rng.choice([0, 4, 2 ** 40]), rng.choice([8, 2 ** 40, 2 ** 62])]
    elif what == "dtype":
        header[key]["dtype"] = rng.choice(["F64", "U8", "BOOL", "XX", "F8_E4M3"])
    else:
        return struct.pack("<Q", rng.choice([2 ** 40, n + 1, 2 ** 29])) + data[8:]
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def _state_dict_edit(rng: random.Random, seed: Path, folder: Path, idx: int) -> Path:
    """A well-formed file whose tensors disagree: one reshaped, emptied, made huge, or a zero-stride view."""
    import torch

    from ganstudio.checkpoints.loader import unwrap_state_dict
    from ganstudio.checkpoints.reader import read_checkpoint

    sd, _c, _e = unwrap_state_dict(read_checkpoint(seed)[0], role=None)
    key = rng.choice(list(sd))
    shape = [rng.choice(_BIG[:6] + [12000, 6000]) for _ in range(max(1, sd[key].ndim))]
    kind = rng.choice(["zeros", "empty", "expand", "drop"])
    if kind == "zeros" and 0 < math.prod(shape) < 2_000_000:
        sd[key] = torch.zeros(shape)
    elif kind == "empty":
        sd[key] = torch.zeros([0] + list(sd[key].shape[1:]))
    elif kind == "expand":  # any shape over a 4-byte storage (products past int64 are not a tensor at all)
        sd[key] = torch.zeros(1).expand(*(shape if sum(d.bit_length() for d in shape) < 60 else [12000, 12000]))
    else:
        sd.pop(key)
    p = folder / f"sd_{idx}.pth"
    torch.save(sd, p)
    return p


def _png_edit(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    what = rng.choice(["size", "length"])
    if what == "size" and data[:4] == b"\x89PNG":
        b[16:24] = struct.pack(">II", rng.choice([0, 1, 30000, 2 ** 31 - 1]), rng.choice([0, 1, 30000, 2 ** 31 - 1]))
    elif data[:4] == b"\x89PNG":
        pos = 8
        chunks = []
        while pos + 8 <= len(b):
            chunks.append(pos)
            pos += 12 + struct.unpack(">I", bytes(b[pos:pos + 4]))[0]
        p = rng.choice(chunks)
        b[p:p + 4] = struct.pack(">I", rng.choice([0, 1, 2 ** 31 - 1, 2 ** 32 - 1]))
    elif data[:2] == b"\xff\xd8":
        sof = data.find(b"\xff\xc0")
        if sof > 0:
            b[sof + 5:sof + 9] = struct.pack(">HH", rng.choice([0, 65535]), rng.choice([0, 65535]))
    return bytes(b)


# ------------------------------------------------------------------------------------------- the run
def _peak_mb() -> float:
    """This process's peak memory. Linux: VmHWM, which belongs to the process image (ru_maxrss also keeps
    the parent's size at fork/exec: a pytest that has grown to 1.5 GB would show here)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(folder: Path) -> dict:
    import warnings

    from ganstudio.checkpoints.loader import load_model
    from ganstudio.checkpoints.reader import read_checkpoint
    from ganstudio.core.errors import UserError
    from ganstudio.core.imageio import read_image

    marker = folder / "PAYLOAD_RAN"
    rng = random.Random(int(os.environ.get("GANSTUDIO_FUZZ_SEED", "14")))  # another seed explores further
    ck_seeds = _seed_checkpoints(folder, marker)
    im_seeds = _seed_images(folder)
    cases: list[tuple[str, Path]] = []
    scale = int(os.environ.get("GANSTUDIO_FUZZ_SCALE", "1"))
    for i in range(COUNT_CHECKPOINTS * scale):
        seed = rng.choice(ck_seeds)
        data = seed.read_bytes()
        ops = [_flip, _truncate, _splice]
        if data[:2] == b"PK":
            ops += [_mutate_zip, _mutate_zip, _zip_size_fields]
        if seed.suffix == ".safetensors":
            ops += [_safetensors_header, _safetensors_header]
        if not seed.name.startswith("payload") and i % 5 == 0:
            path = _state_dict_edit(rng, seed, folder, i)
        else:
            path = folder / f"m{i}{seed.suffix}"
            path.write_bytes(rng.choice(ops)(rng, data))
        cases.append(("checkpoint", path))
    for i in range(COUNT_IMAGES * scale):
        seed = rng.choice(im_seeds)
        data = seed.read_bytes()
        op = rng.choice([_flip, _truncate, _splice, _png_edit, _png_edit])
        path = folder / f"i{i}{seed.suffix}"
        path.write_bytes(op(rng, data))
        cases.append(("image", path))

    outcome = {"loaded": 0, "refused": 0, "unexpected": [], "warnings": [], "image_warnings": []}
    start = time.monotonic()
    trace = os.environ.get("GANSTUDIO_FUZZ_TRACE")  # a file naming each case before it runs (hard crashes)
    for kind, path in cases:
        if trace:
            with open(trace, "a") as fh:
                fh.write(f"{path.name} {_peak_mb():.0f}\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if kind == "image":
                    read_image(path)
                else:
                    read_checkpoint(path)
                    load_model(path, role=None)
                outcome["loaded"] += 1
            except UserError as exc:
                outcome["refused"] += 1
                if "\n" in str(exc).strip() or "weights_only" in str(exc):
                    outcome["unexpected"].append(f"{path.name}: not one plain line: {str(exc)[:300]!r}")
            except BaseException as exc:  # noqa: BLE001 - the point: anything else is a bug to report
                outcome["unexpected"].append(f"{path.name}: {type(exc).__name__}: {str(exc)[:300]}")
        # Pillow warns about corrupt EXIF / TIFF tags in damaged images (its own words, not ours): counted apart
        outcome["warnings" if kind == "checkpoint" else "image_warnings"] += [
            f"{path.name}: {w.category.__name__}: {str(w.message)[:200]} ({Path(w.filename).name}:{w.lineno})"
            for w in caught]
    outcome["seconds"] = round(time.monotonic() - start, 1)
    outcome["cases"] = len(cases)
    outcome["payload_ran"] = marker.exists()
    outcome["peak_mb"] = _peak_mb()
    return outcome


def test_fuzzed_checkpoints_and_images_end_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["cases"] == COUNT_CHECKPOINTS + COUNT_IMAGES
    assert result["unexpected"] == []
    assert not result["payload_ran"] and not (tmp_path / "PAYLOAD_RAN").exists()
    assert result["peak_mb"] < PEAK_LIMIT_MB, result["peak_mb"]
    assert result["warnings"] == []  # reading a checkpoint, however damaged, warns about nothing
    # the mutations reach both ends: some files still load, many are refused
    assert result["loaded"] > 30 and result["refused"] > 300, {k: v for k, v in result.items() if k != "image_warnings"}


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    print(json.dumps(run(folder)))
