"""The one base class of errors whose text is written for the user.

Every engine, loader and core module raises a subclass of ``UserError`` (usually together with the
built-in type it always was, e.g. ``class CheckpointError(UserError, ValueError)``) when the input, a file
or the machine cannot serve a request: a truncated checkpoint, an unreadable image, a refused path. The
GUI shows such a message as it is; any other exception is a bug, shown with its type as a hint and logged
with its traceback. OSError (permission denied, disk full, no such file) is the machine talking, not a
bug, and is shown as it is too. No list of class names to keep in sync.
"""
from __future__ import annotations


class UserError(Exception):
    """An error whose message is meant for the user as it is (no exception type in front)."""


class InputError(UserError, ValueError):
    """A request or an input (path, option, file) that cannot be used, said in plain words."""


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, (UserError, OSError))


def user_message(exc: BaseException) -> str:
    """What the status line / message box says for ``exc``."""
    text = str(exc).strip()
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]  # KeyError's str() wraps its message in quotes
    if is_user_error(exc):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
