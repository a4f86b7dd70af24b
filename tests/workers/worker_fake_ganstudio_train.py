"""A stand-in for ``ganstudio train --progress-json`` (no torch: starts in a blink), for the process runner tests.

    python worker_fake_ganstudio_train.py RUN STEPS [--gate FILE] [--fail-at N] [--refuse]

(the word "ganstudio" in its file name: the runs list recognises a training process by its command line)

Speaks the same protocol: JSON progress lines on stdout, 'pause' / 'resume' / 'stop' on stdin or SIGINT
(stop writes ``RUN/checkpoints/step_N.pt`` and exits 130; end of stdin changes nothing), 'error: ...' on stderr with exit
2 when refusing, a non-JSON last line (the final folder) on success. Steps advance only when the test lets
them: each step waits for the file ``--gate`` to hold a number >= the step (so no test depends on speed).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("steps", type=int)
    ap.add_argument("--gate", help="a file holding the highest step the child may reach")
    ap.add_argument("--fail-at", type=int, default=0)
    ap.add_argument("--refuse", action="store_true")
    args = ap.parse_args()
    run = Path(args.run)
    if args.refuse:
        print("some warning before the error", file=sys.stderr)
        print("error: the training images folder /nowhere does not exist", file=sys.stderr)
        return 2
    running, stop = threading.Event(), threading.Event()
    running.set()
    received: list[str] = []

    def control() -> None:
        for line in sys.stdin:
            word = line.strip()
            received.append(word)
            if word == "pause":
                running.clear()
            elif word == "resume":
                running.set()
            elif word == "stop":
                stop.set()
                running.set()
            emit(0, {"phase": "control", "word": word, "received": list(received)})

    lock = threading.Lock()

    def emit(step: int, extra: dict) -> None:
        line = json.dumps({"done": step, "total": args.steps, "message": f"step {step}", "extra": extra}) + "\n"
        with lock:  # one write per line: the control thread reports too
            sys.stdout.write(line)
            sys.stdout.flush()

    def on_sigint(signum, frame) -> None:
        stop.set()
        running.set()

    signal.signal(signal.SIGINT, on_sigint)
    threading.Thread(target=control, daemon=True).start()
    emit(0, {"phase": "data", "data": "3 images"})
    step = 0
    while step < args.steps:
        running.wait()
        if stop.is_set():
            (run / "checkpoints").mkdir(parents=True, exist_ok=True)
            (run / "checkpoints" / f"step_{step:07d}.pt").write_bytes(b"x")
            print(f"stopped at step {step}", file=sys.stderr, flush=True)
            return 130
        if args.gate:
            try:
                allowed = int(Path(args.gate).read_text() or 0)
            except (OSError, ValueError):
                allowed = 0
            if step >= allowed:
                time.sleep(0.01)
                continue
        step += 1
        if step == args.fail_at:
            print("Traceback (most recent call last):\nRuntimeError: boom", file=sys.stderr, flush=True)
            return 1
        emit(step, {"phase": "train", "step": step, "losses": {"g": 1.0 / step, "d": 0.5}, "it_s": 10.0})
    (run / "final").mkdir(parents=True, exist_ok=True)
    print(run / "final", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
