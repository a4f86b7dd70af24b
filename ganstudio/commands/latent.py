"""`ganstudio sample`, `ganstudio interpolate`, `ganstudio edit`: StyleGAN2 / DCGAN latent tools, headless.

Every PNG written carries its recipe (model sha256, seeds, latent, truncation, noise, edits, and the device /
precision it was rendered with) in PNG text chunks; open it in the app to get back to that state.
``--device`` / ``--precision`` are the shared flags (commands.common): checked strictly, so ``--device cuda``
on a machine without CUDA is refused with one line (exit 2); "auto" precision is fp32 for the latent engine
(see ganstudio/engines/latent/model.py).
"""
from __future__ import annotations

import sys

from ganstudio.commands.common import EXIT_CANCELLED, EXIT_OK, add_runtime_args, error

PRECISION_NOTE = ("For the latent tools --precision auto means fp32 (bf16 / fp16 autocast is no clear win for "
                  "StyleGAN2 and changes the pixels a recipe reproduces); ask for bf16 or fp16 explicitly.")
NOISE_HELP = "StyleGAN2 noise maps: stored (the checkpoint's), zero, or random (seeded per image)"
CLASS_HELP = ("the class to draw (0 .. classes-1), for a class-conditional generator (a StyleGAN2-ADA .pkl "
              "trained with labels, e.g. cifar10.pkl); refused by any other model")


def _add_class_arg(p) -> None:
    p.add_argument("--class", dest="class_index", type=int, metavar="N", help=CLASS_HELP)


