"""What the Train tab offers per task: its name, its folders, where its result is used, what it can start
from. Plain data (no Qt, no torch): the recipe defaults themselves come from the worker
(``training.jobs.describe_tasks``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Folder:
    key: str  # the TrainConfig field
    label: str
    hint: str
    required: bool = True


@dataclass(frozen=True)
class TaskInfo:
    task: str  # the trainer's task name
    label: str
    tab: str  # the tab that uses the result
    folders: tuple
    start_archs: tuple  # manifest archs a fine-tune can start from
    about: str
    start_default: str = ""  # the recipe's own starting model ("" = from scratch)


TASKS: tuple[TaskInfo, ...] = (
    TaskInfo("stylegan2", "Latent · faces and photos (StyleGAN2)", "Latent",
             (Folder("data", "Images", "a folder of images of one kind (faces, cats, landscapes …)"),),
             ("stylegan2",), "StyleGAN2 with lazy R1, path length, style mixing, EMA; DiffAugment / ADA "
                             "for small folders"),
    TaskInfo("dcgan", "Latent · small images (DCGAN)", "Latent",
             (Folder("data", "Images", "a folder of images of one kind"),),
             ("dcgan",), "DCGAN, the pytorch/examples recipe, at any power-of-two size"),
    TaskInfo("spade", "Paint · label maps to photos (SPADE)", "Paint",
             (Folder("labels", "Label maps", "indexed or grey PNGs of label ids, named like the photos"),
              Folder("images", "Photos", "the photos, matched to the label maps by file name"),
              Folder("instances", "Instance maps", "optional: instance id maps, matched by file name",
                     required=False)),
             ("spade",), "SPADE / GauGAN: hinge loss, feature matching, multiscale discriminator"),
    TaskInfo("cyclegan", "Stylize · two styles, unpaired (CycleGAN)", "Stylize",
             (Folder("data_a", "Domain A", "photos of one kind (e.g. summer)"),
              Folder("data_b", "Domain B", "photos of the other kind (e.g. winter); no pairing needed")),
             ("cyclegan",), "CycleGAN: LSGAN, cycle and identity losses, image pool"),
    TaskInfo("pix2pix", "Stylize · paired before / after (pix2pix)", "Stylize",
             (Folder("data_a", "Inputs (A)", "the inputs, or side-by-side AB images with no B folder"),
              Folder("data_b", "Targets (B)", "the wanted outputs, matched to A by file name", required=False)),
             ("cyclegan",), "pix2pix: U-Net generator, PatchGAN, L1 λ 100"),
    TaskInfo("esrgan", "Upscale · super-resolution (Real-ESRGAN)", "Upscale",
             (Folder("data", "HR photos", "sharp high-resolution photos; the low-resolution inputs are made "
                                          "from them on the fly"),),
             ("rrdbnet",), "Real-ESRGAN: on-the-fly degradations, L1 + perceptual + GAN, EMA",
             start_default="x4plus"),
)

BY_TASK = {t.task: t for t in TASKS}
LABEL_SETS = ("ade20k", "coco", "cityscapes")


def task_info(task: str) -> TaskInfo:
    return BY_TASK[task]


def start_models(task: str, entries) -> list[dict]:
    """{"id", "label", "present", "default"} for the manifest entries a run of ``task`` can start from:
    the task's architecture (pix2pix's U-Nets for pix2pix, the ResNet ones for CycleGAN), present ones
    first; official files not downloaded yet are listed too, marked. ``default``: the recipe's own
    starting model (ESRGAN fine-tunes x4plus)."""
    from ganstudio.core.manifest import aliases

    info = BY_TASK[task]
    out = []
    for e in entries:
        if e.arch not in info.start_archs or (e.extra or {}).get("role") == "discriminator":
            continue
        is_pix = e.id.startswith("pix2pix") or (e.arch_kwargs or {}).get("arch") == "unet"
        if (task == "pix2pix") != is_pix and e.arch == "cyclegan":
            continue
        present = bool(e.path) or bool((e.extra or {}).get("files"))
        default = bool(info.start_default) and info.start_default in (e.id, *aliases(e))
        label = e.id + (" (default)" if default else "") + ("" if present else "  (not downloaded)")
        out.append({"id": e.id, "label": label, "present": present, "default": default})
    out.sort(key=lambda m: (not m["default"], not m["present"], m["id"]))
    return out
