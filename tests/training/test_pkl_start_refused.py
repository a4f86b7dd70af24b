"""`ganstudio train stylegan2 --from X.pkl`: fine-tuning a StyleGAN2-ADA network pickle is not supported yet,
and the trainer says so in one line (exit 2) before reading the data or creating the run folder."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from nvlabs_pickles import tiny_ada_generator, write_snapshot

from ganstudio.cli import main

sys.path.insert(0, str(Path(__file__).parent))
import train_data as td  # noqa: E402


@pytest.mark.parametrize("how", ["file", "renamed file", "library id"])
def test_a_pickle_as_the_start_model_is_refused_in_one_line(tmp_path, capsys, monkeypatch, how):
    from model_home import isolated_model_home

    isolated_model_home(tmp_path, monkeypatch)
    data = td.smooth_images(tmp_path / "data", n=8, size=24)
    name = "start.bin" if how == "renamed file" else "start.pkl"  # found by its content, whatever its name
    pkl = write_snapshot(tmp_path / name, tiny_ada_generator(0))
    start = pkl
    if how == "library id":
        from ganstudio.core.manifest import ModelEntry, add_library_entry

        start = add_library_entry(ModelEntry(id="my_ada", task="latent", arch="stylegan2_ada", file=pkl)).id
    run = tmp_path / "run"
    code = main(["train", "stylegan2", "--data", str(data), "--from", start, "--size", "16", "--steps", "1",
                 "--device", "cpu", "-o", str(run)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:") or "Traceback" in ln]
    assert code == 2 and len(err) == 1, err
    assert "fine-tuning StyleGAN2-ADA .pkl generators is not supported yet" in err[0]
    assert "discriminator is not rebuilt" in err[0]
    assert not run.exists()
