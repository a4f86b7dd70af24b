"""Command line: no arguments opens the GUI; subcommands run headless batch work.

Each subcommand lives in ``ganstudio/commands/<name>.py`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed args, returns an exit code). Commands import
torch and the engines only inside ``func`` so that ``ganstudio --help`` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = [
    "ganstudio.commands.gui",
    "ganstudio.commands.models",
    "ganstudio.commands.upscale",
    "ganstudio.commands.stylize",
    "ganstudio.commands.latent",  # sample, interpolate, edit
    "ganstudio.commands.synth",
    "ganstudio.commands.train",
]


def build_parser() -> argparse.ArgumentParser:
    from ganstudio import __version__

    parser = argparse.ArgumentParser(
        prog="ganstudio",
        description="GAN Studio: with no command, opens the app. The commands below run headless.",
    )
    parser.add_argument("--version", action="version", version=f"ganstudio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        from ganstudio.app import run_gui

        return run_gui([sys.argv[0]])
    return int(args.func(args) or 0)
