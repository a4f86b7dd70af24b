"""`ganstudio train`: train or fine-tune a network on your own folders; resumable.

    ganstudio train stylegan2|dcgan  --data DIR                 -o RUN [common]
    ganstudio train cyclegan|pix2pix --data-a DIR --data-b DIR  -o RUN [common]
    ganstudio train spade --labels DIR --images DIR [--instances DIR] --label-set ade20k|coco|cityscapes|N -o RUN
    ganstudio train esrgan --data DIR [--from x4plus]           -o RUN [common]
    ganstudio train --resume RUN [--steps N]

RUN/ holds config.json, checkpoints/ (the newest few), samples/ (a grid of fixed inputs every
--sample-every steps), metrics.jsonl (losses, FID / PSNR / SSIM) and, at the end, final/ with the
generator(s) in the official layouts. --steps is the run's total: `--resume RUN --steps 2000` continues
a run to step 2000. Ctrl-C (or SIGTERM) writes a checkpoint and exits with code 130; a second Ctrl-C stops
at once. Under `torchrun --nproc_per_node N ganstudio train ...` the same command trains on N processes
(DDP); a stop reaching any of them (Ctrl-C, SIGTERM, or 'stop' on rank 0's stdin with --progress-json)
stops all of them at the same step, with one checkpoint.
"""
from __future__ import annotations

TASK_CHOICES = ("stylegan2", "dcgan", "cyclegan", "pix2pix", "spade", "esrgan")


def register(sub) -> None:
    from ganstudio.commands.common import add_runtime_args

    p = sub.add_parser("train", help="train or fine-tune a GAN on your own image folders (resumable)",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=_raw_formatter())
    p.add_argument("task", nargs="?", choices=TASK_CHOICES, help="what to train")
    p.add_argument("-o", "--output", help="the run folder to create")
    p.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its newest checkpoint")
    g = p.add_argument_group("data")
    g.add_argument("--data", help="image folder (stylegan2, dcgan, esrgan)")
    g.add_argument("--data-a", dest="data_a", help="domain A folder (cyclegan) / input images (pix2pix)")
    g.add_argument("--data-b", dest="data_b", help="domain B folder (cyclegan) / target images (pix2pix), "
                                                   "matched to A by file name")
    g.add_argument("--labels", help="label maps (spade): indexed or grey PNGs of label ids")
    g.add_argument("--images", help="photos (spade), matched to the label maps by file name")
    g.add_argument("--instances", help="instance maps (spade, optional)")
    g.add_argument("--label-set", dest="label_set", help="ade20k, coco, cityscapes, or a number of labels")
    g.add_argument("--holdout", type=int, help="images kept out of training for samples and metrics")
    c = p.add_argument_group("common")
    c.add_argument("--from", dest="from_model", metavar="MODEL",
                   help="start from this checkpoint or model id (fine-tuning); default: from scratch")
    c.add_argument("--steps", type=int, help="total training steps of the run")
    c.add_argument("--batch", type=int, help="images per step (the global batch, across processes)")
    c.add_argument("--size", type=int, help="training resolution (crop side)")
    c.add_argument("--lr", type=float, help="learning rate")
    c.add_argument("--seed", type=int, help="random seed (same seed, same run)")
    c.add_argument("--objective", choices=["nonsaturating", "lsgan", "hinge", "wgan-gp"],
                   help="adversarial loss (stylegan2, dcgan; others keep their official one unless set)")
    c.add_argument("--augment", choices=["none", "diffaug", "ada"], help="augmentation for small data sets")
    c.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, help="steps between checkpoints")
    c.add_argument("--sample-every", dest="sample_every", type=int, help="steps between sample grids")
    c.add_argument("--log-every", dest="log_every", type=int, help="steps between metrics.jsonl lines")
    c.add_argument("--keep", type=int, help="newest checkpoints to keep (default 3)")
    c.add_argument("--workers", type=int, help="data loading processes (default 0: in the main process)")
    c.add_argument("--no-metrics", dest="metrics", action="store_false", default=None,
                   help="skip FID / PSNR / SSIM at checkpoints")
    c.add_argument("--metric-samples", dest="metric_samples", type=int, help="images per FID evaluation")
    c.add_argument("--arch", action="append", metavar="KEY=VALUE", help="network size, e.g. ngf=32 (repeatable)")
    c.add_argument("--option", action="append", metavar="KEY=VALUE", help="recipe option (repeatable)")
    c.add_argument("--config", metavar="FILE", help="settings as JSON or YAML, the same keys as these flags")
    c.add_argument("--progress-json", action="store_true",
                   help="print progress as JSON lines on stdout and take 'pause' / 'resume' / 'stop' lines on "
                        "stdin (the Train tab's process runner; under torchrun rank 0 reads them for every "
                        "rank); stdin closing changes nothing")
    add_runtime_args(c)
    p.set_defaults(func=_run)


def _raw_formatter():
    import argparse

    return argparse.RawDescriptionHelpFormatter


