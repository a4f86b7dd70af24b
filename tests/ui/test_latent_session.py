"""The Latent tab's session (its state and rules) in plain Python: no Qt, no torch, no worker."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_home import isolated_model_home

from ganstudio.core.errors import InputError
from ganstudio.ui.latent import session as S

INFO = {"family": "stylegan2", "sha256": "a" * 64, "path": "/m/a.pt", "z_dim": 4, "w_dim": 4, "n_latent": 6,
        "resolution": 32, "hparams": {}, "runtime": {"device": "cpu", "precision": "fp32"}}


def _dirs(names, sha="a" * 64, space="w", source="sefa"):
    k = len(names)
    return {"names": names, "vectors": np.eye(k, 4, dtype=np.float32), "space": space, "model_sha256": sha,
            "source": source, "layers": [[0, -1]] * k, "scales": np.ones(k, np.float32)}


def test_the_session_loads_neither_qt_nor_torch():
    code = ("import sys; import ganstudio.ui.latent.session; "
            "print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_job_carries_the_runtime_read_when_it_is_built():
    rt = {"device": "cuda:1", "precision": "bf16"}
    s = S.LatentSession(lambda: dict(rt))
    s.accept_model("/m/a.pt", INFO)
    assert s.grid_job()["device"] == "cuda:1" and s.grid_job()["precision"] == "bf16"
    rt["precision"] = "fp32"  # Settings changed: the next job follows
    s.set_base({"seeds": [3]})
    assert s.edit_job()["precision"] == "fp32" and s.describe_job("x")["device"] == "cuda:1"
    s.set_picked([1, 2])
    assert s.interpolation_job(4, True, "w")["device"] == "cuda:1"


def test_a_recipe_is_applied_only_to_its_own_model_and_never_loads_one(tmp_path):
    s = S.LatentSession()
    s.accept_model("/m/a.pt", INFO)
    model = tmp_path / "b.pt"
    model.write_bytes(b"x")
    mine = {"model": "/m/a.pt", "model_sha256": "a" * 64}
    assert s.recipe_decision(mine, "x.png").kind == "apply"
    other = {"model": str(model), "model_sha256": "b" * 64}
    d = s.recipe_decision(other, "x.png")
    assert d.kind == "ask" and d.model == str(model) and d.message == f"x.png was made with b.pt ({model}). Load it?"
    gone = s.recipe_decision({"model": str(tmp_path / "gone.pt"), "model_sha256": "c" * 64}, "x.png")
    assert gone.kind == "missing" and "gone.pt is missing" in gone.message
    assert s.model == "/m/a.pt"  # deciding changes nothing


def test_direction_names_read_like_words():
    assert S.direction_label("sefa_0")[0] == "SeFa 1"
    assert S.direction_label("pca_4")[0] == "PCA 5"
    assert S.direction_label("sefa_1_2")[0] == "SeFa 2 (2)"
    text, tip = S.direction_label("smile", "supervised", "Fitted to 3 yes and 2 no tiles")
    assert text == "smile" and "yes / no" in tip and "3 yes and 2 no" in tip


def test_directions_are_tied_to_the_model_and_renamed_when_taken():
    s = S.LatentSession()
    s.accept_model("/m/a.pt", INFO)
    assert s.add_directions(_dirs(["sefa_0", "sefa_1"])) == ["sefa_0", "sefa_1"]
    assert s.add_directions(_dirs(["sefa_0"])) == ["sefa_0_2"]
    assert s.layers == [[0, 6]] * 3  # -1 ("to the end") is the model's W+ row count
    with pytest.raises(InputError, match="another model"):
        s.add_directions(_dirs(["x"], sha="b" * 64))
    s.strengths[1] = 2.0
    assert [e["name"] for e in s.edits()] == ["sefa_1"]
    s.accept_model("/m/b.pt", {**INFO, "sha256": "b" * 64})  # another network: its directions are gone
    assert s.names() == [] and s.edits() == [] and s.base is None


def test_supervised_needs_both_labels_and_conditions_on_fixed_directions():
    s = S.LatentSession()
    s.accept_model("/m/a.pt", INFO)
    s.label(3, True)
    with pytest.raises(InputError, match="step 1"):
        s.supervised_job("smile")
    s.label(5, False)
    s.label(6, False)
    s.label(6, None)
    s.add_directions(_dirs(["sefa_0", "sefa_1"]))
    s.fixed[1] = True
    kw = s.supervised_job(" smile ")
    assert kw["yes"] == [3] and kw["no"] == [5] and kw["name"] == "smile"
    assert np.allclose(kw["condition_on"], [np.eye(2, 4)[1]])


def test_model_list_is_data_driven_and_a_fresh_profile_picks_the_first_present(tmp_path, monkeypatch):
    isolated_model_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    (models / "latent").mkdir()
    (models / "latent" / "fashion.pt").write_bytes(b"x")
    entries = [{"id": "faces", "task": "latent", "arch": "stylegan2", "file": "latent/faces.pt"},
               {"id": "fashion", "task": "latent", "arch": "stylegan2", "file": "latent/fashion.pt"},
               {"id": "style_monet", "task": "stylize", "arch": "cyclegan", "file": "x.pth"}]
    (models / "manifest" / "latent.json").write_text(json.dumps({"models": entries}))
    choices = S.model_choices()
    assert [(c.ref, c.present) for c in choices] == [("faces", False), ("fashion", True)]
    assert choices[0].label == "faces  (not on this machine)" and "import it" in choices[0].tooltip
    assert S.first_present(choices) == "fashion"
    (models / "manifest" / "latent.json").write_text("{ broken")
    assert S.model_choices() == []  # a broken manifest lists nothing; the tab still opens
