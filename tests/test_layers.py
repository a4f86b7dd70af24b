"""The layering rules (DESIGN.md "Direction of imports"), checked two ways.

1. Statically: import-linter's contracts in pyproject.toml (`lint-imports`), which see every import
   statement, including lazy ones inside functions.
2. At run time, in fresh interpreters: importing every core module loads neither torch nor PySide6;
   importing every ui / workers module does not load torch; importing every nets / engines /
   checkpoints / runtime / training module does not load PySide6; datamakers load neither.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports_command() -> list[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("lint-imports")
    if found:
        return [found]
    pytest.skip("import-linter is not installed (pip install -e .[test])")


def test_import_linter_contracts_are_kept():
    proc = subprocess.run(_lint_imports_command() + ["--no-cache", "--no-logo"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "BROKEN" not in out and proc.returncode == 0, out[-4000:]
    assert out.count("KEPT") >= 4, out[-2000:]  # the four contracts in pyproject.toml really ran


_PROBE = r"""
import importlib, json, pkgutil, sys
import ganstudio

def modules(package):
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), package + "."):
        names.append(info.name)
    return names

report = {}
for group in sys.argv[1].split(","):
    failed = {}
    for name in modules(group):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module that cannot import is reported, not hidden
            failed[name] = f"{type(exc).__name__}: {exc}"
    report[group] = failed
report["loaded"] = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "torchvision", "PySide6"})
print(json.dumps(report))
"""


def _probe(groups: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _PROBE, groups], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_loads_neither_torch_nor_qt():
    report = _probe("ganstudio.core")
    assert report["ganstudio.core"] == {}
    assert report["loaded"] == []


def test_ui_and_workers_do_not_load_torch():
    report = _probe("ganstudio.workers,ganstudio.ui")
    assert report["ganstudio.workers"] == {} and report["ganstudio.ui"] == {}
    assert "torch" not in report["loaded"] and "torchvision" not in report["loaded"]


def test_torch_layers_do_not_load_qt():
    groups = ["ganstudio.runtime", "ganstudio.nets", "ganstudio.checkpoints", "ganstudio.engines",
              "ganstudio.training"]
    report = _probe(",".join(groups))
    for group in groups:
        assert report[group] == {}, (group, report[group])
    assert "PySide6" not in report["loaded"]


def test_datamakers_load_neither_torch_nor_qt():
    report = _probe("ganstudio.datamakers")
    assert report["ganstudio.datamakers"] == {}
    assert report["loaded"] == []
