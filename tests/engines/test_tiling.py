"""The generic tiler: seam-free blending, exact equality for limited receptive fields, OOM retry,
band streaming, cancel and progress."""
from __future__ import annotations

import math

import pytest
import torch

from ganstudio.core.progress import CancelToken, Cancelled, run_to_completion
from ganstudio.engines import tiling
from ganstudio.engines.tiling import auto_tile_size, run_tiled, tile_grid


def _net(scale: int = 2) -> torch.nn.Module:
    """Receptive radius: 2 px at low resolution + 1 px at high resolution (< 3 input px)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.Upsample(scale_factor=scale, mode="nearest"),
        torch.nn.Conv2d(8, 3, 3, padding=1),
    ).eval()


@pytest.mark.parametrize("tile,overlap", [(32, 8), (20, 6), (16, 16), (64, 10)])
def test_tiled_equals_whole_for_limited_receptive_field(tile, overlap):
    net = _net()
    x = torch.rand(1, 3, 101, 77, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = net(x)
    out = run_to_completion(run_tiled(net, x, 2, tile, overlap))
    assert out.shape == (1, 3, 202, 154)
    assert (out - ref).abs().max().item() < 1e-5


def test_without_overlap_there_are_seams():
    """The equality above is not trivial: with no context the tile borders differ."""
    net = _net()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = net(x)
    out = run_to_completion(run_tiled(net, x, 2, 16, 0))
    assert (out - ref).abs().max().item() > 1e-3


def test_weights_sum_to_one_and_context_is_unweighted():
    rows, cols = tile_grid(100, 70, 24, 8, 3, align=1)
    total = torch.zeros(100 * 3, 70 * 3)
    for y0, y1, wy in rows:
        for x0, x1, wx in cols:
            total[y0 * 3:y1 * 3, x0 * 3:x1 * 3] += wy[:, None] * wx[None, :]
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)
    # the outer overlap/2 = 4 input px (12 output px) of an inner tile edge carry no weight
    y0, y1, wy = rows[1]
    assert y0 > 0 and torch.all(wy[:12] == 0) and torch.all(wy[-12:] == 0)
    assert wy[len(wy) // 2] == pytest.approx(1.0)


def test_align_keeps_tiles_on_multiples():
    rows, _ = tile_grid(96, 96, 30, 6, 1, align=4)
    for y0, y1, _w in rows:
        assert y0 % 4 == 0 and y1 % 4 == 0
    with pytest.raises(ValueError, match="multiple of 4"):
        run_to_completion(run_tiled(lambda t: t, torch.zeros(1, 3, 10, 12), 1, 8, 4, align=4))


def test_progress_per_tile_with_eta_and_sink_bands_cover_output():
    net = _net()
    x = torch.rand(1, 3, 50, 60)
    seen = []
    bands = []

    def sink(y0, y1, band):
        bands.append((y0, y1))
        assert band.shape == (3, y1 - y0, 120)

    result = run_to_completion(run_tiled(net, x, 2, 20, 4, sink=sink), seen.append)
    assert result is None
    n_tiles = math.ceil(50 / 20) * math.ceil(60 / 20)
    assert [p.done for p in seen] == list(range(1, n_tiles + 1))
    assert all(p.total == n_tiles and "ETA" in p.message for p in seen)
    # bands are contiguous, in order, and cover every output row once
    assert bands[0][0] == 0 and bands[-1][1] == 100
    assert all(a[1] == b[0] for a, b in zip(bands, bands[1:]))


def test_cancel_stops_between_tiles():
    token = CancelToken()
    calls = []

    def fn(t):
        calls.append(1)
        if len(calls) == 2:
            token.cancel()
        return t

    with pytest.raises(Cancelled):
        run_to_completion(run_tiled(fn, torch.zeros(1, 1, 40, 40), 1, 10, 2, token))
    assert len(calls) == 2


def test_out_of_memory_halves_tile_and_retries():
    sizes = []
    net = _net()

    def fn(t):
        sizes.append(max(t.shape[-2:]))
        if max(t.shape[-2:]) > 40:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return net(t)

    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
    out = run_to_completion(run_tiled(fn, x, 2, 64, 6))
    assert (out - ref).abs().max().item() < 1e-5
    assert sizes[0] == 64 and max(sizes[1:]) <= 40  # whole image failed, halved tiles succeeded


def test_other_errors_are_not_retried():
    def fn(t):
        raise ValueError("bad network")

    with pytest.raises(ValueError, match="bad network"):
        run_to_completion(run_tiled(fn, torch.zeros(1, 3, 64, 64), 1, 64, 4))


def test_wrong_output_size_is_reported():
    with pytest.raises(ValueError, match="expected x2"):
        run_to_completion(run_tiled(lambda t: t, torch.zeros(1, 3, 16, 16), 2, 8, 2))


def test_auto_tile_size_follows_free_memory(monkeypatch):
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device="cpu": 8 << 30)
    big = auto_tile_size("cpu", scale=4)
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device="cpu": 1 << 30)
    small = auto_tile_size("cpu", scale=4)
    assert 64 <= small < big <= 1024 and small % 16 == 0
    # bytes per pixel x tile area stays within a quarter of free memory
    assert small * small * tiling.estimate_bytes_per_pixel(4) <= (1 << 30) / 4


def test_free_memory_reads_meminfo():
    free = tiling.free_memory_bytes("cpu")
    assert free > 16 << 20


def test_watched_blocks_report_within_a_tile_and_cancel_between_blocks(monkeypatch):
    """Inside a tile: the network's watched blocks check the token and report the fraction of the tile."""
    from ganstudio.core.progress import Progress
    from ganstudio.runtime import watch_blocks

    monkeypatch.setattr(tiling, "BLOCK_REPORT_S", 0.0)
    net = _net()
    n = watch_blocks(net, [m for m in net if isinstance(m, torch.nn.Conv2d)])
    assert n == 3
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(3))
    reports: list[Progress] = []
    out = run_to_completion(run_tiled(net, x, 2, 20, 4, CancelToken(), blocks=lambda h, w: n,
                                      report=reports.append))
    assert out.shape == (1, 3, 80, 80)
    assert len(reports) == 4 * 3  # 2 x 2 tiles, 3 blocks each
    assert [round(p.done, 2) for p in reports[:3]] == [0.33, 0.67, 0.99]
    assert reports[3].done == pytest.approx(1.33, 0.01)
    assert all(p.total == 4 and "ETA" in p.message for p in reports)

    token = CancelToken()
    ran = []
    net[4].register_forward_hook(lambda *_a: ran.append(1))
    with pytest.raises(Cancelled):  # default report: the token's side channel
        token.set_listener(lambda p: token.cancel())
        run_to_completion(run_tiled(net, x, 2, 20, 4, token, blocks=lambda h, w: n))
    assert ran == []  # cancelled at the first report, before the tile's second block
