"""One pinned sdist from a package index, checked against its sha256 and never run.

``pip download`` of an sdist prepares its metadata, running the archive's build backend,
before any check of ours; so the archive is fetched here as plain bytes instead: the
index's PEP 503 page is read for the file's link, the file is downloaded, and the bytes
come back only when their sha256 is the pinned one.  Nothing in the archive is executed
or extracted, whatever the index serves.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO

from rnngen.errors import RnngenError

PYPI_SIMPLE = "https://pypi.org/simple"
_TIMEOUT_S = 30
# Far above any sdist rnngen pins; bounds what a hostile server (or file:///dev/zero) can send.
_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class PinnedSdist:
    """An sdist known by name, version and the sha256 of its ``.tar.gz``."""

    project: str
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.project}-{self.version}.tar.gz"


def read_local_sdist(path: Path, pin: PinnedSdist) -> bytes:
    """The bytes of a local copy of ``pin``; refused unless its sha256 matches."""
    try:
        with open(path, "rb") as f:
            data = _read_capped(f, str(path))
    except OSError as e:
        raise RnngenError(f"cannot read {path}: {e.strerror or e}") from None
    _check_sha256(data, pin, str(path))
    return data


def download_sdist(pin: PinnedSdist, progress: Callable[[str], None] | None = None) -> bytes:
    """Download ``pin`` from :func:`index_url`'s simple page; refused unless its sha256 matches."""
    index = index_url()
    if progress:
        progress(f"downloading {pin.filename} from {_shown(index)}")
    page_url = f"{index.rstrip('/')}/{urllib.parse.quote(pin.project)}/"
    page = _fetch(page_url, pin, index).decode("utf-8", errors="replace")
    file_url = _find_link(page, page_url, pin.filename)
    if file_url is None:
        raise RnngenError(f"the package index {_shown(index)} does not list {pin.filename}")
    data = _fetch(file_url, pin, index)
    _check_sha256(data, pin, f"downloaded {pin.filename}")
    return data


def index_url() -> str:
    """The index pip would use: ``$PIP_INDEX_URL``, else ``index-url`` in pip's configuration, else PyPI."""
    return os.environ.get("PIP_INDEX_URL", "").strip() or _pip_configured_index() or PYPI_SIMPLE


def _pip_configured_index() -> str | None:
    """``download.index-url`` or ``global.index-url`` from ``pip config list``; None without pip."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = {}
    for line in done.stdout.splitlines():  # lines look like: global.index-url='https://...'
        key, sep, value = line.partition("=")
        section, _, name = key.strip().rpartition(".")
        if sep and name == "index-url":
            found[section] = value.strip().strip("'\"")
    return found.get("download") or found.get("global")


def _check_sha256(data: bytes, pin: PinnedSdist, what: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != pin.sha256:
        raise RnngenError(f"{what} has sha256 {digest}, expected {pin.sha256} ({pin.filename}); refusing to use it")


def _fetch(url: str, pin: PinnedSdist, index: str) -> bytes:
    """The bytes at an http(s) or file URL (a file: folder means its index.html, as pip reads it)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise RnngenError(f"the package index {_shown(index)} links {pin.filename} to a {scheme!r} URL")
    try:
        if scheme == "file":
            path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
            with open(path / "index.html" if path.is_dir() else path, "rb") as f:
                return _read_capped(f, url)
        request = urllib.request.Request(url, headers={"Accept": "text/html", "User-Agent": "rnngen"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            return _read_capped(response, url)
    except urllib.error.HTTPError as e:
        raise RnngenError(f"could not download {pin.filename}: {_shown(url)} answered HTTP {e.code}") from None
    except (OSError, http.client.HTTPException, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise RnngenError(
            f"could not download {pin.filename} from {_shown(index)} ({reason}); "
            "check the network connection (are you offline?) and try again"
        ) from None


def _read_capped(stream: BinaryIO, what: str) -> bytes:
    data = stream.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise RnngenError(f"{_shown(what)} is larger than {_MAX_BYTES // 2**20} MiB; not the expected sdist")
    return data


class _Links(HTMLParser):
    """The href of every ``<a>`` on a PEP 503 page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _find_link(page: str, page_url: str, filename: str) -> str | None:
    """The absolute URL of the link whose file name is ``filename`` (its #sha256= fragment dropped)."""
    parser = _Links()
    parser.feed(page)
    for href in parser.hrefs:
        url = urllib.parse.urldefrag(urllib.parse.urljoin(page_url, href)).url
        if urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1]) == filename:
            return url
    return None


def _shown(url: str) -> str:
    """``url`` without user:password, fit for an error message."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
