"""A training run's configuration: one dataclass, saved as ``RUN/config.json``, read back by ``--resume``.

Every key can come from the command line, from ``--config FILE`` (JSON, or YAML where PyYAML is installed,
with the same keys) or from the Train tab. What the user did not set comes from the task's recipe
defaults (the official scripts' values, scaled where a small model needs it), so a run folder always holds
the complete recipe that made it, and ``recipe_cli()`` prints it back as one command line.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from ganstudio.core.errors import InputError

TASKS = ("stylegan2", "dcgan", "cyclegan", "pix2pix", "spade", "esrgan")
OBJECTIVES = ("nonsaturating", "lsgan", "hinge", "wgan-gp")


@dataclass
class TrainConfig:
    task: str
    output: str = ""  # the run folder
    # data
    data: str = ""  # stylegan2 / dcgan / esrgan: one image folder
    data_a: str = ""  # cyclegan / pix2pix
    data_b: str = ""
    labels: str = ""  # spade
    images: str = ""
    instances: str = ""
    label_set: str = ""  # ade20k | coco | cityscapes | a number of labels
    holdout: int = 0  # images kept out of training for samples and metrics (0: the recipe's default)
    # what to start from
    from_model: str = ""  # a checkpoint path or model id ("" = from scratch / the recipe's default)
    # schedule
    steps: int = 0
    batch: int = 0
    size: int = 0
    lr: float = 0.0
    seed: int = 0
    objective: str = ""
    augment: str = ""  # stylegan2 / dcgan: none | diffaug | ada
    # runtime
    device: str = "auto"
    precision: str = "auto"
    workers: int = 0  # DataLoader worker processes
    # bookkeeping
    checkpoint_every: int = 0
    sample_every: int = 0
    log_every: int = 10
    keep: int = 3  # newest checkpoints kept
    metrics: bool = True  # FID / PSNR / SSIM at each checkpoint
    metric_samples: int = 0  # images per metric evaluation (0: the recipe's default)
    # network size and family options (e.g. {"ngf": 32, "n_blocks": 6}); the recipe documents them
    arch: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def with_defaults(self, defaults: dict) -> "TrainConfig":
        """A copy where every unset (zero / empty) field takes the recipe's default."""
        values = asdict(self)
        for key, value in defaults.items():
            if key in ("arch", "options"):
                merged = dict(value)
                merged.update(values[key])
                values[key] = merged
            elif key in values and values[key] in (0, 0.0, "", None):
                values[key] = value
        return TrainConfig(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown training setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        if data.get("task") not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, not {data.get('task')!r}")
        try:
            cfg = cls(**data)
        except TypeError as exc:
            raise InputError(f"bad training settings: {exc}") from exc
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        for name in ("steps", "batch", "size", "checkpoint_every", "sample_every", "log_every", "workers",
                     "holdout", "metric_samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise InputError(f"{name.replace('_', '-')} must be a whole number >= 0, not {value!r}")
        if self.keep < 1:
            raise InputError("keep must be at least 1 (the newest checkpoint is what a resume needs)")
        if not (self.lr >= 0 and self.lr < 1):  # also refuses nan
            raise InputError(f"lr must be in [0, 1), not {self.lr}")
        if self.objective and self.objective not in OBJECTIVES:
            raise InputError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if self.augment and self.augment not in ("none", "diffaug", "ada"):
            raise InputError(f"augment must be none, diffaug or ada, not {self.augment!r}")

    def save(self, path: Path) -> None:
        from ganstudio.core.files import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the run's settings {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError(f"{path} does not hold training settings")
        return cls.from_dict(data)

    def recipe_cli(self) -> str:
        """The run as one ``ganstudio train`` command line (for the model card and the manifest)."""
        import shlex

        parts = ["ganstudio", "train", self.task]
        flags = [("data", "--data"), ("data_a", "--data-a"), ("data_b", "--data-b"), ("labels", "--labels"),
                 ("images", "--images"), ("instances", "--instances"), ("label_set", "--label-set"),
                 ("from_model", "--from"), ("steps", "--steps"), ("batch", "--batch"), ("size", "--size"),
                 ("lr", "--lr"), ("seed", "--seed"), ("objective", "--objective"), ("augment", "--augment"),
                 ("precision", "--precision"), ("checkpoint_every", "--checkpoint-every"),
                 ("sample_every", "--sample-every"), ("holdout", "--holdout")]
        for key, flag in flags:
            value = getattr(self, key)
            if value not in ("", None) and not (key == "seed" and value == 0):
                parts += [flag, str(value)]
        for k, v in sorted(self.arch.items()):
            parts += ["--arch", f"{k}={json.dumps(v)}"]
        for k, v in sorted(self.options.items()):
            parts += ["--option", f"{k}={json.dumps(v)}"]
        parts += ["-o", self.output or "RUN"]
        return " ".join(shlex.quote(p) for p in parts)


def read_config_file(path) -> dict:
    """``--config FILE``: JSON, or YAML where PyYAML is installed; the same keys as TrainConfig."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise InputError(f"{p.name}: reading YAML needs PyYAML (pip install pyyaml), or use JSON") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{p.name} is not valid YAML: {exc}") from exc
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{p.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{p.name} must hold a mapping of settings")
    return {k.replace("-", "_"): v for k, v in data.items()}


def parse_assignments(items: Optional[list]) -> dict[str, Any]:
    """["ngf=32", "n_blocks=6", "channels={\"4\": 64}"] -> {"ngf": 32, ...} (values parsed as JSON when
    they can be, else kept as text)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise InputError(f"expected KEY=VALUE, not {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out
