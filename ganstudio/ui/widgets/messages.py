"""``user_message``: a worker failure as a user reads it; ``drop_path``: name a file once.

Failures arrive as exception objects (``workers.jobs.JobSlot.failed``). Errors written for users share one
base class (``core.errors.UserError``; OSError is the machine talking) and are shown as they are; anything
else is a bug and keeps its type name as a hint. No list of class names to keep in sync."""
from __future__ import annotations

from pathlib import Path

from ganstudio.core import errors


def user_message(failure: "BaseException | str") -> str:
    if isinstance(failure, BaseException):
        return errors.user_message(failure)
    return str(failure)


def drop_path(msg: str, path: str) -> str:
    """``msg`` without a leading 'PATH: ' or 'NAME: ' (the status line names the file once)."""
    for prefix in (f"{path}: ", f"{Path(path).name}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg
