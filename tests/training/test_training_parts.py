"""Parts of the trainer on their own: micro-batch retry on out-of-memory, metrics, augmentation, order."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstudio.runtime import Runtime
from ganstudio.training.config import TrainConfig
from ganstudio.training.data import PositionSampler
from ganstudio.training.recipe import Recipe, World


def test_out_of_memory_retries_the_step_as_micro_batches_with_the_same_update():
    """On CUDA OOM the step is redone with the batch split in two; the update equals the full-batch one."""
    torch.manual_seed(0)
    x = torch.randn(8, 4)
    y = torch.randn(8, 1)

    def make():
        torch.manual_seed(1)
        lin = torch.nn.Linear(4, 1)
        r = Recipe(TrainConfig(task="dcgan", batch=8), Runtime(torch.device("cpu"), "fp32"), World())
        r.add_optimizer("m", torch.optim.SGD(lin.parameters(), lr=0.1))
        return r, lin

    def loss_fn(lin, fail_above):
        def fn(chunk):
            if chunk["x"].shape[0] > fail_above:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            loss = ((lin(chunk["x"]) - chunk["y"]) ** 2).mean()
            return loss, {"loss": loss.detach()}
        return fn

    ref, ref_lin = make()
    ref.optimize("m", {"x": x, "y": y}, loss_fn(ref_lin, 99))
    r, lin = make()
    r.device = torch.device("cuda")  # only the retry rule looks at the device type; tensors stay on the CPU
    logs = r.optimize("m", {"x": x, "y": y}, loss_fn(lin, 4))
    assert r.micro == 2 and r.messages and "micro-batches" in r.messages[0]
    for a, b in zip(ref_lin.parameters(), lin.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert np.isfinite(logs["loss"])
    # on the CPU an out-of-memory error is not retried (there is no separate device memory to spare)
    r2, lin2 = make()
    with pytest.raises(torch.OutOfMemoryError):
        r2.optimize("m", {"x": x, "y": y}, loss_fn(lin2, 4))


def test_frechet_distance_of_a_set_and_its_twice_spread_copy_is_the_trace_of_its_covariance():
    from ganstudio.training.metrics import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    assert abs(frechet_distance(a, a)) < 1e-6
    shifted = a + 3.0
    assert frechet_distance(a, shifted) == pytest.approx(9.0 * 6, rel=1e-6)
    spread = 2 * (a - a.mean(0)) + a.mean(0)  # covariance x4: FID = Tr(S + 4S - 2 * 2S) = Tr(S)
    assert frechet_distance(a, spread) == pytest.approx(np.trace(np.cov(a, rowvar=False)), rel=1e-6)


def test_psnr_and_ssim_agree_with_definitions_and_scikit_image():
    from skimage.metrics import structural_similarity

    from ganstudio.training.metrics import psnr, ssim

    rng = np.random.default_rng(1)
    img = rng.uniform(0, 1, (1, 1, 64, 64)).astype(np.float32)
    noisy = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1).astype(np.float32)
    t, n = torch.from_numpy(img) * 2 - 1, torch.from_numpy(noisy) * 2 - 1
    mse = float(((img - noisy) ** 2).mean())
    assert psnr(n, t) == pytest.approx(10 * np.log10(1 / mse), rel=1e-5)
    ref = structural_similarity(img[0, 0], noisy[0, 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert ssim(n, t) == pytest.approx(ref, abs=0.02)
    assert ssim(t, t) == pytest.approx(1.0, abs=1e-6)


def test_position_sampler_is_a_pure_function_of_the_position():
    full = PositionSampler(10, seed=3, global_batch=4)
    it = iter(full)
    straight = [next(it) for _ in range(4 * 6)]
    resumed = PositionSampler(10, seed=3, global_batch=4, start_step=3)
    it = iter(resumed)
    assert [next(it) for _ in range(12)] == straight[12:]
    ranks = [PositionSampler(10, seed=3, global_batch=4, rank=r, world=2) for r in (0, 1)]
    its = [iter(s) for s in ranks]
    merged = []
    for _ in range(6):
        for i in its:
            merged += [next(i), next(i)]
    assert merged == straight
    epoch0 = sorted(idx for _, idx in straight[:10])
    assert epoch0 == list(range(10))  # each epoch is a permutation


def test_adaptive_augmentation_raises_p_when_d_overfits_and_lowers_it_otherwise():
    from ganstudio.training.augment import ADA_INTERVAL, Augmenter

    aug = Augmenter("ada")
    for _ in range(ADA_INTERVAL * 5):
        aug.observe(torch.ones(16))  # D is sure every real image is real: r_t = 1 > 0.6
        aug.update(16)
    high = aug.p
    assert high > 0
    for _ in range(ADA_INTERVAL * 5):
        aug.observe(-torch.ones(16))
        aug.update(16)
    assert aug.p < high
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    out = Augmenter("diffaug")(x)
    out.sum().backward()
    assert x.grad is not None and out.shape == x.shape and not torch.equal(out, x)


def test_an_image_that_fails_to_decode_during_training_is_replaced_not_fatal(tmp_path):
    """Large folders are only header-checked; a file broken later is skipped by the dataset."""
    from PIL import Image

    from ganstudio.training.data import ImageFolderDataset

    files = []
    for i in range(3):
        f = tmp_path / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(f)
        files.append(f)
    ds = ImageFolderDataset(files, size=8, seed=0, flip=False)
    files[1].write_bytes(b"\x89PNG\r\n\x1a\n broken after the check")
    item = ds[(0, 1)]  # falls through to the next decodable image (index 2)
    assert torch.allclose(item["image"], torch.full((3, 8, 8), 120 / 127.5 - 1))
    assert ds.cache.bad == {1}


def test_layout_scores_count_per_class_accuracy_and_iou():
    from ganstudio.training.segmenter import layout_scores

    target = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 2]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    s = layout_scores(pred, target, 3)
    assert s["pixel_accuracy"] == pytest.approx(6 / 8)
    assert s["class_accuracy"] == pytest.approx([3 / 4, 1.0, 0.0])
    # IoU: class 0: 3 / (4 + 3 - 3) = 0.75; class 1: 3 / (3 + 5 - 3) = 0.6; class 2: 0 / 1 = 0
    assert s["class_iou"] == pytest.approx([0.75, 0.6, 0.0])
    assert s["mIoU"] == pytest.approx((0.75 + 0.6 + 0.0) / 3)
