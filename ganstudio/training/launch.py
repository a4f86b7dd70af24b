"""``python -m ganstudio.training.launch [torchrun options] -m ganstudio train ...``: torchrun, with the ranks'
exit code as its own.

torchrun (``torch.distributed.run``) ends with a traceback and exit code 1 whenever a rank exits non-zero,
so a run stopped on purpose (every rank: checkpoint written, exit 130) or refused (every rank: one error
line, exit 2) would look like a crash to whoever started it. Here, when every rank that failed ended with the
same positive code, that code is the launcher's; anything else is torchrun's own report. A Ctrl-C / SIGTERM
to the launcher itself is passed on to the ranks by torchrun (they stop with a checkpoint) and ends it with
128 + the signal's number (130 for Ctrl-C), as a shell reports a process stopped that way.

The Train tab starts multi-GPU runs through this (``workers.process_runner.train_command``).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(argv)
    except ChildFailedError as exc:
        codes = {f.exitcode for f in exc.failures.values()}
        if len(codes) == 1 and (code := codes.pop()) > 0:
            return code
        raise
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
