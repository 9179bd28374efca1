"""Tests for fcnlib.download against a local HTTP server on 127.0.0.1 and hand-made archives.

The server serves fixture bytes in several manners chosen by the URL's first path part:
``range`` honours Range requests, ``plain`` ignores them, ``drop`` cuts the first transfer halfway,
``flaky`` answers 503 once, ``wrong`` serves other bytes, ``portal`` a sign-in web page (text/html),
``sniff`` a web page labelled as binary data, ``empty`` nothing; any other path is a 404.
"""

import hashlib
import http.server
import io
import os
import shutil
import tarfile
import threading
import time
import zipfile

import pytest

from fcnlib import config
from fcnlib import download as dl

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes, several chunks once CHUNK_BYTES is patched.
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
PORTAL_PAGE = b"\n<!DOCTYPE html><html><body>Sign in to the hotel Wi-Fi</body></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # Keeps the test output clean.
        pass

    def do_GET(self):
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        mode = self.path.split("/")[1]
        seen = server.seen.setdefault(mode, 0)
        server.seen[mode] += 1
        body = b"not the file" * 100 if mode == "wrong" else PAYLOAD
        if mode in ("portal", "sniff", "empty"):
            page = b"" if mode == "empty" else PORTAL_PAGE
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if mode == "portal" else
                             "application/octet-stream")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if mode not in ("range", "plain", "drop", "flaky", "wrong"):
            self.send_error(404)
            return
        if mode == "flaky" and not seen:
            self.send_error(503)
            return
        start = 0
        requested = self.headers.get("Range")
        if requested and mode in ("range", "drop"):
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "drop" and not seen:
            self.wfile.write(body[: len(body) // 2])  # Then the connection goes away.
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(dl, "RETRY_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(dl, "CHUNK_BYTES", 8192)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.log, httpd.seen = [], {}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".part")


# Downloads.


def test_download_verifies_and_renames(server, tmp_path):
    path = dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert path.read_bytes() == PAYLOAD and _leftovers(tmp_path) == []
    # A second call finds the verified file and does not download again.
    dl.download(f"{server.url}/range/file.bin", path, DIGEST, progress=False)
    assert len(server.log) == 1


def test_half_finished_download_resumes_with_range(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:30000])
    dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert server.log == [("/range/file.bin", "bytes=30000-")]


def test_server_ignoring_range_starts_again(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:30000])
    dl.download(f"{server.url}/plain/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD


def test_dropped_connection_is_retried_and_resumed(server, tmp_path):
    dl.download(f"{server.url}/drop/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert server.log == [("/drop/file.bin", None), ("/drop/file.bin", f"bytes={len(PAYLOAD) // 2}-")]


def test_stale_partial_file_of_other_bytes_is_redone(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(b"x" * 5000)  # Left over from some other file.
    dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert [r for _, r in server.log] == ["bytes=5000-", None]


def test_complete_partial_file_gets_416_and_is_kept(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)  # Fetched, then interrupted before renaming.
    dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD and len(server.log) == 1


def test_partial_file_longer_than_the_file_starts_again(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD + b"junk")
    dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert [r for _, r in server.log] == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_mirrors_are_tried_in_turn_and_503_retried(server, tmp_path):
    urls = [f"{server.url}/gone/file.bin", f"{server.url}/wrong/file.bin", f"{server.url}/flaky/f"]
    dl.download(urls, tmp_path / "file.bin", DIGEST, progress=True)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert [p for p, _ in server.log] == ["/gone/file.bin", "/wrong/file.bin", "/flaky/f", "/flaky/f"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    with pytest.raises(dl.DownloadError) as info:
        dl.download(f"{server.url}/wrong/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    message = str(info.value)
    assert "SHA-256 mismatch" in message and f"{server.url}/wrong/file.bin" in message
    assert str(tmp_path / "file.bin") in message and "fcnlib.synthetic" in message
    assert list(tmp_path.iterdir()) == []


def test_offline_error_names_urls_and_manual_location(server, tmp_path):
    urls = ["http://127.0.0.1:9/a.tar", f"{server.url}/missing/a.tar"]
    with pytest.raises(dl.DownloadError) as info:
        dl.download(urls, tmp_path / "a.tar", DIGEST, retries=2, progress=False)
    message = str(info.value)
    assert all(url in message for url in urls) and "404" in message
    assert f"copy it to {tmp_path / 'a.tar'}" in message and DIGEST in message
    assert list(tmp_path.iterdir()) == []


def test_unpinned_digest_is_printed(server, tmp_path, capsys):
    dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", None, progress=False)
    assert DIGEST in capsys.readouterr().out


def test_existing_file_with_wrong_digest_is_reported_not_replaced(tmp_path):
    (tmp_path / "file.bin").write_bytes(b"manual copy gone wrong")
    with pytest.raises(ValueError, match="Delete it"):
        dl.download("http://127.0.0.1:9/file.bin", tmp_path / "file.bin", DIGEST)
    assert (tmp_path / "file.bin").read_bytes() == b"manual copy gone wrong"


def test_file_url(tmp_path):
    (tmp_path / "source.bin").write_bytes(PAYLOAD)
    dl.download((tmp_path / "source.bin").as_uri(), tmp_path / "out" / "copy.bin", DIGEST,
                progress=False)
    assert (tmp_path / "out" / "copy.bin").read_bytes() == PAYLOAD


# Extraction.


def test_digest_with_whitespace_is_accepted_and_a_bad_one_refused_before_fetching(server, tmp_path):
    path = dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin",
                       f"  {DIGEST.upper()}\n", progress=False)
    assert path.read_bytes() == PAYLOAD and len(server.log) == 1
    for bad in (DIGEST[:-1] + "g", DIGEST[:40], f"sha256:{DIGEST}", 123):
        with pytest.raises(ValueError, match="not a SHA-256 digest") as error:
            dl.download(f"{server.url}/range/file.bin", tmp_path / "other.bin", bad, progress=False)
        assert repr(bad) in str(error.value) and "64 hexadecimal" in str(error.value)
    assert len(server.log) == 1 and not (tmp_path / "other.bin.part").exists()


@pytest.mark.parametrize("mode", ["portal", "sniff"])
def test_a_web_page_answering_a_resume_keeps_the_partial_file(server, tmp_path, mode):
    part = tmp_path / "file.bin.part"
    part.write_bytes(PAYLOAD[:30000])
    with pytest.raises(dl.DownloadError, match="web page"):
        dl.download(f"{server.url}/{mode}/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert part.read_bytes() == PAYLOAD[:30000] and _leftovers(tmp_path) == ["file.bin.part"]
    dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert server.log[-1] == ("/range/file.bin", "bytes=30000-")


def test_a_web_page_is_never_taken_for_the_file_without_a_digest(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="web page"):
        dl.download(f"{server.url}/sniff/file.bin", tmp_path / "file.bin", None, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_mirror_keeps_a_good_partial_file(server, tmp_path):
    part = tmp_path / "file.bin.part"
    part.write_bytes(PAYLOAD[:30000])
    with pytest.raises(dl.DownloadError, match="SHA-256 mismatch"):
        dl.download(f"{server.url}/wrong/file.bin", tmp_path / "file.bin", DIGEST, progress=False)
    assert part.read_bytes() == PAYLOAD[:30000] and _leftovers(tmp_path) == ["file.bin.part"]


def test_zero_bytes_are_never_a_finished_download(server, tmp_path, capsys):
    with pytest.raises(dl.DownloadError, match="0 bytes"):
        dl.download(f"{server.url}/empty/file.bin", tmp_path / "file.bin", None, progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file.bin").write_bytes(b"")
    dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", None, progress=False)
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert "empty (0 bytes)" in capsys.readouterr().out


def _in_threads(count, work):
    """Runs ``work`` in ``count`` threads at once; returns the exceptions they raised."""
    errors = []

    def run():
        try:
            work()
        except Exception as error:  # Reported to the caller.
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_downloads_of_one_file_take_turns(server, tmp_path):
    results = []
    errors = _in_threads(4, lambda: results.append(
        dl.download(f"{server.url}/range/file.bin", tmp_path / "file.bin", DIGEST, progress=False)))
    assert errors == [] and len(results) == 4
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD and _leftovers(tmp_path) == []
    assert len(server.log) == 1


def _tar(path, members, mode="w:gz"):
    """Writes a tar of (name, bytes) files and (name, ('symlink'|'hardlink', target)) links."""
    with tarfile.open(path, mode) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                kinds = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}
                info.type = kinds[content[0]]
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def _snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_extract_tar(tmp_path, mode):
    archive = _tar(tmp_path / "a.tar", [("top/x.txt", b"x"), ("top/sub/y.txt", b"yy"),
                                        ("top/link", ("symlink", "sub/y.txt"))], mode)
    dl.extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "top" / "sub" / "y.txt").read_bytes() == b"yy"
    assert os.readlink(tmp_path / "out" / "top" / "link") == "sub/y.txt"
    assert _snapshot(tmp_path / "out") == ["top", "top/link", "top/sub", "top/sub/y.txt", "top/x.txt"]


def test_interrupted_extraction_leftovers_are_cleared(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("top/x.txt", b"x")])
    stale = tmp_path / "out" / ".a.tar.gz.abc123.tmp"
    (stale / "top").mkdir(parents=True)
    dl.extract(archive, tmp_path / "out")
    assert _snapshot(tmp_path / "out") == ["top", "top/x.txt"]


def test_extract_zip_and_merge_into_existing_folder(tmp_path):
    (tmp_path / "out" / "top").mkdir(parents=True)
    (tmp_path / "out" / "top" / "mine.txt").write_text("keep")
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("top/x.txt", b"x")
    dl.extract(tmp_path / "a.zip", tmp_path / "out")
    assert _snapshot(tmp_path / "out") == ["top", "top/mine.txt", "top/x.txt"]
    dl.extract(tmp_path / "a.zip", tmp_path / "out")  # Again: identical files are left alone.
    assert _snapshot(tmp_path / "out") == ["top", "top/mine.txt", "top/x.txt"]
    (tmp_path / "out" / "top" / "x.txt").write_bytes(b"changed")
    with pytest.raises(FileExistsError, match="x.txt"):
        dl.extract(tmp_path / "a.zip", tmp_path / "out")
    assert (tmp_path / "out" / "top" / "x.txt").read_bytes() == b"changed"


@pytest.mark.parametrize("members", [
    [("ok.txt", b"1"), ("../evil.txt", b"2")],
    [("ok.txt", b"1"), ("a/../../evil.txt", b"2")],
    [("/tmp/evil_absolute_fcnlib.txt", b"2")],
    [("ok.txt", b"1"), ("link", ("symlink", "../../evil"))],
    [("link", ("symlink", "/etc/passwd"))],
    [("hard", ("hardlink", "../outside.txt"))],
    [("ok.txt", b"1"), ("pipe", ("fifo", ""))],
    [("s2", ("symlink", ".")), ("s1", ("symlink", "s2/..")), ("s1/evil.txt", b"2")],
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-abs", "hardlink-out",
        "fifo", "symlink-chain"])
@pytest.mark.parametrize("python_filter", [True, False], ids=["with-data-filter", "own-checks-only"])
# "own-checks-only" plays a Python without the data filter; Python 3.12+ warns that 3.14 will filter anyway.
@pytest.mark.filterwarnings("ignore:Python 3.14 will, by default, filter:DeprecationWarning")
def test_extract_refuses_escapes_and_writes_nothing(tmp_path, monkeypatch, members, python_filter):
    if not python_filter:
        monkeypatch.setattr(dl, "_FILTER", {})  # As on Python < 3.11.4.
    target = tmp_path / "data" / "target"
    target.mkdir(parents=True)
    (target / "existing.txt").write_text("keep")
    archive = _tar(tmp_path / "evil.tar.gz", members)
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match="Refusing to extract"):
        dl.extract(archive, target)
    assert _snapshot(tmp_path) == before
    assert not os.path.exists("/tmp/evil_absolute_fcnlib.txt")


def test_extract_refuses_zip_escape(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as archive:
        archive.writestr("../evil.txt", b"2")
    (tmp_path / "target").mkdir()
    with pytest.raises(ValueError, match="Refusing to extract"):
        dl.extract(tmp_path / "evil.zip", tmp_path / "target")
    assert _snapshot(tmp_path) == ["evil.zip", "target"]


@pytest.mark.parametrize("kind", ["truncated-gz", "truncated-zip", "garbage"])
def test_corrupt_archives_raise_and_leave_target_unchanged(tmp_path, kind):
    if kind == "truncated-gz":
        big = [(f"top/{i}.bin", os.urandom(20000)) for i in range(5)]
        data = _tar(tmp_path / "full.tar.gz", big).read_bytes()
        archive = tmp_path / "a.tar.gz"
        archive.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "truncated-zip":
        with zipfile.ZipFile(tmp_path / "full.zip", "w") as stream:
            stream.writestr("top/x.bin", os.urandom(20000))
        archive = tmp_path / "a.zip"
        archive.write_bytes((tmp_path / "full.zip").read_bytes()[:15000])
    else:
        archive = tmp_path / "a.tar"
        archive.write_bytes(b"this is not an archive" * 50)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ValueError, match=r"Cannot extract .*a\.(tar|zip).*corrupt"):
        dl.extract(archive, target)
    assert list(target.iterdir()) == []


def test_concurrent_extractions_into_one_folder_take_turns(tmp_path, monkeypatch):
    members = [(f"top/{i}.bin", bytes([i]) * 1000) for i in range(20)]
    archive = _tar(tmp_path / "a.tar.gz", members)
    real = tarfile.TarFile.extractall

    def slow_extractall(self, *args, **kwargs):  # Widens the window a second call could hit.
        real(self, *args, **kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(tarfile.TarFile, "extractall", slow_extractall)
    errors = _in_threads(3, lambda: dl.extract(archive, tmp_path / "out"))
    assert errors == []
    assert _snapshot(tmp_path / "out") == ["top"] + sorted(f"top/{i}.bin" for i in range(20))
    for name, content in members:
        assert (tmp_path / "out" / name).read_bytes() == content


@pytest.mark.parametrize("members, member", [
    ([("a.txt", b"1"), ("hard", ("hardlink", "missing.txt"))], "hard"),
    ([("a", b"1"), ("a/b.txt", b"2")], "a/b.txt"),
], ids=["hardlink-to-missing", "file-then-folder"])
def test_archive_errors_name_the_archive_and_the_member(tmp_path, members, member):
    archive = _tar(tmp_path / "odd.tar.gz", members)
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError) as error:
        dl.extract(archive, tmp_path / "out")
    assert str(archive) in str(error.value) and repr(member) in str(error.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_extracting_into_a_file_names_it(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("x.txt", b"x")])
    (tmp_path / "out").write_text("a file")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        dl.extract(archive, tmp_path / "out")


def _fake_voc_archive(tmp_path, monkeypatch):
    """A tiny VOCtrainval tar served from a file:// URL, pinned as download.VOC_TRAINVAL."""
    source = _tar(tmp_path / "served.tar", [("VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt", b"a\n"),
                                            ("VOCdevkit/VOC2012/JPEGImages/a.jpg", b"jpg")], "w")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setattr(dl, "VOC_TRAINVAL", dl.Archive("VOCtrainval_11-May-2012.tar", (source.as_uri(),), digest))
    return source


def test_voc_archive_kept_in_the_archive_folder_and_unpacked_in_the_data_folder(tmp_path, monkeypatch):
    _fake_voc_archive(tmp_path, monkeypatch)
    drive, local = tmp_path / "drive" / "data", tmp_path / "local" / "data"
    monkeypatch.setenv(dl.ARCHIVE_DIR_ENV, str(drive))
    monkeypatch.setenv("FCN_DATA_DIR", str(local))
    assert dl.archive_dir() == drive
    target = dl.download_voc()
    assert target == local / "voc" / "VOCdevkit" / "VOC2012" and (target / "JPEGImages" / "a.jpg").is_file()
    assert _snapshot(drive) == ["voc", "voc/VOCtrainval_11-May-2012.tar"]  # Nothing unpacked on Drive.
    # A new runtime: an empty local disk, the archive still on Drive, no network.
    shutil.rmtree(local)
    monkeypatch.setenv("FCN_OFFLINE", "1")
    assert (dl.download_voc() / "JPEGImages" / "a.jpg").read_bytes() == b"jpg"


def test_without_an_archive_folder_the_archive_stays_beside_its_contents(tmp_path, monkeypatch):
    _fake_voc_archive(tmp_path, monkeypatch)
    monkeypatch.delenv(dl.ARCHIVE_DIR_ENV, raising=False)
    assert dl.archive_dir() == config.data_dir()
    dl.download_voc(tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "VOCtrainval_11-May-2012.tar").is_file()
    dl.download_voc(tmp_path / "third", archive_directory=tmp_path / "archives")
    assert (tmp_path / "archives" / "VOCtrainval_11-May-2012.tar").is_file()
    assert (tmp_path / "third" / "VOCdevkit" / "VOC2012" / "JPEGImages" / "a.jpg").is_file()
