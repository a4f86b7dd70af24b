"""core/progress.py: map_progress relays an inner generator's steps and its result."""
from __future__ import annotations

from ganstudio.core.progress import map_progress, run_to_completion


def _inner():
    yield 1
    yield 2
    return "result"


def test_map_progress_maps_every_step_and_returns_the_inner_result():
    def outer():
        got = yield from map_progress(_inner(), lambda x: x * 10)
        yield 99
        return got.upper()

    seen = []
    assert run_to_completion(outer(), seen.append) == "RESULT"
    assert seen == [10, 20, 99]
