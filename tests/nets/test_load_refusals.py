"""ganstudio.load_model refuses NVlabs StyleGAN pickles with an explanation, and never runs their code.

The files are crafted by hand: pickle opcodes that name the NVlabs classes through GLOBAL, the way the official
TensorFlow StyleGAN/StyleGAN2 ``.pkl`` files (tuples of ``dnnlib.tflib.network.Network``) and the PyTorch
stylegan2-ada / stylegan3 ones (``torch_utils.persistence``) do. A stand-in for the named modules is placed in
``sys.modules`` and records any use, so the test also proves nothing in the file was imported or called.
"""
from __future__ import annotations

import pickletools
import sys
import types

import pytest

import ganstudio
from ganstudio.checkpoints.reader import CheckpointError


def _nvlabs_tf_pickle() -> bytes:
    """(G, D, Gs) of ``dnnlib.tflib.network.Network`` objects, each rebuilt with NEWOBJ and a state dict."""
    net = (b"cdnnlib.tflib.network\nNetwork\n"  # GLOBAL 'dnnlib.tflib.network Network'
           b")\x81"                               # EMPTY_TUPLE, NEWOBJ
           b"}X\x04\x00\x00\x00nameX\x02\x00\x00\x00Gs"  # EMPTY_DICT, 'name', 'Gs', SETITEM, BUILD
           b"sb")
    return b"\x80\x02" + net + net + net + b"\x87."  # PROTO 2, three objects, TUPLE3, STOP


def _stylegan2_ada_pickle() -> bytes:
    """A stylegan2-ada-pytorch pickle: dict of persistent objects rebuilt by torch_utils.persistence."""
    return (b"\x80\x03}X\x04\x00\x00\x00G_ema"
            b"ctorch_utils.persistence\n_reconstruct_persistent_obj\n}X\x04\x00\x00\x00meta}s\x85R"
            b"s.")


@pytest.fixture
def tripwire(monkeypatch):
    """Stand-ins for the NVlabs modules that record every class use / call."""
    calls: list[str] = []

    class Network:
        def __new__(cls, *a, **k):
            calls.append("Network.__new__")
            return object.__new__(cls)

        def __setstate__(self, state):
            calls.append("Network.__setstate__")

    def _reconstruct_persistent_obj(meta):
        calls.append("_reconstruct_persistent_obj")

    mods = {}
    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network", "torch_utils", "torch_utils.persistence"):
        mods[name] = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, mods[name])
    mods["dnnlib.tflib.network"].Network = Network
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    return calls


def test_crafted_pickles_are_what_they_claim():
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(_nvlabs_tf_pickle())]
    assert ops.count(("GLOBAL", "dnnlib.tflib.network Network")) == 3
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(_stylegan2_ada_pickle())]
    assert ("GLOBAL", "torch_utils.persistence _reconstruct_persistent_obj") in ops


def test_tripwire_works(tripwire):
    import pickle

    pickle.loads(_nvlabs_tf_pickle())  # what an unsafe loader would do: the stand-ins notice
    assert "Network.__setstate__" in tripwire


@pytest.mark.parametrize("filename", ["karras2019stylegan-ffhq-1024x1024.pkl", "stylegan2-ffhq-config-f.pkl",
                                      "renamed-to-look-safe.pth"])
def test_nvlabs_tf_pickle_is_refused_with_the_reason(tmp_path, tripwire, filename):
    path = tmp_path / filename
    path.write_bytes(_nvlabs_tf_pickle())
    with pytest.raises(CheckpointError) as info:
        ganstudio.load_model(path)
    msg = str(info.value)
    assert filename in msg and "refused" in msg
    assert "NVlabs StyleGAN pickle" in msg and "dnnlib.tflib.network.Network" in msg
    assert "runs the Python code" in msg and "convert_weight.py" in msg  # why, and what to do instead
    assert tripwire == []  # nothing in the file was imported or run


def test_nvlabs_pickle_refused_even_when_a_family_is_asked_for(tmp_path, tripwire):
    path = tmp_path / "network-snapshot-025000.pkl"
    path.write_bytes(_stylegan2_ada_pickle())
    with pytest.raises(CheckpointError, match=r"NVlabs StyleGAN pickle.*torch_utils\.persistence"):
        ganstudio.load_model(path, family="stylegan2")
    assert tripwire == []
