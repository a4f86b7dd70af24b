"""Downloading model files: resumable, checksummed, bounded, cancellable, and honest when offline.

``download(url, dest, sha256=None, cancel=None, max_bytes=None)`` is a generator: it yields
``Progress(done_bytes, total_bytes, message)`` and returns the final path, so the GUI worker and the CLI's
tqdm bar drive the same code (``run_to_completion`` runs it plainly).

  * Data goes to ``<dest>.part``; the file appears under its real name only when complete and verified.
  * The partial file belongs to one URL and one version of the file: ``<dest>.part.json`` beside it records
    the URL and the server's validators (ETag, Last-Modified, length). A later call resumes it only for the
    same URL, with an HTTP ``Range`` request guarded by ``If-Range``, and only when the server answers with
    the same validators; otherwise the partial file is dropped and the download starts over. Two files with
    the same name are never spliced together.
  * A cut connection is resumed that way automatically up to ``retries`` times within one call, and by a
    later call (the ``.part`` stays) after that or after a cancel.
  * At most ``max_bytes`` are accepted (the manifest's size when it is known, else ``MAX_DOWNLOAD_BYTES``): a
    longer answer is refused and its partial file removed. With ``exact_size`` the finished file must have
    exactly that size.
  * With ``sha256`` the finished file is checked; a mismatch removes the partial file and raises.
  * Cancel acts within ``POLL`` seconds even while the server is silent: every blocking network call (connect,
    headers, each read) runs on a helper thread that the generator waits on in short slices.
  * No network: "cannot reach <host>: you seem to be offline". A malformed answer is one line too.
Only the standard library (urllib) is used.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import queue
import re
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Generator
from urllib.parse import urlparse

from ganstudio.core.errors import UserError
from ganstudio.core.files import iter_blocks, write_text_atomic
from ganstudio.core.progress import CancelToken, Progress

log = logging.getLogger(__name__)

USER_AGENT = "GANStudio-downloader/1"
CHUNK = 256 * 1024
POLL = 0.2                        # seconds between cancel checks while the network is silent
MAX_DOWNLOAD_BYTES = 4 << 30      # for a file of unknown size: larger than any checkpoint GAN Studio reads


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


def safe_file_name(name: str, fallback: str = "download.bin") -> str:
    """A plain file name from a URL's last segment: no folders, no leading dots (``%2e%2e`` decodes to
    ``..``), no control characters, at most 120 characters; ``fallback`` when nothing usable is left."""
    name = re.sub(r"[\x00-\x1f\x7f/\\:]+", "_", name or "").strip().lstrip(".").strip()
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 120 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:120]
    return name or fallback


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """"bytes 100-199/1000" -> (100, 1000); "bytes 100-199/*" -> (100, None)."""
    if not value or not value.lower().startswith("bytes "):
        return None
    try:
        span, _, total = value[6:].partition("/")
        start = int(span.split("-")[0])
        total_n = int(total) if total.strip() not in ("", "*") else None
    except ValueError:
        return None
    if start < 0 or (total_n is not None and total_n < 0):
        return None
    return start, total_n


def _offline(url: str, reason) -> OfflineError:
    host = urlparse(url).hostname or url
    return OfflineError(f"cannot reach {host}: you seem to be offline, or the server is down ({reason})")


# ------------------------------------------------------------------------------ the partial file's identity
def _validators(headers) -> dict:
    """What identifies one version of the file on the server."""
    length = headers.get("Content-Length")
    cr = _parse_content_range(headers.get("Content-Range"))
    total = cr[1] if cr is not None else (int(length) if length and length.isdigit() else None)
    return {"etag": headers.get("ETag") or "", "last_modified": headers.get("Last-Modified") or "",
            "length": total}


def _read_meta(meta: Path) -> dict:
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _if_range(meta: dict) -> str | None:
    """The If-Range value for resuming: a strong ETag, else Last-Modified (None: cannot resume safely)."""
    etag = str(meta.get("etag") or "")
    if etag and not etag.startswith("W/"):
        return etag
    return str(meta.get("last_modified") or "") or None


def _same_version(meta: dict, got: dict) -> bool:
    """The server's answer to a resume names the version the partial file came from."""
    for key in ("etag", "last_modified"):
        if meta.get(key) and got.get(key) and meta[key] != got[key]:
            return False
    if meta.get("length") is not None and got.get("length") is not None and meta["length"] != got["length"]:
        return False
    return True


