"""StyleGAN2-ADA network pickles: read without running anything, rebuilt as GAN Studio modules, and
matched against NVIDIA's outputs (../shared/parity/stylegan2_ada).

The parity pickles were written by NVIDIA's training code; the other pickles here are written by
``tests/nvlabs_pickles.py`` in the same format from GAN Studio's own modules.
"""
from __future__ import annotations

import functools
import io
import json
import math
import pickle
import pickletools

import numpy as np
import pytest
import torch
from nvlabs_pickles import (
    Call,
    Named,
    dumps,
    module_record,
    record,
    snapshot,
    tiny_ada_generator,
    write_snapshot,
)

import ganstudio
from ganstudio.checkpoints import nvlabs_pickle
from ganstudio.checkpoints.nvlabs_pickle import read_network_pickle
from ganstudio.checkpoints.reader import CheckpointError, read_checkpoint
from ganstudio.core.errors import InputError
from ganstudio.nets import stylegan2

FILES = ["fixture_stripped.pkl", "fixture_stripped_proto3.pkl"]
CASES = [("expected_psi1_const.npy", 1.0, "const"), ("expected_psi07_const.npy", 0.7, "const"),
         ("expected_none.npy", 1.0, "none")]


@pytest.fixture
def ada_dir(parity_dir):
    d = parity_dir / "stylegan2_ada"
    if not d.is_dir():
        pytest.skip(f"no StyleGAN2-ADA fixtures in {parity_dir}")
    return d


@functools.lru_cache(maxsize=4)
def _load(path):
    """load_model, once per file for this module (the tests only run the networks)."""
    return ganstudio.load_model(path)


def _npy(ada_dir, name) -> torch.Tensor:
    return torch.from_numpy(np.load(ada_dir / name))


def _assert_close(got: torch.Tensor, want: torch.Tensor, what: str) -> float:
    """The SPEC's check: |a - b| <= 1e-4 + 1e-5 |b| everywhere; returns the max abs difference."""
    assert got.shape == want.shape, what
    diff = (got - want).abs()
    assert bool((diff <= 1e-4 + 1e-5 * want.abs()).all()), f"{what}: max diff {diff.max().item():.3g}"
    return diff.max().item()


# ---------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("filename", FILES)
def test_keys_and_shapes_are_the_official_state_dict(ada_dir, filename):
    keys = json.loads((ada_dir / "keys.json").read_text())
    sd = read_network_pickle(ada_dir / filename)
    assert [[k, list(v.shape)] for k, v in sd.items()] == keys
    assert all(v.dtype == torch.float32 for v in sd.values())
    net, desc = ganstudio.load_model(ada_dir / filename)
    assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == keys
    assert desc.family == "stylegan2_ada" and "without running" in desc.source_format
    hp = desc.hparams
    assert (hp["z_dim"], hp["w_dim"], hp["c_dim"], hp["num_ws"], hp["img_resolution"]) == (64, 64, 0, 8, 32)
    assert (hp["mapping_layers"], hp["channels"], hp["architecture"]) == (2, [128, 64, 32, 16], "skip")
    assert hp["conv_clamp"] is None and hp["fp16_resolutions"] == [] and hp["mapping_lr_multiplier"] == 0.01
    assert torch.equal(desc.extras["latent_avg"], sd["mapping.w_avg"][None])


@pytest.mark.parametrize("filename", FILES)
@pytest.mark.parametrize("expected,psi,noise_mode", CASES)
def test_official_outputs(ada_dir, filename, expected, psi, noise_mode):
    net, _ = _load(ada_dir / filename)
    z = _npy(ada_dir, "z.npy")
    with torch.inference_mode():
        ws = net.mapping(z, None, truncation_psi=psi)
        img = net.sample(z, None, truncation_psi=psi, noise_mode=noise_mode)
    _assert_close(ws, _npy(ada_dir, "w.npy" if psi == 1 else "w_psi07.npy"), "mapping")
    _assert_close(img, _npy(ada_dir, expected), expected)


