"""Everything about model files, in one package: reading them safely, recognising and building the network
they hold, resolving model ids to files, caching loaded networks, converting foreign formats.

    reader.py        safe reading: safetensors, or torch.load(weights_only=True) after a pickle scan that
                     refuses code-running pickles and names what they ask for
    nvlabs_pickle.py NVIDIA's StyleGAN2-ADA network pickles, read by an allow-list pickle machine that runs
                     nothing in them (TensorFlow-era and StyleGAN3 pickles are refused with a sentence)
    loader.py        load_model(): unwrap containers -> detect the family -> build -> load strictly
    cache.py         resolve a model id / path to a file (+ sha256), the shared LRU cache of loaded networks
    realesrgan.py    the Real-ESRGAN weights installed as a package (ncnn), converted once to safetensors
    ncnn.py          the ncnn .param/.bin reader behind that conversion
    library_jobs.py  worker jobs for the model manager: describe / import / download a checkpoint

Layer: engines and training -> checkpoints -> nets -> runtime -> core.
"""
from ganstudio.checkpoints.loader import (  # noqa: F401  (the package's public entry points)
    ModelDescription,
    detect_family,
    load_model,
    unwrap_state_dict,
)
from ganstudio.checkpoints.reader import CheckpointError, read_checkpoint  # noqa: F401

__all__ = ["CheckpointError", "ModelDescription", "detect_family", "load_model", "read_checkpoint",
           "unwrap_state_dict"]
