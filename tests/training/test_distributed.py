"""Multi-process training (DDP under torchrun), on the CPU with the gloo backend."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import train_data as td  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_args(data: Path, out: Path, batch: int) -> list[str]:
    # ESRGAN: networks without BatchNorm (and without the bias-before-InstanceNorm of CycleGAN / pix2pix,
    # whose gradients are rounding noise that Adam would amplify differently in each run), so splitting
    # the batch across processes cannot change the math; its degradations are keyed by sample position
    return ["train", "esrgan", "--data", str(data), "--size", "32", "--batch", str(batch), "--steps", "3",
            "--holdout", "0", "--checkpoint-every", "0", "--sample-every", "0", "--no-metrics", "--from", "none",
            "--precision", "fp32", "--device", "cpu", "--arch", "num_feat=8", "--arch", "num_block=1",
            "--arch", "num_grow_ch=4", "--arch", "d_feat=8", "--option", "perceptual=0", "-o", str(out)]


def _weights(run: Path) -> dict:
    return torch.load(run / "final" / "net_g.pth", map_location="cpu", weights_only=True)["params"]


def test_two_processes_with_batch_one_equal_one_process_with_batch_two(tmp_path):
    data = td.smooth_images(tmp_path / "data", n=8, size=48)
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    single = tmp_path / "single"
    subprocess.run([sys.executable, "-m", "ganstudio"] + _train_args(data, single, 2), check=True, env=env,
                   capture_output=True, timeout=300)
    multi = tmp_path / "multi"
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
                           str(_free_port()), "-m", "ganstudio"] + _train_args(data, multi, 2),
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = _weights(single), _weights(multi)
    assert one.keys() == two.keys()
    worst = max(float((one[k].float() - two[k].float()).abs().max()) for k in one)
    assert worst <= 1e-5, worst
    # and the run really moved (equality of two untouched networks would prove nothing)
    both = torch.load(multi / "final" / "net_g.pth", map_location="cpu", weights_only=True)
    # after 3 steps the EMA (decay 0.999) is still almost the initial network: the trained one moved away
    moved = max(float((both["params"][k] - both["params_ema"][k]).abs().max()) for k in both["params"])
    assert moved > 1e-4