def test_the_moving_average_generator_is_the_one_loaded(ada_dir):
    g = read_network_pickle(ada_dir / FILES[0], network="G")
    g_ema = read_network_pickle(ada_dir / FILES[0])
    assert list(g) == list(g_ema)
    assert not all(torch.equal(g[k], g_ema[k]) for k in g)  # the fixture's G and G_ema differ on purpose


def test_rosinality_interface_gives_the_same_images(ada_dir):
    """What the latent engine calls (rosinality's generator API) renders NVIDIA's images."""
    net, desc = _load(ada_dir / FILES[0])
    z = _npy(ada_dir, "z.npy")
    assert (net.style_dim, net.n_latent, net.size, net.num_layers) == (64, 8, 32, 7)
    assert net.noise_shapes() == [(1, 1, 4, 4)] + [(1, 1, r, r) for r in (8, 8, 16, 16, 32, 32)]
    with torch.inference_mode():
        w = net.get_latent(z)
        wplus = w[:, None].repeat(1, net.n_latent, 1)
        stored = net.synthesis(wplus, net.stored_noise())
        zero = net.synthesis(wplus, [torch.zeros(s) for s in net.noise_shapes()])
        trunc, lat = net(z, truncation=0.7, truncation_latent=desc.extras["latent_avg"], randomize_noise=False,
                         return_latents=True)
        default_centre, _ = net(z, truncation=0.7, randomize_noise=False)
        random_a = net.synthesis(wplus, net.make_noise(4, torch.Generator().manual_seed(1)))
        random_b = net.synthesis(wplus, None)
    _assert_close(w, _npy(ada_dir, "w.npy")[:, 0], "get_latent")
    _assert_close(stored, _npy(ada_dir, "expected_psi1_const.npy"), "stored noise")
    _assert_close(zero, _npy(ada_dir, "expected_none.npy"), "zero noise")
    _assert_close(trunc, _npy(ada_dir, "expected_psi07_const.npy"), "truncation 0.7")
    _assert_close(lat, _npy(ada_dir, "w_psi07.npy"), "returned W+")
    assert torch.equal(default_centre, trunc)  # truncation_latent defaults to w_avg
    assert torch.equal(net.mean_latent(), desc.extras["latent_avg"])
    assert not torch.allclose(random_a, stored) and not torch.allclose(random_b, stored)
    rows = net.style_layers()
    assert [r for r, _ in rows] == list(range(7))
    assert rows[0][1] is net.synthesis.b4.conv1.affine.weight and rows[2][1] is net.synthesis.b8.conv1.affine.weight
    blocks = net.forward_blocks()
    assert len(blocks) == 11 and blocks[:3] == [net.synthesis.b4.conv1, net.synthesis.b4.torgb, net.synthesis.b8.conv0]


