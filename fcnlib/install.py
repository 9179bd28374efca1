"""Which TensorFlow this machine installs, and one clear stop when it is missing.

TensorFlow is an extra of fcnlib (each install path must get exactly one TensorFlow: Colab already
has ``tensorflow``, a CPU machine takes ``tensorflow-cpu``), so ``pip install fcnlib`` alone
succeeds without it. Importing fcnlib then stops at once, before Keras fails somewhere inside,
with one line naming the command for this platform. The packages differ by platform (checked on
PyPI for TensorFlow 2.16-2.21):

* Linux x86_64 and Windows x86_64: ``tensorflow-cpu`` (the ``cpu`` extra; CPU only, half the size);
* macOS on Apple Silicon, Linux on ARM (aarch64): ``tensorflow`` (the ``tf`` extra); no
  ``tensorflow-cpu`` is built there;
* macOS on Intel: ``tensorflow``, whose last release for it is 2.16, for Python 3.9-3.12 only.

The Makefile chooses its ``TF_EXTRA`` by the same table (a test keeps them equal).

This module imports nothing from fcnlib and no TensorFlow: ``fcnlib/__init__.py`` runs
:func:`require_tensorflow` first.

Example:

>>> from fcnlib import install
>>> install.tensorflow_extra("Darwin", "arm64")
'tf'
"""

from __future__ import annotations

import importlib.util
import platform
import sys

# pyproject.toml's extras, and the package each one installs.
EXTRA_PACKAGES = {"cpu": "tensorflow-cpu", "tf": "tensorflow", "gpu": "tensorflow[and-cuda]"}
# The last Python for which TensorFlow publishes Intel-Mac wheels (TensorFlow 2.16).
INTEL_MAC_MAX_PYTHON = (3, 12)


class TensorFlowMissing(ImportError):
    """TensorFlow cannot be imported; the message names the install command.

    Jupyter shows only the message (``_render_traceback_``), not a traceback from inside fcnlib.
    """

    def _render_traceback_(self):
        return [f"TensorFlowMissing: {self}"]


def tensorflow_extra(system: str | None = None, machine: str | None = None) -> str:
    """Returns the extra that installs TensorFlow on a platform: ``"cpu"`` or ``"tf"``.

    Args:
        system: ``platform.system()`` (``uname -s``), e.g. ``"Linux"``, ``"Darwin"``, ``"Windows"``;
            None for this machine.
        machine: ``platform.machine()`` (``uname -m``), e.g. ``"x86_64"``, ``"arm64"``,
            ``"AMD64"``; None for this machine.
    """
    system = platform.system() if system is None else system
    machine = (platform.machine() if machine is None else machine).lower()
    if system in ("Linux", "Windows") and machine in ("x86_64", "amd64"):
        return "cpu"
    return "tf"


def install_hint(system: str | None = None, machine: str | None = None,
                 python: tuple[int, int] | None = None) -> str:
    """Returns one line: the pip command that installs TensorFlow here, and the checkout's variant."""
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    python = tuple(sys.version_info[:2]) if python is None else python
    extra = tensorflow_extra(system, machine)
    command = f"pip install {EXTRA_PACKAGES[extra]}"
    if system == "Darwin" and machine.lower() == "x86_64":
        if python > INTEL_MAC_MAX_PYTHON:
            return (f"TensorFlow has no release for Python {python[0]}.{python[1]} on Intel Macs: use "
                    "Python 3.11 or 3.12, then `pip install tensorflow` (2.16, its last Intel-Mac release).")
        command += " (2.16, its last Intel-Mac release)"
    return f"install it with `{command}` (in a checkout: `pip install -e \".[{extra}]\"` or `make setup`)."


def require_tensorflow() -> None:
    """Stops with :class:`TensorFlowMissing` (one line, with the install command) without TensorFlow.

    Under ``python -m fcnlib.<module>`` it prints that line alone to stderr and exits with status 1.
    """
    try:
        found = importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return
    message = f"fcnlib needs TensorFlow, which {sys.executable} cannot import: {install_hint()}"
    # While `python -m` locates the module, sys.argv[0] is "-m": no traceback for a command line.
    if sys.argv[:1] == ["-m"]:
        print(message, file=sys.stderr)
        raise SystemExit(1)
    raise TensorFlowMissing(message)
