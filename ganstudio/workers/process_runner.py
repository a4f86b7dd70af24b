"""``ProcessRunner``: a training run in a child process, followed without blocking the GUI.

The Train tab runs every training as ``python -m ganstudio train ... --progress-json`` (or, for several
GPUs, ``python -m ganstudio.training.launch --nproc_per_node N -m ganstudio train ...``: torchrun, reporting
the ranks' own exit code; DDP cannot live in a QThread). A child process, not a worker thread, because

* closing the window can leave the run going ("keep training in the background"): the child is started in
  its own session / process group, its stdout and stderr go to files in the run folder
  (``progress.jsonl``, ``train.log``; see ``training.runs``), never to a pipe that would break when the
  window goes, and its stdin (the control channel) closing leaves it training;
* a reopened window can follow such a run again (``attach``): it reads the same files from their end.

The runner polls those files with a QTimer (every ``POLL_MS``; a read of the new bytes only), so nothing
blocks and no thread is needed. It emits the same kind of signals as a ``JobSlot``: ``progress(Progress)``
for every JSON line, then exactly one of ``finished(dict)`` (exit 0), ``cancelled()`` (stopped: exit 130,
a checkpoint was written) or ``failed(exception)`` (``TrainProcessError``, a UserError whose text is the
child's own ``error:`` line, or the end of its log). Control: ``pause()`` / ``resume()`` / ``stop()`` write
those words to the child's stdin (``ganstudio train --progress-json`` reads them; under torchrun rank 0 does,
and the ranks share its decision at every step, so all of them pause, or stop at the same step with one
checkpoint); a run followed with ``attach`` is stopped by SIGINT (the CLI's Ctrl-C: a checkpoint, then exit;
torchrun passes it on to its ranks), where the platform has it.

It imports neither torch nor training code that does: the child does the work.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal

from ganstudio.core.errors import UserError
from ganstudio.core.progress import Progress
from ganstudio.training import runs

log = logging.getLogger(__name__)

POLL_MS = 100
EXIT_OK, EXIT_REFUSED, EXIT_CANCELLED = 0, 2, 130


# children left training on their own: their Popen objects are kept for the life of the app (collecting one
# that still runs would only raise a ResourceWarning; the child is not tied to it either way)
_DETACHED: list[subprocess.Popen] = []


class TrainProcessError(UserError, RuntimeError):
    """The training process ended with an error; the message is its own last words."""


def train_command(args: list[str], nproc: int = 1, python: str = sys.executable) -> list[str]:
    """The child's command line: ``ganstudio train ARGS --progress-json``, under torchrun for nproc > 1
    (``ganstudio.training.launch``: its exit code is the ranks' own, 130 for a stop; only rank 0's output
    reaches the console: every rank reports the same steps)."""
    tail = ["-m", "ganstudio", "train", *map(str, args), "--progress-json"]
    if nproc <= 1:
        return [python, *tail]
    return [python, "-m", "ganstudio.training.launch", "--standalone", f"--nproc_per_node={int(nproc)}",
            "--local-ranks-filter=0", *tail]


class _Tail:
    """New complete lines of a file that another process appends to."""

    def __init__(self, path: Path, from_end: bool) -> None:
        self.path = path
        self.fh = None
        self.buf = b""
        self.offset = 0
        if from_end and path.is_file():
            self.offset = path.stat().st_size

    def lines(self) -> list[str]:
        if self.fh is None:
            try:
                self.fh = open(self.path, "rb")
            except OSError:
                return []
            self.fh.seek(self.offset)
        chunk = self.fh.read()
        if not chunk:
            return []
        self.buf += chunk
        *done, self.buf = self.buf.split(b"\n")
        return [d.decode("utf-8", errors="replace").rstrip("\r") for d in done]

    def rest(self) -> list[str]:
        out = self.lines()
        if self.buf:
            out.append(self.buf.decode("utf-8", errors="replace"))
            self.buf = b""
        return out

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def parse_line(line: str) -> Optional[Progress]:
    """A ``--progress-json`` line as Progress (None for any other line). torchrun may put a rank prefix
    in front ("[default0]:{...}"), so the JSON starts at the first brace."""
    i = line.find("{")
    if i < 0:
        return None
    try:
        msg = json.loads(line[i:])
    except ValueError:
        return None
    if not isinstance(msg, dict) or "done" not in msg:
        return None
    return Progress(float(msg.get("done") or 0), float(msg.get("total") or 0), str(msg.get("message", "")),
                    extra=dict(msg.get("extra") or {}))


class ProcessRunner(QObject):
    """One training child process at a time; see the module docstring."""

    progress = Signal(object)  # Progress, one per JSON line
    finished = Signal(object)  # {"run", "final", "step", "code"}
    failed = Signal(object)  # TrainProcessError
    cancelled = Signal()  # stopped (a checkpoint was written)
    log_line = Signal(str)  # the child's stderr lines (and stdout lines that are not progress)
    running_changed = Signal(bool)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.proc: Optional[subprocess.Popen] = None
        self.pid: Optional[int] = None
        self.run_dir: Optional[Path] = None
        self.nproc = 1
        self.attached = False  # following a run another window started: no stdin
        self.paused = False
        self.stop_asked = False
        self.last_step = 0
        self.last_error = ""
        self.final_line = ""
        self._log_tail: list[str] = []
        self._out: Optional[_Tail] = None
        self._err: Optional[_Tail] = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    # ------------------------------------------------------------------------------------------ start
    def is_running(self) -> bool:
        return self.pid is not None

    def start(self, args: list[str], run_dir, nproc: int = 1, env: Optional[dict] = None,
              command: Optional[list[str]] = None) -> int:
        """Start ``ganstudio train ARGS --progress-json`` (``command`` replaces the whole command line,
        for tests) for the run in ``run_dir``. Returns the child's pid."""
        if self.is_running():
            raise RuntimeError("a training process is already running in this runner")
        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
        cmd = list(command) if command is not None else train_command(args, nproc)
        child_env = dict(os.environ)
        child_env["PYTHONUNBUFFERED"] = "1"  # log lines reach train.log as they happen
        child_env.update(env or {})
        kwargs: dict = {}
        if os.name == "nt":  # pragma: no cover - Windows: no console window, out of the window's Ctrl-C group
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
        else:  # its own session: a terminal's Ctrl-C or hang-up aimed at the app does not stop the run
            kwargs["start_new_session"] = True
        out_path, err_path = run / runs.PROGRESS_FILE, run / runs.LOG_FILE
        err_start = err_path.stat().st_size if err_path.is_file() else 0
        with open(out_path, "wb") as out, open(err_path, "ab") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, env=child_env,
                                         **kwargs)
        self._begin(run, self.proc.pid, nproc, attached=False)
        self._out = _Tail(out_path, from_end=False)
        self._err = _Tail(err_path, from_end=False)
        self._err.offset = err_start
        runs.write_pid(run, self.proc.pid, cmd, nproc)
        log.info("training process %d started: %s", self.proc.pid, " ".join(cmd))
        return self.proc.pid

    def attach(self, run_dir) -> bool:
        """Follow a run that a process (started by an earlier window) is training now. False when no
        process trains it."""
        if self.is_running():
            raise RuntimeError("a training process is already running in this runner")
        run = Path(run_dir)
        rec = runs.read_pid(run)
        if rec is None or not runs.pid_alive(rec["pid"]):
            return False
        self.proc = None
        self._begin(run, rec["pid"], int(rec.get("nproc") or 1), attached=True)
        self._out = _Tail(run / runs.PROGRESS_FILE, from_end=True)
        self._err = _Tail(run / runs.LOG_FILE, from_end=True)
        return True

    def _begin(self, run: Path, pid: int, nproc: int, attached: bool) -> None:
        self.run_dir, self.pid, self.nproc, self.attached = run, pid, nproc, attached
        self.paused = self.stop_asked = False
        self.last_step, self.last_error, self.final_line = 0, "", ""
        self._log_tail = []
        self._timer.start()
        self.running_changed.emit(True)

    # ------------------------------------------------------------------------------------------ control
    def can_pause(self) -> bool:
        """Pause / resume go through the child's stdin, so not for a followed run (started by an earlier
        window). Under torchrun rank 0 reads them and every rank follows it."""
        return self.proc is not None

    def _send(self, word: str) -> bool:
        if self.proc is None or self.proc.stdin is None or self.proc.stdin.closed:
            return False
        try:
            self.proc.stdin.write(f"{word}\n".encode())
            self.proc.stdin.flush()
        except OSError:  # the child has just ended: its exit is reported by the poll
            return False
        return True

    def pause(self) -> bool:
        if self.can_pause() and self._send("pause"):
            self.paused = True
            return True
        return False

    def resume(self) -> bool:
        if self.can_pause() and self._send("resume"):
            self.paused = False
            return True
        return False

    def stop(self) -> bool:
        """Ask the run to stop after its current step, writing a checkpoint (the child exits with 130)."""
        if not self.is_running():
            return False
        self.stop_asked = True
        if self.can_pause():
            return self._send("stop")
        return self._interrupt()

    def _interrupt(self) -> bool:
        # the CLI's Ctrl-C: a checkpoint, then exit 130. torchrun passes it on to its ranks, which stop
        # together with one checkpoint (it gives them 30 s before it kills them)
        if os.name == "nt" or self.pid is None:  # pragma: no cover - no SIGINT for another console's process
            return False
        try:
            os.kill(self.pid, signal.SIGINT)
        except OSError:
            return False
        return True

    def detach(self) -> None:
        """Leave the child training on its own ("keep training in the background"): close its stdin
        (the CLI trains on), stop following it, keep the pid file so the next window lists it as running."""
        if not self.is_running():
            return
        self._timer.stop()
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self.proc is not None:
            _DETACHED.append(self.proc)
        log.info("training process %s left running in the background (%s)", self.pid, self.run_dir)
        self._close_tails()
        self.proc, self.pid = None, None
        self.running_changed.emit(False)

    def wait(self, timeout_s: float) -> bool:
        """Block until the child has ended (its end is then reported as usual). True if it ended. Only for
        shutdown: the GUI is not served while this waits."""
        deadline = time.monotonic() + timeout_s
        while self.is_running() and time.monotonic() < deadline:
            if self._ended() is not None:
                break
            time.sleep(0.05)
        self._poll()
        return not self.is_running()

    # ------------------------------------------------------------------------------------------ polling
    def _ended(self) -> Optional[int]:
        """The exit code when the child has ended (-1: ended, code unknown), else None."""
        if self.proc is not None:
            return self.proc.poll()
        if self.pid is not None and not runs.pid_alive(self.pid):
            return -1
        return None

    def _poll(self) -> None:
        if not self.is_running():
            self._timer.stop()
            return
        code = self._ended()  # before reading: the lines a child wrote before it ended are all read below
        self._read(final=code is not None)
        if code is not None:
            self._end(code)

    def _read(self, final: bool = False) -> None:
        if self._err is not None:
            for line in (self._err.rest() if final else self._err.lines()):
                if not line.strip():
                    continue
                if line.startswith("error:"):
                    self.last_error = line[len("error:"):].strip()
                self._log_tail = (self._log_tail + [line])[-20:]
                self.log_line.emit(line)
        if self._out is not None:
            for line in (self._out.rest() if final else self._out.lines()):
                p = parse_line(line)
                if p is None:
                    if line.strip():
                        self.final_line = line.strip()  # the CLI's last line: the final/ folder
                        self.log_line.emit(line)
                    continue
                step = p.extra.get("step")
                if isinstance(step, (int, float)):
                    self.last_step = int(step)
                self.progress.emit(p)

    def _end(self, code: int) -> None:
        self._timer.stop()
        run = self.run_dir
        attached, stop_asked = self.attached, self.stop_asked
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self._close_tails()
        self.proc, self.pid = None, None
        if attached:  # no exit code: the run folder says how it ended
            state = runs.run_state(run) or {}
            code = EXIT_OK if state.get("state") == "finished" else EXIT_CANCELLED if stop_asked else -1
        if code in (EXIT_OK, EXIT_CANCELLED, EXIT_REFUSED):
            runs.remove_pid(run)  # a clean end; a crash keeps it, so the run is listed as crashed
        self.running_changed.emit(False)
        if code == EXIT_OK:
            self.finished.emit({"run": str(run), "final": self.final_line or str(run / "final"),
                                "step": self.last_step, "code": code})
        elif code == EXIT_CANCELLED:
            self.cancelled.emit()
        else:
            if self.last_error:
                text = self.last_error
            else:
                tail = "\n".join(self._log_tail[-6:])
                how = f"with exit code {code}" if code != -1 else "unexpectedly"
                text = f"the training process ended {how}" + (f":\n{tail}" if tail else "")
            self.failed.emit(TrainProcessError(text))

    def _close_tails(self) -> None:
        for t in (self._out, self._err):
            if t is not None:
                t.close()
        self._out = self._err = None