def test_projection_gradients_reach_the_latent():
    """The latent engine's projection optimises W+ through ``synthesis(wplus, stored noise)``."""
    g = tiny_ada_generator(fp16_resolutions=(16,), conv_clamp=1.0)
    g.requires_grad_(False)
    wplus = g.mean_latent()[:, None].repeat(1, g.n_latent, 1).requires_grad_(True)
    target = torch.zeros(1, 3, 16, 16)
    opt = torch.optim.Adam([wplus], lr=0.05)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(g.synthesis(wplus, g.stored_noise()), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert wplus.grad is not None and wplus.grad.abs().sum() > 0 and losses[-1] < losses[0]


def test_same_function_as_rosinality_generator_with_converted_weights(ada_dir):
    """SPEC §4: the weights map one to one onto rosinality's StyleGAN2; the W+ rows and noise maps line up, so
    both generators draw the same image from the same W+ and noise (a few ulp apart: different op order)."""
    ada = read_network_pickle(ada_dir / FILES[0])
    rosi = stylegan2.Generator(32, 64, 2, channels={4: 128, 8: 64, 16: 32, 32: 16}).eval()
    sd = rosi.state_dict()
    conv = {"b4.conv1": "conv1"}
    rgb = {"b4.torgb": "to_rgb1"}
    for j, r in enumerate((8, 16, 32)):
        conv[f"b{r}.conv0"], conv[f"b{r}.conv1"] = f"convs.{2 * j}", f"convs.{2 * j + 1}"
        rgb[f"b{r}.torgb"] = f"to_rgbs.{j}"
    for i in range(2):
        sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"] = ada[f"mapping.fc{i}.weight"], ada[f"mapping.fc{i}.bias"]
    sd["input.input"] = ada["synthesis.b4.const"][None]
    for noise, (a, r) in enumerate(conv.items()):
        sd[f"{r}.conv.weight"] = ada[f"synthesis.{a}.weight"][None]
        sd[f"{r}.conv.modulation.weight"] = ada[f"synthesis.{a}.affine.weight"]
        sd[f"{r}.conv.modulation.bias"] = ada[f"synthesis.{a}.affine.bias"]
        sd[f"{r}.noise.weight"] = ada[f"synthesis.{a}.noise_strength"].reshape(1)
        sd[f"{r}.activate.bias"] = ada[f"synthesis.{a}.bias"]
        sd[f"noises.noise_{noise}"] = ada[f"synthesis.{a}.noise_const"][None, None]
    for a, r in rgb.items():
        sd[f"{r}.conv.weight"] = ada[f"synthesis.{a}.weight"][None]
        sd[f"{r}.conv.modulation.weight"] = ada[f"synthesis.{a}.affine.weight"]
        sd[f"{r}.conv.modulation.bias"] = ada[f"synthesis.{a}.affine.bias"]
        sd[f"{r}.bias"] = ada[f"synthesis.{a}.bias"].reshape(1, 3, 1, 1)
    rosi.load_state_dict(sd)
    net, _ = _load(ada_dir / FILES[0])
    wplus = torch.randn(3, 8, 64, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        ours = net.synthesis(wplus, net.stored_noise())
        theirs = rosi.synthesis(wplus, rosi.stored_noise())
        z = _npy(ada_dir, "z.npy")
        _assert_close(net.get_latent(z), rosi.get_latent(z), "mapping")
    _assert_close(ours, theirs, "synthesis")


# ---------------------------------------------------------------------------------------------- safety
def _payload(marker, kind: str) -> bytes:
    """Opcodes that, unpickled the usual way, create ``marker`` (open) or run a shell command (system)."""
    def text(s: str) -> bytes:
        b = s.encode()
        return b"X" + len(b).to_bytes(4, "little") + b

    if kind == "open":
        return b"cbuiltins\nopen\n" + text(str(marker)) + text("w") + b"\x86R"
    return b"cos\nsystem\n" + text(f"touch {marker}") + b"\x85R"


def test_payload_is_live(tmp_path):
    """The planted payload really runs under Python's unpickler: the refusals below prove something."""
    marker = tmp_path / "RAN"
    pickle.loads(b"\x80\x04" + _payload(marker, "open") + b".").close()
    assert marker.exists()


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("kind,name", [("open", "builtins.open"), ("system", "os.system")])
@pytest.mark.parametrize("filename", FILES)
def test_payload_next_to_a_real_network_is_refused(ada_dir, tmp_path, where, kind, name, filename):
    data = (ada_dir / filename).read_bytes()
    marker = tmp_path / "PWNED"
    assert data[:2] in (b"\x80\x04", b"\x80\x03") and data.endswith(b".")
    if where == "before":  # run first, result dropped: the network after it still loads normally
        evil = data[:2] + _payload(marker, kind) + b"0" + data[2:]
    else:  # stored as one more snapshot entry next to G_ema
        evil = data[:-1] + b"X\x04\x00\x00\x00evil" + _payload(marker, kind) + b"s."
    ops = [op.name for op, _, _ in pickletools.genops(evil)]
    assert ops[-1] == "STOP" and ops.count("REDUCE") > 100  # a whole, valid pickle
    path = tmp_path / "network-snapshot-000100.pkl"
    path.write_bytes(evil)
    for load in (ganstudio.load_model, read_checkpoint):
        with pytest.raises(CheckpointError) as info:
            load(path)
        assert name in str(info.value) and path.name in str(info.value)
    assert not marker.exists()


def test_embedded_source_is_never_run(tmp_path):
    """module_src holding code that would create a file: the reader ignores it (NVIDIA's loader execs it)."""
    marker = tmp_path / "SOURCE_RAN"
    g = tiny_ada_generator()
    path = write_snapshot(tmp_path / "g.pkl", g, source=f"open({str(marker)!r}, 'w').close()\n")
    net, _ = ganstudio.load_model(path)
    assert not marker.exists()
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), g.state_dict().values()))


