"""``user_message``: a worker failure as a user reads it.

The engine worker reports failures as ``"ExceptionType: text"``. For the errors whose text is already
written for users (unreadable images, bad checkpoints, refused paths) the type name is noise
("Failed: CheckpointError: x.pth is truncated…"); for anything else (a bug) it stays, as a hint."""
from __future__ import annotations

import re
from pathlib import Path

USER_FACING = ("ImageReadError", "ImageWriteError", "CheckpointError", "ValueError", "FileNotFoundError",
               "PermissionError", "NotADirectoryError", "IsADirectoryError", "FileExistsError", "OSError",
               # the engines' own errors, whose texts are written for users
               "LatentError", "DirectionsError", "RecipeError", "LabelMapError", "PaintError")
_PREFIX = re.compile(r"^(" + "|".join(USER_FACING) + r"): (?=\S)")


def user_message(msg: str) -> str:
    return _PREFIX.sub("", str(msg), count=1)


def drop_path(msg: str, path: str) -> str:
    """``msg`` without a leading 'PATH: ' or 'NAME: ' (the status line names the file once)."""
    for prefix in (f"{path}: ", f"{Path(path).name}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg
