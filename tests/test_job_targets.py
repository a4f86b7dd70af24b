"""Every engine job the UI names ("package.module:function") exists: the UI never imports the engines
(they load torch), so a renamed function would otherwise only fail when a user clicks the button."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGET = re.compile(r"^ganstudio(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$")


def _literal_targets() -> set[str]:
    found = set()
    for path in (ROOT / "ganstudio" / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.match(node.value):
                found.add(node.value)
    return found


def _constant_targets() -> set[str]:
    """Module-level strings of every ui module after import (catches targets built with f-strings)."""
    import ganstudio.ui

    found = set()
    for info in pkgutil.walk_packages(ganstudio.ui.__path__, "ganstudio.ui."):
        mod = importlib.import_module(info.name)
        for value in vars(mod).values():
            if isinstance(value, str) and TARGET.match(value):
                found.add(value)
    return found


ALL = sorted(_literal_targets() | _constant_targets())


def test_the_scan_finds_the_jobs_of_every_tab():
    modules = {t.split(":")[0] for t in ALL}
    for part in ("upscale", "stylize", "latent", "paint", "library_jobs", "sysinfo"):
        assert any(part in m for m in modules), part


@pytest.mark.parametrize("target", ALL)
def test_job_target_resolves_to_a_callable(target):
    from ganstudio.workers.engine_worker import EngineJob

    fn = EngineJob(target).resolve()
    assert callable(fn)
    assert "cancel" in fn.__code__.co_varnames or fn.__code__.co_flags & 0x08, \
        f"{target} must accept the worker's cancel= keyword"