def _tf_era_pickle() -> bytes:
    """(G, D, Gs) of dnnlib.tflib.network.Network objects: how the original StyleGAN2 .pkl files are built."""
    net = b"cdnnlib.tflib.network\nNetwork\n)\x81}X\x04\x00\x00\x00nameX\x02\x00\x00\x00Gssb"
    return b"\x80\x02" + net + net + net + b"\x87."


def test_tf_era_pickle_says_not_supported_yet(tmp_path):
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(_tf_era_pickle())
    with pytest.raises(CheckpointError) as info:
        ganstudio.load_model(path)
    msg = str(info.value)
    assert "TensorFlow" in msg and "not support yet" in msg and "dnnlib.tflib.network.Network" in msg
    assert "convert_weight.py" in msg  # what to do instead


def _stylegan3(radial: bool) -> dict:
    """A StyleGAN3 snapshot's G_ema as its records look (networks_stylegan3.py): SynthesisInput and layers
    named L<i>_<size>_<channels>, with numpy-array attributes."""
    k = 1 if radial else 3
    fc = record("FullyConnectedLayer", {"weight": torch.randn(4, 8), "bias": torch.zeros(4)}, activation="linear",
                weight_gain=np.float64(1 / math.sqrt(8)), bias_gain=1)
    inp = record("SynthesisInput", {"weight": torch.randn(8, 8)},
                 {"transform": torch.eye(3), "freqs": torch.randn(8, 2), "phases": torch.rand(8)}, {"affine": fc},
                 w_dim=8, channels=8, size=np.array([36, 36]), sampling_rate=16, bandwidth=2)
    layer = record("SynthesisLayer", {"weight": torch.randn(8, 8, k, k), "bias": torch.zeros(8)},
                   {"magnitude_ema": torch.ones([]), "up_filter": torch.randn(12)}, {"affine": fc},
                   is_torgb=False, in_size=np.array([36, 36]), out_size=np.array([36, 36]), conv_kernel=k,
                   use_radial_filters=radial)
    syn = record("SynthesisNetwork", {}, {}, {"input": inp, "L0_36_8": layer}, w_dim=8, img_resolution=16,
                 num_ws=2)
    mapping = record("MappingNetwork", {}, {"w_avg": torch.zeros(8)}, {"fc0": fc}, z_dim=8, c_dim=0, w_dim=8,
                     num_ws=2, num_layers=1, w_avg_beta=0.998)
    g = record("Generator", {}, {}, {"synthesis": syn, "mapping": mapping}, z_dim=8, c_dim=0, w_dim=8,
               img_resolution=16, img_channels=3)
    return {"G": g, "D": None, "G_ema": g, "augment_pipe": None, "training_set_kwargs": None}


@pytest.mark.parametrize("radial,variant", [(False, "T"), (True, "R")])
def test_stylegan3_says_not_supported_yet(tmp_path, radial, variant):
    path = tmp_path / "stylegan3.pkl"
    path.write_bytes(dumps(_stylegan3(radial)))
    with pytest.raises(CheckpointError) as info:
        ganstudio.load_model(path)
    msg = str(info.value)
    assert f"StyleGAN3-{variant}" in msg and "not support yet" in msg and "stylegan3.pkl" in msg


