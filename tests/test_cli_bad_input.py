"""Bad input through the headless CLI: a clear one-line error naming the file, a non-zero exit code, the rest of a
batch finished, and the user's originals (images, checkpoints) never overwritten."""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from model_home import isolated_model_home
from PIL import Image
from tiny_models import tiny_cyclegan_file, tiny_srvgg_file, tiny_stylegan2_file

from ganstudio.cli import main


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_hashes(folder) -> dict:
    return {p: _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def _fresh_caches():
    from ganstudio.checkpoints import cache as model_cache

    model_cache.clear_cache()  # the one model cache (the latent engine keeps none of its own)
    yield
    model_cache.clear_cache()


@pytest.fixture
def photos(tmp_path):
    """A folder with spaces and non-ASCII in its name holding good, odd and broken images."""
    src = tmp_path / "Fotos Ü 写真"
    src.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(src / "gut ö.png")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    (src / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (src / "text.jpg").write_text("not a JPEG at all\n")
    Image.fromarray(rng.integers(0, 65535, (12, 16), dtype=np.uint16)).save(src / "grey16.png")
    Image.fromarray(rgb).convert("CMYK").save(src / "cmyk.jpg")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=8).save(src / "palette.png", transparency=0)
    Image.fromarray(np.dstack([rgb, rgb[:, :, 0]]), "RGBA").save(src / "rgba.png")
    return src


GOOD = ["gut ö", "grey16", "cmyk", "palette", "rgba"]
BAD = ["text.jpg", "truncated.png"]


def _err_lines(capsys):
    cap = capsys.readouterr()
    return cap.out, [ln for ln in cap.err.replace("\r", "\n").splitlines() if ln.startswith(("error", "  failed"))]


# ------------------------------------------------------------------------------------------------ upscale
def test_upscale_batch_goes_on_past_bad_files(tmp_path, photos, capsys):
    model = tiny_srvgg_file(tmp_path / "sr.pth")
    before = _tree_hashes(photos)
    out = tmp_path / "Ausgabe ü"
    rc = main(["upscale", str(photos), "-o", str(out), "-m", str(model), "--device", "cpu"])
    assert rc == 1
    assert sorted(p.stem for p in out.iterdir()) == sorted(GOOD)
    _, errs = _err_lines(capsys)
    failed = [ln for ln in errs if ln.startswith("  failed")]
    assert len(failed) == 2 and all(any(b in ln for b in BAD) for ln in failed)
    for ln in failed:  # the file is named once, not "path: path: reason"
        name = next(b for b in BAD if b in ln)
        assert ln.count(name) == 1, ln
    assert _tree_hashes(photos) == before


def test_upscale_refuses_output_equal_to_input(tmp_path, photos, capsys):
    model = tiny_srvgg_file(tmp_path / "sr.pth")
    src = photos / "gut ö.png"
    before = _sha(src)
    for extra in ([], ["--overwrite"]):  # before: rc 0 "skipped ... already exists" without --overwrite
        rc = main(["upscale", str(src), "-o", str(src), "-m", str(model), "--device", "cpu", *extra])
        assert rc == 2
        _, errs = _err_lines(capsys)
        assert len(errs) == 1 and "gut ö.png" in errs[0] and "input" in errs[0]
    # the output folder is the input folder: said so (before: "no images found in the inputs")
    assert main(["upscale", str(photos), "-o", str(photos), "-m", str(model), "--device", "cpu"]) == 2
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and "is the input folder" in errs[0]
    assert _sha(src) == before


def test_upscale_output_folder_above_the_input_still_finds_it(tmp_path, photos):
    """-o ~/Pictures for ~/Pictures/trip: the output folder holds the input, which must not hide it."""
    model = tiny_srvgg_file(tmp_path / "sr.pth")
    assert main(["upscale", str(photos), "-o", str(tmp_path), "-m", str(model), "--device", "cpu"]) == 1
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(["gut ö", "grey16", "palette", "rgba"])


def test_upscale_unwritable_output_is_one_clear_error(tmp_path, photos, capsys):
    model = tiny_srvgg_file(tmp_path / "sr.pth")
    blocker = tmp_path / "file.txt"  # root ignores chmod: a folder under a file cannot be created either
    blocker.write_text("x")
    for inputs, out in (([str(photos)], blocker / "out"), ([str(photos / "gut ö.png")], blocker / "out" / "x.png")):
        rc = main(["upscale", *inputs, "-o", str(out), "-m", str(model), "--device", "cpu"])  # before: traceback
        assert rc == 2
        _, errs = _err_lines(capsys)
        assert len(errs) == 1 and "file.txt" in errs[0]
        assert "cannot write" in errs[0] or "cannot create the output folder" in errs[0], errs


# ------------------------------------------------------------------------------------------------ stylize
def test_stylize_bad_outputs_and_wrong_family(tmp_path, photos, capsys):
    model = tiny_cyclegan_file(tmp_path / "latest_net_G.pth")
    src = photos / "gut ö.png"
    before = _tree_hashes(photos)
    assert main(["stylize", str(src), "-o", str(src), "-m", model, "--device", "cpu", "--overwrite"]) == 2
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and "gut ö.png" in errs[0]  # before: "the output would overwrite the input"
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    # a folder: one error, not one per file (before: every file failed with "[Errno 20] Not a directory")
    assert main(["stylize", str(photos), "-o", str(blocker / "out"), "-m", model, "--device", "cpu"]) == 2
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and errs[0].startswith("error: cannot") and "file.txt is a file" in errs[0]
    sg2 = tiny_stylegan2_file(tmp_path / "sg2.pt")
    assert main(["stylize", str(src), "-o", str(tmp_path / "o"), "-m", sg2, "--device", "cpu"]) == 2
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and "sg2.pt" in errs[0] and "stylegan2" in errs[0]  # before: the file was not named
    assert _tree_hashes(photos) == before


# ------------------------------------------------------------------------------------------------ latent
@pytest.mark.parametrize("cmd", [["sample", "--seeds", "1"], ["interpolate", "--seeds", "1,2", "--steps", "1"],
                                 ["edit", "--seed", "1", "-d", "sefa_0=1"]])
def test_latent_never_writes_over_the_model_or_a_file(tmp_path, cmd, capsys):
    model = tmp_path / "sg2.pt"
    tiny_stylegan2_file(model)
    before = _sha(model)
    other = tmp_path / "photo.jpg"  # a user's file that is not a folder nor a .png
    other.write_bytes(b"\xff\xd8 my photo")
    other_sha = _sha(other)
    # before: edit wrote a PNG over the checkpoint (rc 0); sample / interpolate raised FileExistsError
    for out in (model, other):
        assert main([cmd[0], "-m", str(model), *cmd[1:], "-o", str(out)]) == 2
        _, errs = _err_lines(capsys)
        assert len(errs) == 1 and out.name in errs[0]
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main([cmd[0], "-m", str(model), *cmd[1:], "-o", str(blocker / "out" / "x.png")]) == 2  # was a traceback
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and "cannot write" in errs[0]
    assert _sha(model) == before and _sha(other) == other_sha


def test_latent_messages_for_bad_checkpoints_and_seeds(tmp_path, capsys):
    model = tmp_path / "sg2.pt"
    tiny_stylegan2_file(model)
    data = model.read_bytes()
    trunc = tmp_path / "cut.pt"
    trunc.write_bytes(data[: len(data) // 2])
    assert main(["sample", "-m", str(trunc), "--seeds", "1", "-o", str(tmp_path / "o")]) == 2
    _, errs = _err_lines(capsys)
    # before: "cut.pt: cut.pt is truncated ...; the latent tools need a StyleGAN2 or DCGAN generator"
    assert len(errs) == 1 and errs[0].count("cut.pt") == 1 and "truncated" in errs[0]
    assert "latent tools need" not in errs[0]
    assert main(["sample", "-m", str(model), "--seeds", "a-b", "-o", str(tmp_path / "o")]) == 2
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and "'a-b'" in errs[0]  # before: "invalid literal for int() with base 10: 'a'"
    assert main(["sample", "-m", str(model), "--latent", str(tmp_path / "nope.npy"), "-o", str(tmp_path / "o")]) == 2
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and "nope.npy" in errs[0] and "sg2.pt" not in errs[0]


# ----------------------------------------------------------------------------- manifest checksum (stylize, latent)
def _manifest_home(tmp_path, monkeypatch, task, arch, make, file_name):
    isolated_model_home(tmp_path, monkeypatch)
    path = tmp_path / "models" / file_name
    make(path)
    good = _sha(path)
    entry = {"id": "tiny_" + task, "task": task, "arch": arch, "file": file_name, "sha256": good}
    (tmp_path / "models" / "manifest" / f"{task}.json").write_text(json.dumps({"models": [entry]}))
    return path, good


def _damage(path):
    """Change the weights but keep a loadable checkpoint (what a wrong or half-replaced download looks like)."""
    import torch

    obj = torch.load(path, weights_only=True)
    sd = obj["g_ema"] if "g_ema" in obj else obj
    k = next(k for k, v in sd.items() if v.is_floating_point())
    sd[k] = sd[k] + 1
    torch.save(obj, path)


def test_stylize_checks_the_manifest_checksum(tmp_path, monkeypatch, photos, capsys):
    path, _ = _manifest_home(tmp_path, monkeypatch, "stylize", "cyclegan", tiny_cyclegan_file, "tiny_cyc.pth")
    src = photos / "gut ö.png"
    assert main(["stylize", str(src), "-o", str(tmp_path / "ok.png"), "-m", "tiny_stylize", "--device", "cpu"]) == 0
    _damage(path)
    from ganstudio.checkpoints import cache as model_cache

    model_cache.get_model(str(path), family="cyclegan")  # cached by path first: the id must still be checked
    rc = main(["stylize", str(src), "-o", str(tmp_path / "bad.png"), "-m", "tiny_stylize", "--device", "cpu"])
    assert rc == 2  # before: the damaged file was used (rc 0)
    _, errs = _err_lines(capsys)
    assert len(errs) == 1 and "checksum" in errs[0] and "tiny_cyc.pth" in errs[0]
    assert not (tmp_path / "bad.png").exists()


def test_latent_checks_the_manifest_checksum(tmp_path, monkeypatch, capsys):
    path, _ = _manifest_home(tmp_path, monkeypatch, "latent", "stylegan2", tiny_stylegan2_file, "tiny_sg2.pt")
    assert main(["sample", "-m", "tiny_latent", "--seeds", "1", "-o", str(tmp_path / "ok.png")]) == 0
    _damage(path)
    from ganstudio.engines import latent

    latent.open_model(str(path))  # opened by path first: the id must still be checked
    for cmd in (["sample", "--seeds", "1"], ["interpolate", "--seeds", "1,2", "--steps", "1"]):
        rc = main([cmd[0], "-m", "tiny_latent", *cmd[1:], "-o", str(tmp_path / "bad.png")])
        assert rc == 2  # before: the damaged file was used (rc 0)
        _, errs = _err_lines(capsys)
        assert len(errs) == 1 and "checksum" in errs[0] and "tiny_sg2.pt" in errs[0]
    assert not (tmp_path / "bad.png").exists()


# ------------------------------------------------------------------------------------------------ models
def test_models_import_of_a_folder_says_so(tmp_path, monkeypatch, capsys):
    isolated_model_home(tmp_path, monkeypatch)
    folder = tmp_path / "Modelle ü"
    folder.mkdir()
    assert main(["models", "import", str(folder)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is a folder" in err and "Modelle ü" in err  # before: "no such file"


def test_stylize_names_outputs_by_the_whole_library_id(tmp_path, monkeypatch, photos, capsys):
    """Two imported models (ids user.a / user.b) must not share output names: before, both wrote
    gut ö_user.png, so the second run overwrote the first one's result."""
    isolated_model_home(tmp_path, monkeypatch)
    out = tmp_path / "out"
    for seed, mid in ((0, "user.a"), (1, "user.b")):
        f = tiny_cyclegan_file(tmp_path / f"g{seed}.pth", seed=seed)
        assert main(["models", "import", f, "--id", mid]) == 0
        assert main(["stylize", str(photos / "gut ö.png"), "-o", str(out), "-m", mid, "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["gut ö_user.a.png", "gut ö_user.b.png"]


def _read_only_fs(monkeypatch):
    """Every new file fails as on a read-only file system (root ignores chmod; a bind mount needs privileges)."""
    import errno
    import os
    import types

    from ganstudio.core import files, imageio

    def refuse(path, *a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(imageio, "tempfile", types.SimpleNamespace(
        mkstemp=lambda dir=None, **k: refuse(dir)))
    proxy = types.SimpleNamespace(**{n: getattr(os, n) for n in dir(os) if not n.startswith("__")})
    proxy.open = refuse
    monkeypatch.setattr(files, "os", proxy)


def test_read_only_output_is_named_once(tmp_path, photos, monkeypatch, capsys):
    sr = tiny_srvgg_file(tmp_path / "sr.pth")
    cyc = tiny_cyclegan_file(tmp_path / "cyc.pth")
    sg2 = tiny_stylegan2_file(tmp_path / "sg2.pt")
    _read_only_fs(monkeypatch)
    src = str(photos / "gut ö.png")
    out = tmp_path / "out"
    for argv, name in ((["upscale", src, "-o", str(out / "u.png"), "-m", str(sr), "--device", "cpu"], "u.png"),
                       (["stylize", src, "-o", str(out / "s.png"), "-m", cyc, "--device", "cpu"], "s.png"),
                       (["sample", "-m", sg2, "--seeds", "1", "-o", str(out / "l.png")], "l.png"),
                       (["edit", "-m", sg2, "--seed", "1", "-d", "sefa_0=1", "-o", str(out / "e.png")], "e.png")):
        assert main(argv) == 2, argv
        _, errs = _err_lines(capsys)
        # before: "cannot write X: cannot write X: ..." (upscale, stylize); the latent tools named a hidden .part file
        assert len(errs) == 1 and errs[0].count("cannot write") == 1 and errs[0].count(name) == 1, errs
        assert ".part" not in errs[0] and "read-only" in errs[0].lower(), errs
    assert not any(out.iterdir())
