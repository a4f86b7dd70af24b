"""`ganstudio gui [FILE...]`: open the app (the same as plain `ganstudio`), optionally with files."""


def register(sub) -> None:
    p = sub.add_parser("gui", help="open the app (default when no command is given)")
    p.add_argument("files", nargs="*", help="images to open")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import sys

    from ganstudio.app import run_gui

    return run_gui([sys.argv[0]], files=args.files)