def register(sub) -> None:
    p = sub.add_parser("sample", help="render images from seeds or a saved latent (StyleGAN2 / DCGAN)",
                       description="Render one PNG per seed (or per latent row). OUT is a folder, or a .png file "
                                   "for a single image (or for a grid with --grid). " + PRECISION_NOTE)
    p.add_argument("--model", "-m", required=True,
                   help="a StyleGAN2 (.pt, or StyleGAN2-ADA .pkl) / DCGAN checkpoint or a manifest id")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", help="e.g. 1-16 or 3,7,42")
    src.add_argument("--latent", help=".npy with z (N, Dz), W (N, D) with --latent-space w, or W+ (N, L, D)")
    p.add_argument("--latent-space", choices=["z", "w"], default="z", help="what a 2-D --latent holds")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--truncation", "--psi", type=float, default=1.0, help="truncation psi (1 = off)")
    p.add_argument("--noise", choices=["stored", "zero", "random"], default="stored", help=NOISE_HELP)
    p.add_argument("--grid", action="store_true", help="also write all images as one grid PNG (OUT.png)")
    p.add_argument("--batch-stats", action="store_true",
                   help="DCGAN: BatchNorm with the batch's statistics, as pytorch/examples' sample grids")
    _add_class_arg(p)
    add_runtime_args(p)
    p.set_defaults(func=_sample)

    p = sub.add_parser("interpolate", help="frames between seeds, linear or spherical, in Z or W",
                       description="OUT ending in .png writes one horizontal strip; otherwise a folder of "
                                   "numbered frames frame_0000.png ... " + PRECISION_NOTE)
    p.add_argument("--model", "-m", required=True)
    p.add_argument("--seeds", required=True, help="two or more keyframe seeds, e.g. 1,5,9")
    p.add_argument("--steps", type=int, default=8, help="frames per segment (default: %(default)s)")
    p.add_argument("--slerp", action="store_true", help="spherical interpolation")
    p.add_argument("--space", choices=["z", "w"], default="z")
    p.add_argument("--truncation", "--psi", type=float, default=1.0)
    p.add_argument("--noise", choices=["stored", "zero", "random"], default="stored", help=NOISE_HELP)
    p.add_argument("-o", "--output", required=True)
    _add_class_arg(p)
    add_runtime_args(p)
    p.set_defaults(func=_interpolate)

    p = sub.add_parser("edit", help="apply attribute directions to a seed",
                       description="Directions come from --directions FILE (.npz / .safetensors saved by the "
                                   "app, tied to the model), or, without a file, from the named directions the "
                                   "model ships (the bundled faces and fashion models: e.g. -d Smile=2), or from "
                                   "SeFa computed on the fly (names sefa_0, sefa_1, ...). " + PRECISION_NOTE)
    p.add_argument("--model", "-m", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--direction", "-d", action="append", default=[], metavar="NAME=STRENGTH", required=True)
    p.add_argument("--directions", help="directions file made for this model")
    p.add_argument("--layers", action="append", default=[], metavar="NAME=START:STOP",
                   help="limit a direction to W+ rows START..STOP-1")
    p.add_argument("--truncation", "--psi", type=float, default=1.0)
    p.add_argument("--noise", choices=["stored", "zero", "random"], default="stored", help=NOISE_HELP)
    p.add_argument("-o", "--output", required=True, help="a .png file")
    _add_class_arg(p)
    add_runtime_args(p)
    p.set_defaults(func=_edit)


_err = error  # one "error: ..." line on stderr (the traceback with -v only), exit code 2


def _open(args):
    """The model on the device / precision the flags ask for (refused strictly: DeviceError, one line)."""
    from ganstudio.commands.common import runtime_kwargs
    from ganstudio.engines import latent as L

    checked = runtime_kwargs(args)  # strict: refuses a device or precision this machine lacks
    # "auto" precision stays the engine's own choice (fp32 for the latent tools), not the image engines' bf16
    return L.open_model(args.model, checked["device"], args.precision)


def _checked_class(args, lm) -> int | None:
    """--class, checked against the model: a class-conditional model needs one in range, any other takes none."""
    from pathlib import Path

    from ganstudio.engines.latent import LatentError  # a UserError: one line, exit 2

    name, k = Path(lm.path).name, args.class_index
    if not lm.c_dim:
        if k is not None:
            raise LatentError(f"{name} is not class-conditional: it takes no --class")
        return None
    if k is None:
        raise LatentError(f"{name} draws one of {lm.c_dim} classes: choose one with --class N (0-{lm.c_dim - 1})")
    if not 0 <= k < lm.c_dim:
        raise LatentError(f"--class {k} does not exist: {name} draws classes 0-{lm.c_dim - 1}")
    return k


def _run_with_bar(fn, unit: str):
    """Run ``fn(cancel)`` (a plain call or a generator) with a progress bar fed by what it yields and by the
    reports from inside the network; Ctrl-C ends it as 'cancelled' (KeyboardInterrupt goes on up)."""
    import types

    from ganstudio.commands.common import ProgressBar
    from ganstudio.core.progress import CancelToken, run_to_completion

    bar = ProgressBar(unit=unit)
    token = CancelToken()
    token.set_listener(bar)
    try:
        out = fn(token)
        if isinstance(out, types.GeneratorType):
            out = run_to_completion(out, bar)
        return out
    finally:
        token.set_listener(None)
        bar.close()


def _output_problem(out, lm, folder_ok: bool = True) -> str | None:
    """Why ``out`` must not be written (the model file itself, a file where a folder is wanted, a non-PNG
    file name where a PNG is written), or None."""
    import os
    from pathlib import Path

    out = Path(out)
    try:
        if out.exists() and os.path.samefile(out, lm.path):
            return f"{out} is the model file itself: choose another output"
    except OSError:
        pass
    if out.suffix.lower() == ".png":
        if out.is_dir():
            return f"{out} is a folder: give a new .png file name"
        return None
    if not folder_ok:
        return f"{out}: the output is written as a PNG, so its name must end in .png"
    if out.exists() and not out.is_dir():
        return f"{out} exists and is not a folder: give a folder (or a .png file name)"
    return None


def _write_error(exc: OSError, out) -> int:
    if not exc.strerror:  # already a sentence (e.g. from the image writer)
        return _err(str(exc))
    where = exc.filename or out
    if str(where).endswith(".part"):  # the temporary file of an atomic write: name the file being made
        where = out
    return _err(f"cannot write {where}: {exc.strerror}")


def _write(path, image, state, lm):
    from ganstudio.engines.latent.recipe import state_to_recipe, write_png

    write_png(path, image, state_to_recipe({**state, "model": lm.path}, lm.sha256, lm.family))


def _sample(args) -> int:
    from pathlib import Path

    import numpy as np

    from ganstudio.engines import latent as L

    try:
        lm = _open(args)
        klass = _checked_class(args, lm)
        out = Path(args.output)
        if args.seeds:
            seeds = L.parse_seeds(args.seeds)
            state = {"seeds": seeds}
            names = [f"seed{s:04d}.png" for s in seeds]
        else:
            try:
                lat = np.load(args.latent, allow_pickle=False).astype(np.float32)
            except (ValueError, OSError) as exc:
                return _err(f"{args.latent}: not a readable .npy latent ({getattr(exc, 'strerror', None) or exc})")
            # (N, 100, 1, 1), what pytorch/examples' DCGAN saves, is N rows of z
            lat = L.latent_rows(lat)
            state = {"wplus": lat} if lat.ndim == 3 or args.latent_space == "w" else {"z": lat}
            names = [f"latent{i:04d}.png" for i in range(len(lat))]
        state.update(truncation=args.truncation, noise=args.noise, batch_stats=args.batch_stats, class_index=klass)
        if args.seeds:
            res = _run_with_bar(lambda c: L.sample_grid(lm, seeds, args.truncation, args.noise, cancel=c,
                                                        batch_stats=args.batch_stats, class_index=klass), "img")
        else:
            res = _run_with_bar(lambda c: L.render_state(state, cancel=c, model=lm), "img")
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except (ValueError, OSError) as exc:
        return _err(exc)
    imgs = res["images"]
    state["runtime"] = res["runtime"]
    problem = _output_problem(out, lm)
    if problem:
        return _err(problem)
    try:
        return _sample_write(args, out, imgs, names, state, res, lm)
    except OSError as exc:
        return _write_error(exc, out)


def _sample_write(args, out, imgs, names, state, res, lm) -> int:
    from ganstudio.core.imageio import compose_grid

    single = out.suffix.lower() == ".png" and len(imgs) == 1 and not args.grid
    if single:
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(out, imgs[0], {**state, "z": res["z"], "wplus": res["wplus"]}, lm)
        print(out)
        return 0
    if args.grid and out.suffix.lower() == ".png":
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(out, compose_grid(imgs), {**state, "z": res["z"]}, lm)
        print(out)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        one = dict(state)
        if "seeds" in one:
            one["seeds"] = [state["seeds"][i]]
        one.pop("wplus", None)
        one.pop("z", None)
        if res["z"] is not None:
            one["z"] = res["z"][i:i + 1]
        else:
            one["wplus"] = res["wplus"][i:i + 1]
        _write(out / name, imgs[i], one, lm)
    if args.grid:
        _write(out / "grid.png", compose_grid(imgs), {**state, "z": res["z"]}, lm)
    print(f"{len(imgs)} image(s) in {out}")
    return 0


def _interpolate(args) -> int:
    from pathlib import Path

    from ganstudio.engines import latent as L

    try:
        lm = _open(args)
        klass = _checked_class(args, lm)
        seeds = L.parse_seeds(args.seeds)
        res = _run_with_bar(lambda c: L.interpolate(lm, seeds, args.steps, args.slerp, args.space,
                                                    args.truncation, args.noise, cancel=c, class_index=klass),
                            "frame")
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except (ValueError, OSError) as exc:
        return _err(exc)
    imgs, frames = res["images"], res["latents"]
    out = Path(args.output)
    base = {"seeds": seeds, "truncation": args.truncation, "noise": args.noise,
            "noise_seeds": [seeds[0]] * len(imgs), "runtime": res["runtime"], "class_index": klass}
    extra = {"interpolation": {"steps": args.steps, "slerp": args.slerp, "space": args.space}}
    problem = _output_problem(out, lm)
    if problem:
        return _err(problem)
    try:
        return _interpolate_write(args, out, imgs, frames, seeds, base, extra, lm)
    except OSError as exc:
        return _write_error(exc, out)


def _interpolate_write(args, out, imgs, frames, seeds, base, extra, lm) -> int:
    import numpy as np

    from ganstudio.engines.latent.recipe import state_to_recipe, write_png

    if out.suffix.lower() == ".png":
        out.parent.mkdir(parents=True, exist_ok=True)
        strip = np.concatenate(list(imgs), axis=1)
        write_png(out, strip, state_to_recipe(base, lm.sha256, lm.family, **extra))
        print(out)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(imgs):
        key = "z" if args.space == "z" else "wplus"
        st = {key: frames[i:i + 1], "truncation": args.truncation if key == "z" else 1.0, "noise": args.noise,
              "noise_seeds": [seeds[0]], "model": lm.path, "runtime": base["runtime"],
              "class_index": base["class_index"] if key == "z" else None}
        write_png(out / f"frame_{i:04d}.png", im, state_to_recipe(st, lm.sha256, lm.family, frame=i, **extra))
    print(f"{len(imgs)} frames in {out}")
    return 0


def _edit(args) -> int:
    from pathlib import Path

    from ganstudio.engines import latent as L
    from ganstudio.engines.latent import directions as D
    from ganstudio.engines.latent.jobs import shipped_directions

    try:
        lm = _open(args)
        klass = _checked_class(args, lm)
        strengths = {}
        for spec in args.direction:
            name, _, val = spec.partition("=")
            try:
                strengths[name.strip()] = float(val)
            except ValueError:
                return _err(f"--direction wants NAME=STRENGTH, got {spec!r}")
        layers = {}
        for spec in args.layers:
            name, _, rng = spec.partition("=")
            a, _, b = rng.partition(":")
            try:
                layers[name.strip()] = (int(a or 0), int(b) if b else -1)
            except ValueError:
                return _err(f"--layers wants NAME=START:STOP with whole numbers, got {spec!r}")
        shipped = None if args.directions else shipped_directions(args.model, lm)
        if args.directions:
            dirs = D.load_directions(args.directions, lm.sha256)
        elif shipped is not None and not any(n.startswith("sefa_") for n in strengths):
            dirs = shipped  # the named directions the model ships (models/manifest: "directions")
        else:
            dirs = D.sefa(lm, k=max(8, 1 + max((int(n.split("_")[-1]) for n in strengths
                                                 if n.startswith("sefa_") and n.split("_")[-1].isdigit()),
                                                default=0)), class_index=klass)
        own = {n: dirs.find(n) for n in [*strengths, *layers]}  # typed names -> the set's ("smile" -> "Smile")
        unknown = sorted(n for n in strengths if own[n] is None)
        if unknown:
            also = " (or sefa_0, sefa_1, ... computed on the fly)" if dirs is shipped else ""
            return _err(f"unknown direction(s) {', '.join(unknown)}; available: {', '.join(dirs.names)}{also}")
        strengths = {own[n]: v for n, v in strengths.items()}
        layers = {own[n] or n: v for n, v in layers.items()}
        state = {"seeds": [args.seed], "truncation": args.truncation, "noise": args.noise,
                 "edits": dirs.edits(strengths, layers), "class_index": klass}
        res = _run_with_bar(lambda c: L.render_state(state, cancel=c, model=lm), "img")
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except (ValueError, OSError) as exc:
        return _err(exc)
    state["runtime"] = res["runtime"]
    out = Path(args.output)
    problem = _output_problem(out, lm, folder_ok=False)
    if problem:
        return _err(problem)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(out, res["images"][0], state, lm)
    except OSError as exc:
        return _write_error(exc, out)
    print(out)
    return EXIT_OK