_KEYS = ("task", "output", "data", "data_a", "data_b", "labels", "images", "instances", "label_set", "holdout",
         "from_model", "steps", "batch", "size", "lr", "seed", "objective", "augment", "checkpoint_every",
         "sample_every", "log_every", "keep", "workers", "metrics", "metric_samples", "device", "precision")


def build_config(args) -> dict:
    """Settings from --config, then the flags given on the command line (which win)."""
    from ganstudio.training.config import parse_assignments, read_config_file

    values: dict = read_config_file(args.config) if args.config else {}
    for key in _KEYS:
        v = getattr(args, key, None)
        # --device / --precision default to "auto": that default must not override a config file's choice
        default_auto = key in ("device", "precision") and v == "auto"
        if v is not None and not (default_auto and key in values):
            values[key] = v
    if args.arch:
        values["arch"] = {**values.get("arch", {}), **parse_assignments(args.arch)}
    if args.option:
        values["options"] = {**values.get("options", {}), **parse_assignments(args.option)}
    return values


def _emit_json(p, stream) -> None:
    import json

    extra = {k: v for k, v in (p.extra or {}).items() if isinstance(v, (int, float, str, list, dict, type(None)))}
    stream.write(json.dumps({"done": p.done, "total": p.total, "message": p.message, "extra": extra},
                            default=float) + "\n")
    stream.flush()


def _control_from_stdin(token) -> None:
    """--progress-json: the parent process steers the run with lines on stdin (pause / resume / stop).
    End of input (the parent closed the pipe or went away) leaves the run going: it trains to the end.
    Under torchrun the ranks share one stdin, so only rank 0 reads it (a line read by another rank would be
    lost to rank 0); the loop shares rank 0's decision with the others at every step."""
    import sys
    import threading

    def read() -> None:
        for line in sys.stdin:
            cmd = line.strip().lower()
            if cmd == "pause":
                token.pause()
            elif cmd == "resume":
                token.resume()
            elif cmd == "stop":
                token.cancel()

    threading.Thread(target=read, name="train-control", daemon=True).start()


def _run(args) -> int:
    import os
    import signal
    import sys

    from ganstudio.commands.common import EXIT_CANCELLED, ProgressBar, error, handled
    from ganstudio.core.progress import CancelToken, Cancelled, run_to_completion
    from ganstudio.runtime import resolve_runtime

    if not args.resume and not args.task and not args.config:
        return error("say what to train (stylegan2, dcgan, cyclegan, pix2pix, spade, esrgan) or --resume RUN")
    if args.resume and args.task:
        return error("--resume continues a run with its own settings: give no task with it")
    token = CancelToken()
    try:
        resolve_runtime(args.device, args.precision, strict=True)  # --device cuda without CUDA: refused
    except Exception as exc:  # noqa: BLE001 - DeviceError is a UserError: one line
        return error(exc)

    def on_sigint(signum, frame):
        if token.cancelled:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        print("\nstopping after this step (writing a checkpoint); Ctrl-C again to stop at once", file=sys.stderr)
        token.cancel()

    def on_sigterm(signum, frame):
        # the first Ctrl-C's stop (a checkpoint, exit 130), never "stop at once": torchrun ends its ranks with
        # SIGTERM (or passes a Ctrl-C on) and escalates to SIGKILL by itself if they do not go in time
        if not token.cancelled:
            print("\nstopping after this step (writing a checkpoint)", file=sys.stderr)
            token.cancel()

    ranks = int(os.environ.get("WORLD_SIZE", "1") or 1)
    previous = signal.signal(signal.SIGINT, on_sigint)
    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    if args.progress_json and int(os.environ.get("RANK", "0") or 0) == 0:
        _control_from_stdin(token)
    bar = None if args.progress_json else ProgressBar(unit="step")
    on_progress = (lambda p: _emit_json(p, sys.stdout)) if args.progress_json else bar
    try:
        from ganstudio.training.loop import train

        with handled(bar) as outcome:
            if args.resume:
                gen = train(resume=args.resume, steps=args.steps, cancel=token)
            else:
                gen = train(config=build_config(args), cancel=token)
            try:
                result = run_to_completion(gen, on_progress)
            except Cancelled as exc:
                if bar is not None:
                    bar.close()
                run = getattr(exc, "run", None)
                if run:
                    print(f"stopped at step {getattr(exc, 'step', '?')}; checkpoint written. "
                          f"Continue with: ganstudio train --resume {run}", file=sys.stderr)
                outcome.code = EXIT_CANCELLED
                return outcome.code
            metrics = ", ".join(f"{k} {v}" for k, v in (result.get("metrics") or {}).items())
            if bar is not None:
                bar.close()
            print(f"trained to step {result['step']}" + (f" ({metrics})" if metrics else ""), file=sys.stderr)
            print(result["final"])
        return outcome.code
    finally:
        signal.signal(signal.SIGINT, previous)
        # a rank of a run that ended lets torchrun's SIGTERM (sent when another rank exits first) pass, so its
        # own exit code is the one torchrun reports
        signal.signal(signal.SIGTERM, previous_term if ranks <= 1 else signal.SIG_IGN)
