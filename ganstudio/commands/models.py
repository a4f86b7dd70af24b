"""`ganstudio models`: list the known models; `models import FILE`; `models download ID|URL`."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("models", help="list known models; import a checkpoint; download a listed model",
                       description="With no action: a table of every model in models/manifest and your library.")
    p.set_defaults(func=_list, task=None)
    msub = p.add_subparsers(dest="models_action", metavar="ACTION")

    pl = msub.add_parser("list", help="the table of models (the default)")
    pl.add_argument("--task", help="only this task (upscale, stylize, latent, paint)")
    pl.set_defaults(func=_list)

    pi = msub.add_parser("import", help="copy a checkpoint file into your model library")
    pi.add_argument("file", help="a .pth / .pt / .safetensors checkpoint")
    pi.add_argument("--id", dest="model_id", help="the id to give it (default: user.<file name>)")
    pi.add_argument("--task", help="override the task the architecture suggests")
    pi.add_argument("--license", default="", help="its license, for your own records")
    pi.set_defaults(func=_import)

    pd = msub.add_parser("download", help="download a listed model (by id) or a checkpoint URL")
    pd.add_argument("target", help="a model id from `ganstudio models`, or an http(s) URL")
    pd.add_argument("--sha256", help="expected checksum (for a URL)")
    pd.set_defaults(func=_download)

    pr = msub.add_parser("remove", help="forget a model you imported (and delete the library's copy of it)")
    pr.add_argument("model_id", help="a user.* id from `ganstudio models`")
    pr.set_defaults(func=_remove)


def _short(text: str, width: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def format_table(rows: list[dict], license_width: int = 40) -> str:
    from ganstudio.core.manifest import format_size

    header = ["id", "aliases", "task", "arch", "size", "license", "present"]
    body = [[r["id"], ",".join(r.get("aliases") or []) or "-", r["task"] or "-", r["arch"] or "-",
             format_size(r["size_bytes"]), _short(r["license"], license_width) or "-",
             "yes" if r["present"] else "no"] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _list(args) -> int:
    from ganstudio.core.manifest import entries_as_rows, load_manifest
    from ganstudio.core.paths import bundled_manifest_dir, user_models_dir

    problems: list[str] = []
    entries = load_manifest(problems=problems)
    for line in problems:  # a broken manifest or library file: one line each, the rest is still listed
        print(f"warning: {line}", file=sys.stderr)
    if getattr(args, "task", None):
        entries = [e for e in entries if e.task == args.task]
    if not entries:
        print(f"no models known yet (manifests: {bundled_manifest_dir()}, library: {user_models_dir()})")
        return 0
    print(format_table(entries_as_rows(entries)))
    return 0


def _drive(gen, desc: str):
    """Run a Progress generator with a tqdm bar (bytes); returns its result."""
    from tqdm import tqdm

    from ganstudio.core.progress import run_to_completion

    bar = None

    def show(p) -> None:
        nonlocal bar
        total = int(p.total) if p.total else None
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                       file=sys.stderr, leave=True)
        if total and bar.total != total:
            bar.total = total
        bar.n = int(p.done)
        bar.set_postfix_str(p.message[-40:], refresh=False)
        bar.refresh()

    try:
        return run_to_completion(gen, show)
    finally:
        if bar is not None:
            bar.close()


def _import(args) -> int:
    from ganstudio.checkpoints.library_jobs import import_checkpoint
    from ganstudio.core.errors import UserError
    from ganstudio.core.progress import CancelToken

    try:
        entry = _drive(import_checkpoint(CancelToken(), path=args.file, model_id=args.model_id, task=args.task,
                                         license=args.license), "import")
    except (UserError, OSError) as exc:  # an unusable file, a broken or locked library, a full disk ...
        if isinstance(exc, OSError) and exc.strerror:  # e.g. a read-only model library
            exc = f"cannot write {exc.filename or 'the model library'}: {exc.strerror}"
        print(f"ganstudio models import: {exc}", file=sys.stderr)
        return 1
    print(f"imported {args.file} as {entry.id} (arch {entry.arch}, task {entry.task})")
    return 0


def _download(args) -> int:
    from ganstudio.checkpoints.library_jobs import download_model
    from ganstudio.core.errors import UserError, user_message
    from ganstudio.core.manifest import entry_path
    from ganstudio.core.progress import CancelToken

    target = args.target
    kwargs = {"url": target, "sha256": args.sha256} if target.startswith(("http://", "https://")) else {
        "model_id": target}
    try:
        entry = _drive(download_model(CancelToken(), **kwargs), "download")
    except (UserError, ValueError, OSError) as exc:  # offline, refused, unknown id, broken library ...
        print(f"ganstudio models download: {user_message(exc)}", file=sys.stderr)
        return 1
    where = entry_path(entry)
    print(f"{entry.id}: {'present at ' + str(where) if where else 'missing'}")
    return 0 if where else 1


def _remove(args) -> int:
    from ganstudio.core.errors import UserError
    from ganstudio.core.library import remove_from_library

    try:
        removed = remove_from_library(args.model_id)
    except (UserError, OSError) as exc:  # a broken or locked library file
        print(f"ganstudio models remove: {exc}", file=sys.stderr)
        return 1
    if removed:
        print(f"removed {args.model_id} from your library")
        return 0
    print(f"ganstudio models remove: {args.model_id} is not in your library (only imported models can be removed)",
          file=sys.stderr)
    return 1