def _drop_partial(part: Path, meta: Path) -> None:
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ network I/O off the caller
class _Fetch:
    """One HTTP request run on a helper thread: urlopen (connect, headers), then the body in pieces, all
    handed over through a small queue. The generator waits on the queue in ``POLL`` slices, so a cancel acts
    at once however long the server stays silent; the helper then ends at its next socket timeout and closes
    the connection itself (a response must not be closed from another thread while it reads)."""

    def __init__(self, req: urllib.request.Request, timeout: float, chunk_size: int) -> None:
        self.items: queue.Queue = queue.Queue(maxsize=4)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(req, timeout, chunk_size), daemon=True,
                                        name="ganstudio-download")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, req, timeout: float, chunk_size: int) -> None:
        resp = None
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
            if not self._put(("response", resp)):
                return
            read = getattr(resp, "read1", resp.read)  # read1: whatever has arrived, at most one socket read
            while not self.stop.is_set():
                block = read(chunk_size)
                if not self._put(("data", block)) or not block:
                    return
        except BaseException as exc:  # noqa: BLE001 - every failure travels to the caller, who words it
            self._put(("error", exc))
        finally:
            if resp is not None:
                resp.close()

    def next(self, cancel: CancelToken | None):
        """The next ("response" | "data" | "error", value); raises Cancelled when asked to."""
        while True:
            if cancel is not None:
                cancel.check()
            try:
                return self.items.get(timeout=POLL)
            except queue.Empty:
                continue

    def close(self) -> None:
        self.stop.set()


_CUT = (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError)


