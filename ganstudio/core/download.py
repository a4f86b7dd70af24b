"""Downloading model files: resumable, checksummed, cancellable, and honest when offline.

``download(url, dest, sha256=None, cancel=None)`` is a generator: it yields ``Progress(done_bytes,
total_bytes, message)`` and returns the final path, so the GUI worker and the CLI's tqdm bar drive the
same code (``run_to_completion`` runs it plainly).

  * Data goes to ``<dest>.part``; the file appears under its real name only when complete and verified.
  * A cut connection is resumed with an HTTP ``Range`` request, automatically up to ``retries`` times
    within one call, and by a later call (the ``.part`` file stays) after that or after a cancel.
  * With ``sha256`` the finished file is checked; a mismatch removes the partial file and raises.
  * No network: "cannot reach <host>: you seem to be offline".
Only the standard library (urllib) is used.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Generator
from urllib.parse import urlparse

from ganstudio.core.errors import UserError
from ganstudio.core.files import iter_blocks
from ganstudio.core.progress import CancelToken, Progress

log = logging.getLogger(__name__)

USER_AGENT = "GANStudio-downloader/1"
CHUNK = 256 * 1024


class DownloadError(UserError, RuntimeError):
    """A download that failed, with a message for the user."""


class OfflineError(DownloadError):
    """The server could not be reached at all."""


class ChecksumError(DownloadError):
    """The downloaded bytes are not the expected file (partial file removed)."""


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _message(name: str, done: int, total: int | None) -> str:
    return f"{name}: {_mb(done)} of {_mb(total)}" if total else f"{name}: {_mb(done)}"


def _hash_file(path: Path, h, cancel: CancelToken | None) -> None:
    for block in iter_blocks(path, cancel=cancel):
        h.update(block)


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """"bytes 100-199/1000" -> (100, 1000); "bytes 100-199/*" -> (100, None)."""
    if not value or not value.lower().startswith("bytes "):
        return None
    try:
        span, _, total = value[6:].partition("/")
        start = int(span.split("-")[0])
        return start, (int(total) if total.strip() not in ("", "*") else None)
    except ValueError:
        return None


def _offline(url: str, reason) -> OfflineError:
    host = urlparse(url).hostname or url
    return OfflineError(f"cannot reach {host}: you seem to be offline, or the server is down ({reason})")


def download(url: str, dest, sha256: str | None = None, cancel: CancelToken | None = None,
             retries: int = 3, timeout: float = 30.0, chunk_size: int = CHUNK,
             headers: dict | None = None) -> Generator[Progress, None, Path]:
    """Download ``url`` to ``dest`` (see the module docstring). Returns ``Path(dest)``."""
    dest = Path(dest)
    scheme = urlparse(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"only http and https downloads are supported, not {scheme or 'this address'}: {url}")
    expected = (sha256 or "").strip().lower() or None
    name = dest.name
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the folder {dest.parent}: {exc.strerror or exc}") from exc

    if dest.is_file() and expected:
        h = hashlib.sha256()
        _hash_file(dest, h, cancel)
        if h.hexdigest() == expected:
            size = dest.stat().st_size
            yield Progress(size, size, f"{name}: already downloaded")
            return dest
        log.info("%s exists but its checksum differs: downloading again", dest)

    h = hashlib.sha256()
    offset = part.stat().st_size if part.is_file() else 0
    if offset:
        _hash_file(part, h, cancel)  # the resumed bytes count toward the checksum
    total: int | None = None
    attempts = 0
    restarted = False
    while True:
        if cancel is not None:
            cancel.check()
        req_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        req_headers.update(headers or {})
        if offset:
            req_headers["Range"] = f"bytes={offset}-"
        req = urllib.request.Request(url, headers=req_headers)
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # our .part is as long as (or longer than) the file: start over
                exc.close()
                if restarted:
                    raise DownloadError(f"{url}: the server refuses every byte range ({exc.code})") from exc
                part.unlink(missing_ok=True)
                offset, h, restarted = 0, hashlib.sha256(), True
                continue
            exc.close()
            raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (ConnectionError, socket.gaierror, socket.timeout, TimeoutError, OSError)):
                if attempts < retries and isinstance(reason, (socket.timeout, TimeoutError, ConnectionResetError)):
                    attempts += 1
                    time.sleep(min(2.0, 0.25 * attempts))
                    continue
                raise _offline(url, reason) from exc
            raise DownloadError(f"{url}: {reason}") from exc
        except (socket.timeout, TimeoutError, ConnectionError) as exc:
            if attempts < retries:
                attempts += 1
                continue
            raise _offline(url, exc) from exc

        with resp:
            status = getattr(resp, "status", 200)
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if offset and status == 206:
                cr = _parse_content_range(resp.headers.get("Content-Range"))
                if cr is None or cr[0] != offset:
                    raise DownloadError(f"{url}: the server resumed at the wrong place ({resp.headers.get('Content-Range')})")
                total = cr[1] if cr[1] is not None else (offset + length if length is not None else None)
                mode = "ab"
                log.info("resuming %s at byte %d", name, offset)
            else:
                if offset:
                    log.info("the server does not resume downloads: starting %s again", name)
                offset, h = 0, hashlib.sha256()
                total = length
                mode = "wb"
            yield Progress(offset, total or 0, _message(name, offset, total) + (" (resumed)" if mode == "ab" else ""))
            try:
                with open(part, mode) as out:
                    while True:
                        if cancel is not None:
                            cancel.check()
                        block = resp.read(chunk_size)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        offset += len(block)
                        yield Progress(offset, total or 0, _message(name, offset, total))
            except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError,
                    http.client.HTTPException) as exc:
                if attempts < retries:
                    attempts += 1
                    log.info("%s: connection cut at byte %d (%s); resuming", name, offset, exc)
                    continue
                raise DownloadError(
                    f"{name}: the connection was cut at {_mb(offset)} ({exc}); run the download again to resume"
                ) from exc
            except OSError as exc:
                raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from exc

        if total is not None and offset < total:
            if attempts < retries:
                attempts += 1
                continue
            raise DownloadError(f"{name}: the server sent {_mb(offset)} of {_mb(total)}; run the download again to resume")
        break

    got = h.hexdigest()
    if expected and got != expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{name}: the downloaded file does not match its sha256 (expected {expected[:16]}..., got {got[:16]}...); "
            "the partial file was removed. The server may have changed the file, or it was damaged on the way")
    os.replace(part, dest)
    yield Progress(offset, total or offset, f"{name}: done")
    return dest
