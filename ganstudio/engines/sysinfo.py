"""What the GUI shows about the compute side (status bar, About, Preferences), as one worker job.

The UI never imports torch, so it asks for this through ``EngineJob("ganstudio.engines.sysinfo:system_info",
{"device": pref, "precision": prec})`` and gets a plain dict back. Device choice itself is
``ganstudio.runtime`` (the one place that decides auto = CUDA, then MPS, then CPU).
"""
from __future__ import annotations

import platform
from typing import Any


def _status_text(torch, dev) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev.index or 0)
    if dev.type == "mps":
        return "Apple MPS"
    n = torch.get_num_threads()
    return f"CPU, {n} thread{'s' if n != 1 else ''}"


def system_info(cancel=None, device: str = "auto", precision: str = "auto") -> dict[str, Any]:
    """Torch version, the devices there are, the one ``device`` resolves to, and its precisions.

    Keys: torch, cuda (CUDA version of the build or ""), devices [(id, label)], device (resolved id),
    device_text (status bar text), device_description, precisions (supported on the resolved device),
    precision (what jobs will run in: "auto" resolved by ``runtime.resolve_runtime``, an unsupported one
    as fp32), precision_setting (what was asked for), threads, python, platform, error ("" or why the
    asked-for device could not be used)."""
    import torch

    from ganstudio import runtime as devmod

    labels = {"cpu": "CPU", "mps": "Apple MPS"}
    devices: list[tuple[str, str]] = [("auto", "Automatic (CUDA, then Apple MPS, then CPU)")]
    for d in devmod.available_devices():
        if d.startswith("cuda:"):
            labels[d] = f"CUDA {d[5:]}: {torch.cuda.get_device_name(int(d[5:]))}"
        devices.append((d, labels.get(d, d)))

    error = ""
    try:
        dev = devmod.select_device(device, strict=True)
    except Exception as exc:  # e.g. "cuda:1" saved on a machine that has no such GPU
        error = f"{exc}; using the automatic choice"
        dev = devmod.select_device("auto")
    precisions = list(devmod.supported_precisions(dev))
    try:
        resolved = devmod.resolve_runtime(dev, precision).precision
    except devmod.DeviceError:  # an unknown name in a hand-edited settings file
        resolved = "fp32"
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "devices": devices,
        "device": str(dev),
        "device_text": _status_text(torch, dev),
        "device_description": devmod.describe_device(dev),
        "precisions": precisions,
        "precision": resolved,
        "precision_setting": precision,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "error": error,
    }