def download(url: str, dest, sha256: str | None = None, cancel: CancelToken | None = None,
             retries: int = 3, timeout: float = 30.0, chunk_size: int = CHUNK,
             headers: dict | None = None, max_bytes: int | None = None,
             exact_size: int | None = None) -> Generator[Progress, None, Path]:
    """Download ``url`` to ``dest`` (see the module docstring). Returns ``Path(dest)``."""
    dest = Path(dest)
    scheme = urlparse(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"only http and https downloads are supported, not {scheme or 'this address'}: {url}")
    if dest.name in ("", ".", "..") or dest.name != safe_file_name(dest.name, ""):
        raise DownloadError(f"{url}: {dest.name!r} is not a usable file name to download to")
    expected = (sha256 or "").strip().lower() or None
    limit = exact_size or max_bytes or MAX_DOWNLOAD_BYTES
    name = dest.name
    part = dest.with_name(dest.name + ".part")
    meta_path = dest.with_name(dest.name + ".part.json")
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

    meta = _read_meta(meta_path)
    if part.is_file() and (meta.get("url") != url or _if_range(meta) is None and meta.get("length") is None):
        log.info("%s: the partial file belongs to another address or version: starting again", name)
        _drop_partial(part, meta_path)
        meta = {}
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
            guard = _if_range(meta)
            if guard:  # the server sends the whole new file (200) instead of a range if it has changed
                req_headers["If-Range"] = guard
        fetch = _Fetch(urllib.request.Request(url, headers=req_headers), timeout, chunk_size)
        try:
            kind, value = fetch.next(cancel)
            if kind == "error":
                raise value
            resp = value
        except urllib.error.HTTPError as exc:
            fetch.close()
            exc.close()
            if exc.code == 416 and offset:  # our .part is as long as (or longer than) the file: start over
                if restarted:
                    raise DownloadError(f"{url}: the server refuses every byte range ({exc.code})") from exc
                _drop_partial(part, meta_path)
                offset, h, restarted, meta = 0, hashlib.sha256(), True, {}
                continue
            raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            fetch.close()
            reason = exc.reason
            if isinstance(reason, (ConnectionError, socket.gaierror, socket.timeout, TimeoutError, OSError)):
                if attempts < retries and isinstance(reason, (socket.timeout, TimeoutError, ConnectionResetError)):
                    attempts += 1
                    continue
                raise _offline(url, reason) from exc
            raise DownloadError(f"{url}: {reason}") from exc
        except (socket.timeout, TimeoutError, ConnectionError) as exc:
            fetch.close()
            if attempts < retries:
                attempts += 1
                continue
            raise _offline(url, exc) from exc
        except (http.client.HTTPException, ValueError, UnicodeError) as exc:  # a malformed status line, headers ...
            fetch.close()
            said = " ".join(str(exc).split())[:120]  # the server's bytes, on one line
            raise DownloadError(f"{url}: the server sent a malformed answer ({type(exc).__name__}: {said})") from exc
        except BaseException:  # Cancelled, KeyboardInterrupt
            fetch.close()
            raise

        try:
            status = getattr(resp, "status", 200)
            got = _validators(resp.headers)
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if offset and status == 206:
                cr = _parse_content_range(resp.headers.get("Content-Range"))
                if cr is None or cr[0] != offset:
                    raise DownloadError(f"{url}: the server resumed at the wrong place "
                                        f"({resp.headers.get('Content-Range')})")
                if not _same_version(meta, got):  # an If-Range the server ignored: the file changed
                    log.info("%s changed on the server since the partial download: starting again", name)
                    _drop_partial(part, meta_path)
                    offset, h, meta = 0, hashlib.sha256(), {}
                    fetch.close()
                    continue
                total = cr[1] if cr[1] is not None else (offset + length if length is not None else None)
                mode = "ab"
                log.info("resuming %s at byte %d", name, offset)
            else:
                if status != 200:
                    raise DownloadError(f"{url}: the server answered {status} {getattr(resp, 'reason', '')}".strip())
                if offset:
                    log.info("the server sends %s from the start (changed, or no resuming)", name)
                offset, h = 0, hashlib.sha256()
                total = length
                mode = "wb"
                meta = {"url": url, **got}
                write_text_atomic(meta_path, json.dumps(meta))
            if total is not None and total > limit:
                _drop_partial(part, meta_path)
                raise DownloadError(f"{name}: the server offers {_mb(total)}, more than the {_mb(limit)} "
                                    f"{'this model has' if exact_size or max_bytes else 'a model file may have'}; "
                                    "refused")
            yield Progress(offset, total or 0, _message(name, offset, total) + (" (resumed)" if mode == "ab" else ""))
            try:
                with open(part, mode) as out:
                    while True:
                        kind, value = fetch.next(cancel)
                        if kind == "error":
                            raise value
                        block = value
                        if not block:
                            break
                        if offset + len(block) > limit:
                            out.close()
                            _drop_partial(part, meta_path)
                            raise DownloadError(f"{name}: the server sent more than {_mb(limit)}, the size "
                                                f"{'of this model' if exact_size or max_bytes else 'limit'}; "
                                                "refused and removed")
                        out.write(block)
                        h.update(block)
                        offset += len(block)
                        yield Progress(offset, total or 0, _message(name, offset, total))
            except _CUT + (http.client.HTTPException,) as exc:
                if attempts < retries:
                    attempts += 1
                    log.info("%s: connection cut at byte %d (%s); resuming", name, offset, exc)
                    continue
                raise DownloadError(
                    f"{name}: the connection was cut at {_mb(offset)} ({str(exc) or type(exc).__name__}); run the "
                    "download again to resume") from exc
            except OSError as exc:
                raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from exc
        finally:
            fetch.close()

        if total is not None and offset < total:
            if attempts < retries:
                attempts += 1
                continue
            raise DownloadError(f"{name}: the server sent {_mb(offset)} of {_mb(total)}; run the download again to "
                                "resume")
        break

    if exact_size is not None and offset != exact_size:
        _drop_partial(part, meta_path)
        raise DownloadError(f"{name}: the server sent {_mb(offset)}, but this model is {_mb(exact_size)}; the "
                            "partial file was removed")
    got_sha = h.hexdigest()
    if expected and got_sha != expected:
        _drop_partial(part, meta_path)
        raise ChecksumError(
            f"{name}: the downloaded file does not match its sha256 (expected {expected[:16]}..., got "
            f"{got_sha[:16]}...); the partial file was removed. The server may have changed the file, or it was "
            "damaged on the way")
    os.replace(part, dest)
    meta_path.unlink(missing_ok=True)
    yield Progress(offset, total or offset, f"{name}: done")
    return dest
