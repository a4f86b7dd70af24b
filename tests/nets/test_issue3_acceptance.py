"""Issue 3 acceptance audit: every official layout and parity fixture in ../shared/parity is referenced by a test,
and ganstudio.load_model recognises each fixture's family through its real checkpoint container.

The audit reads the test sources (it does not trust names of tests): a new keys_full*.json or fixture*.pt dropped
into ../shared/parity makes it fail until some test in tests/nets uses it.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

import ganstudio
from ganstudio.checkpoints.reader import CheckpointError

TESTS_DIR = Path(__file__).resolve().parent
# the same folder as conftest's parity_dir fixture (needed at collection time for the parametrisation)
PARITY_DIR = Path(os.environ.get("GANSTUDIO_PARITY_DIR",
                                 Path(__file__).resolve().parents[2] / ".." / "shared" / "parity")).resolve()

# parity folder -> the family name load_model must report, and the container the real files use
FAMILY_OF_FOLDER = {"cyclegan": "cyclegan", "dcgan": "dcgan", "esrgan": "rrdbnet", "spade": "spade",
                    "stylegan2": "stylegan2"}
CONTAINER_OF_FOLDER = {"esrgan": "params_ema", "stylegan2": "g_ema"}  # the others: plain state dicts
# a family name that is surely wrong for each folder (for the wrong-family error)
WRONG_FAMILY = {"cyclegan": "rrdbnet", "dcgan": "stylegan2", "esrgan": "spade", "spade": "dcgan",
                "stylegan2": "cyclegan"}


def _test_sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(TESTS_DIR.glob("test_*.py"))
            if p.name != Path(__file__).name}


def _quoted(text: str) -> set[str]:
    return set(re.findall(r"""["']([^"'\n]+)["']""", text))


def _references(src: str, folder: str, name: str) -> bool:
    """Does a test source use ``<folder>/<name>`` of the parity tree?

    Names repeat across folders (``fixture.pt``, ``keys_full.json``), so the source must quote both the folder and
    the file name. A source that globs the folder for ``keys_full*.json`` (``(dir / "spade").glob(...)``) covers
    every key table there: it either parametrises over them (test_spade.py) or asserts that its explicit tables
    equal the globbed set (test_cyclegan.py, test_rrdbnet.py), so a new file fails there.
    """
    quoted = _quoted(src)
    if folder not in quoted:
        return False
    if name in quoted:
        return True
    glob_pat = rf"""\(\s*\w+\s*/\s*["']{re.escape(folder)}["']\s*\)\s*\.glob\(\s*["']keys_full\*\.json["']\s*\)"""
    return name.startswith("keys_full") and re.search(glob_pat, src) is not None


def _parity_files(pattern: str) -> list:
    files = sorted(PARITY_DIR.glob(f"*/{pattern}")) if PARITY_DIR.is_dir() else []
    return [pytest.param(f"{p.parent.name}/{p.name}", id=f"{p.parent.name}/{p.name}") for p in files] or \
        [pytest.param(None, id="no-parity-dir")]


@pytest.mark.parametrize("rel", _parity_files("keys_full*.json"))
def test_every_official_key_table_is_tested(parity_dir, rel):
    if rel is None:
        pytest.skip("no keys_full*.json found")
    folder, name = rel.split("/")
    users = [f for f, src in _test_sources().items() if _references(src, folder, name)]
    assert users, f"no test in tests/nets uses {rel}: add a keys test for that official layout"


@pytest.mark.parametrize("rel", _parity_files("fixture*.pt"))
def test_every_parity_fixture_is_tested(parity_dir, rel):
    if rel is None:
        pytest.skip("no fixture*.pt found")
    folder, name = rel.split("/")
    users = [f for f, src in _test_sources().items() if _references(src, folder, name)]
    assert users, f"no test in tests/nets uses {rel}: add a parity test for it"


def test_the_audit_can_fail():
    # the checker itself: a folder-qualified literal reference counts, a bare or foreign-folder one does not
    src = 'fx = torch.load(parity_dir / "dcgan" / "fixture.pt")'
    assert _references(src, "dcgan", "fixture.pt")
    assert not _references(src, "spade", "fixture.pt")
    assert not _references(src, "dcgan", "fixture_other.pt")
    glob_src = 'files = sorted((PARITY_DIR / "spade").glob("keys_full*.json"))'
    assert _references(glob_src, "spade", "keys_full_new.json")
    assert not _references(glob_src, "spade", "fixture.pt")
    assert not _references(glob_src, "dcgan", "keys_full.json")


# ------------------------------------------------------------------- load_model on every fixture's state dicts


def _real_container(folder: str, sd: dict):
    """The object a user's file holds: RRDB {'params_ema': sd}, StyleGAN2 {'g_ema': sd}, others plain."""
    key = CONTAINER_OF_FOLDER.get(folder)
    return {key: sd} if key else sd


@pytest.mark.parametrize("rel", _parity_files("fixture*.pt"))
def test_load_model_names_the_family_of_each_fixture(parity_dir, tmp_path, rel):
    # every state dict of the fixture (the main one and extra cases with their own weights), saved as a file
    if rel is None:
        pytest.skip("no fixture*.pt found")
    folder, name = rel.split("/")
    assert folder in FAMILY_OF_FOLDER, f"new parity folder {folder!r}: say which family it is"
    fx = torch.load(parity_dir / folder / name, map_location="cpu", weights_only=True)
    state_dicts = [fx["state_dict"]] + [c["state_dict"] for c in fx.get("extra_cases", []) if "state_dict" in c]
    for i, sd in enumerate(state_dicts):
        path = tmp_path / f"{folder}_{i}.pth"
        torch.save(_real_container(folder, sd), path)
        net, desc = ganstudio.load_model(path)
        assert desc.family == FAMILY_OF_FOLDER[folder], (rel, i)
        assert desc.container == CONTAINER_OF_FOLDER.get(folder, ""), (rel, i)
        assert desc.path == str(path) and not net.training
        # asking for the right family works; asking for another is a clear error naming the real one
        ganstudio.load_model(path, family=FAMILY_OF_FOLDER[folder])
        with pytest.raises(CheckpointError, match=FAMILY_OF_FOLDER[folder]):
            ganstudio.load_model(path, family=WRONG_FAMILY[folder])
    if "checkpoint" in fx:  # the fixture's own mirror of the real file must use the same container
        assert list(fx["checkpoint"]) == [CONTAINER_OF_FOLDER[folder]]
