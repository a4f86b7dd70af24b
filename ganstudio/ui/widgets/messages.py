"""``user_message``: a worker failure as a user reads it.

The engine worker reports failures as ``"ExceptionType: text"``. For the errors whose text is already
written for users (unreadable images, bad checkpoints, refused paths) the type name is noise
("Failed: CheckpointError: x.pth is truncated…"); for anything else (a bug) it stays, as a hint."""
from __future__ import annotations

import re

USER_FACING = ("ImageReadError", "CheckpointError", "ValueError", "FileNotFoundError", "PermissionError",
               "NotADirectoryError", "IsADirectoryError", "FileExistsError", "OSError")
_PREFIX = re.compile(r"^(" + "|".join(USER_FACING) + r"): (?=\S)")


def user_message(msg: str) -> str:
    return _PREFIX.sub("", str(msg), count=1)