def _with_g_ema(g_ema_record, **extra) -> bytes:
    snap = snapshot(tiny_ada_generator())
    snap["G_ema"] = g_ema_record
    snap.update(extra)
    return dumps(snap)


def _shared_storage_generator() -> dict:
    """Every parameter of one layer claims the whole of one memoised storage: the tensors would need more
    bytes than the file holds."""
    rec = module_record(tiny_ada_generator())
    storage = torch.zeros(50_000)._typed_storage()
    rebuild = Named("torch._utils", "_rebuild_tensor_v2")
    layer = rec.state["_modules"]["synthesis"].state["_modules"]["b4"].state["_modules"]["conv1"]
    layer.state["_parameters"] = {f"p{i}": Call(rebuild, (storage, 0, (50_000,), (1,), False, {}))
                                  for i in range(40)}
    return rec


def _tensor_past_its_storage() -> dict:
    rec = module_record(tiny_ada_generator())
    layer = rec.state["_modules"]["synthesis"].state["_modules"]["b4"].state["_modules"]["conv1"]
    layer.state["_parameters"]["bias"] = Call(Named("torch._utils", "_rebuild_tensor_v2"),
                                              (torch.zeros(4)._typed_storage(), 0, (1 << 30,), (1,), False, {}))
    return rec


@pytest.mark.parametrize("case,words", [
    ("truncated", "truncated"),
    ("version", "version 7"),
    ("unknown class", "MyFancyBlock"),
    ("no G_ema", "no G_ema"),
    ("past storage", "reaches past its storage"),
    ("shared storage", "the file has only"),
    ("storage type", "os.system"),
])
def test_damaged_or_hostile_pickles_are_refused_with_a_sentence(tmp_path, case, words):
    good = dumps(snapshot(tiny_ada_generator()))
    if case == "truncated":
        data = good[: len(good) // 2]
    elif case == "version":
        rec = module_record(tiny_ada_generator())
        rec.version = 7
        data = _with_g_ema(rec)
    elif case == "unknown class":
        rec = module_record(tiny_ada_generator())
        rec.state["_modules"]["synthesis"].state["_modules"]["b8"].class_name = "MyFancyBlock"
        data = _with_g_ema(rec)
    elif case == "no G_ema":
        snap = snapshot(tiny_ada_generator())
        del snap["G_ema"]
        data = dumps(snap)
    elif case == "past storage":
        data = _with_g_ema(_tensor_past_its_storage())
    elif case == "shared storage":
        data = _with_g_ema(_shared_storage_generator())
    else:  # a storage blob whose inner pickle names something outside its allow-list
        buf = io.BytesIO()
        torch.save(torch.zeros(4)._typed_storage(), buf, _use_new_zipfile_serialization=False)
        blob = buf.getvalue()
        assert blob.count(b"ctorch\nFloatStorage\n") == 1
        blob = blob.replace(b"ctorch\nFloatStorage\n", b"cos\nsystem\n")
        rec = module_record(tiny_ada_generator())
        layer = rec.state["_modules"]["synthesis"].state["_modules"]["b4"].state["_modules"]["conv1"]
        storage = Call(Named("torch.storage", "_load_from_bytes"), (blob,))
        layer.state["_parameters"]["bias"] = Call(Named("torch._utils", "_rebuild_tensor_v2"),
                                                  (storage, 0, (4,), (1,), False, {}))
        data = _with_g_ema(rec)
    path = tmp_path / "net.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        ganstudio.load_model(path)
    assert words in str(info.value) and "net.pkl" in str(info.value)


def test_opcode_budget_bounds_the_work(tmp_path, monkeypatch):
    path = tmp_path / "many-ops.pkl"
    path.write_bytes(dumps(snapshot(tiny_ada_generator())))
    ganstudio.load_model(path)  # fine with the real budget
    monkeypatch.setattr(nvlabs_pickle, "MAX_OPS", 1000)
    with pytest.raises(CheckpointError, match="more than 1000 pickle opcodes"):
        ganstudio.load_model(path)


# ---------------------------------------------------------------------------------------------- features
def _mapping_reference(sd: dict, z: torch.Tensor, c: torch.Tensor, layers: int) -> torch.Tensor:
    """SPEC §3.2 written out in float64, independently of the module code."""
    def norm(v):
        return v * (v.square().mean(1, keepdim=True) + 1e-8).rsqrt()

    z, c = z.double(), c.double()
    we, be = sd["mapping.embed.weight"].double(), sd["mapping.embed.bias"].double()
    e = c @ (we / math.sqrt(we.shape[1])).t() + be
    x = torch.cat([norm(z), norm(e)], 1)
    for i in range(layers):
        w, b = sd[f"mapping.fc{i}.weight"].double(), sd[f"mapping.fc{i}.bias"].double()
        x = torch.nn.functional.leaky_relu(x @ (w * 0.01 / math.sqrt(w.shape[1])).t() + b * 0.01, 0.2) * math.sqrt(2)
    return x


@pytest.mark.parametrize("protocol", [3, 4])
def test_conditional_fp16_clamped_generator_round_trip(tmp_path, protocol):
    g = tiny_ada_generator(c_dim=5, fp16_resolutions=(8, 16), conv_clamp=0.05)
    path = write_snapshot(tmp_path / "cond.pkl", g, protocol=protocol)
    net, desc = ganstudio.load_model(path)
    hp = desc.hparams
    assert (hp["c_dim"], hp["conv_clamp"], hp["fp16_resolutions"], hp["embed_features"]) == (5, 0.05, [8, 16], 16)
    assert net.synthesis.b16.use_fp16 and not net.synthesis.b4.use_fp16
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        w = net.get_latent(z, [0, 3, 4])
        _assert_close(w.double(), _mapping_reference(net.state_dict(), z, torch.eye(5)[[0, 3, 4]], 2), "embed")
        assert torch.equal(w, net.get_latent(z, torch.eye(5)[[0, 3, 4]]))  # one-hot rows == class indices
        assert not torch.allclose(net.get_latent(z, 1), net.get_latent(z, 2))
        assert torch.equal(net.sample(z, 2, noise_mode="const"), g.sample(z, 2, noise_mode="const"))
    with pytest.raises(InputError, match="class-conditional"):
        net.get_latent(z)
    with pytest.raises(InputError, match="classes 0-4"):
        net.get_latent(z, 7)


def test_fp16_blocks_run_in_float16_only_when_asked_on_the_cpu():
    g = tiny_ada_generator(fp16_resolutions=(8, 16))
    seen = {}
    g.synthesis.b16.conv1.register_forward_hook(lambda m, i, o: seen.__setitem__("dtype", o.dtype))
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        auto = g.sample(z, noise_mode="const")
        assert seen["dtype"] == torch.float32
        fp32 = g.sample(z, noise_mode="const", force_fp32=True)
        half = g.sample(z, noise_mode="const", force_fp32=False)  # NVIDIA's CPU behaviour
        assert seen["dtype"] == torch.float16
        half_one = g.sample(z[:1], noise_mode="const", force_fp32=False)  # batch 1: the fused path
    assert torch.equal(auto, fp32) and half.dtype == torch.float32
    scale = fp32.abs().max().item()
    for other in (half, torch.cat([half_one, half[1:]])):
        diff = (other - fp32).abs().max().item()
        assert 0 < diff < 2e-2 * scale  # rounding, not another function
    assert not torch.equal(half_one, half[:1])  # fused and scaled paths round differently, as upstream


def test_conv_clamp_engages():
    g = tiny_ada_generator(conv_clamp=0.05)
    free = tiny_ada_generator(conv_clamp=None)
    outs = {}
    for name, net in (("clamped", g), ("free", free)):
        net.synthesis.b8.conv1.register_forward_hook(lambda m, i, o, name=name: outs.__setitem__(name, o))
        net.synthesis.b8.torgb.register_forward_hook(lambda m, i, o, name=name: outs.__setitem__(name + "rgb", o))
        with torch.inference_mode():
            net.sample(torch.randn(2, 16, generator=torch.Generator().manual_seed(0)), noise_mode="none")
    assert outs["clamped"].abs().max() <= 0.05 and outs["clampedrgb"].abs().max() <= 0.05
    assert outs["free"].abs().max() > 0.05 and outs["freergb"].abs().max() > 0.05  # it really cut something


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
def test_other_architectures_round_trip(tmp_path, architecture):
    g = tiny_ada_generator(architecture=architecture)
    net, desc = ganstudio.load_model(write_snapshot(tmp_path / "a.pkl", g))
    assert desc.hparams["architecture"] == architecture
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(net.sample(z, noise_mode="const"), g.sample(z, noise_mode="const"))


def test_truncation_cutoff_only_moves_the_first_rows():
    g = tiny_ada_generator()
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        full, cut = g.mapping(z, None, 1.0), g.mapping(z, None, 0.5, truncation_cutoff=3)
    assert torch.equal(cut[:, 3:], full[:, 3:])
    assert torch.allclose(cut[:, :3], g.w_avg + 0.5 * (full[:, :3] - g.w_avg), atol=1e-6)


def test_library_files_a_pkl_under_latent(tmp_path):
    from ganstudio.checkpoints.library_jobs import describe_checkpoint

    info = describe_checkpoint(write_snapshot(tmp_path / "net.pkl", tiny_ada_generator(c_dim=3)))
    assert info["arch"] == "stylegan2_ada" and info["task"] == "latent"
    assert info["arch_kwargs"]["c_dim"] == 3 and info["arch_kwargs"]["fp16_resolutions"] == []


def test_manifest_lists_the_official_pickles():
    from ganstudio.core import manifest

    entries = {e.id: e for e in manifest.load_manifest() if e.arch == "stylegan2_ada"}
    base = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"
    for name in ("ffhq", "metfaces", "afhqcat", "afhqdog", "afhqwild", "cifar10"):
        e = entries[f"stylegan2_ada_{name}.nvlabs"]
        assert e.url == f"{base}{name}.pkl" and e.task == "latent" and e.file.endswith(f"{name}.pkl")
        assert "NVIDIA Source Code License-NC" in e.license and e.sha256 == ""
    assert entries["stylegan2_ada_cifar10.nvlabs"].arch_kwargs["c_dim"] == 10


def test_mutated_pickles_load_or_are_refused_with_a_sentence(tmp_path):
    """Fuzz: damaged copies of a pickle (opcode bytes changed, cut out or inserted; files cut short) either
    load or raise CheckpointError: never another exception."""
    import random

    good = dumps(snapshot(tiny_ada_generator(c_dim=2, fp16_resolutions=(16,), conv_clamp=1.0)), protocol=3)
    starts = [p for _, _, p in pickletools.genops(good)]
    rng = random.Random(16)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(150):
        d = bytearray(good)
        for _ in range(rng.choice([1, 1, 2, 3])):
            pos = min(rng.choice(starts) + rng.randrange(6), len(d) - 1)
            r = rng.random()
            if r < 0.55:
                d[pos] = rng.randrange(256)
            elif r < 0.75:
                del d[pos:pos + rng.randrange(1, 8)]
            elif r < 0.95:
                d[pos:pos] = bytes([rng.choice(b"()}]012abdeghjlpqrstuKJMNRQXCBG\x80\x81\x85\x86\x87\x8c\x94\x93.")])
            else:
                del d[pos:]
        path = tmp_path / f"m{i}.pkl"
        path.write_bytes(bytes(d))
        try:
            ganstudio.load_model(path)
            outcomes["loaded"] += 1
        except CheckpointError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100  # the mutations really broke most files
