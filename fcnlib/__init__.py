"""fcnlib: the helper library of the FCN teaching notebook series.

Modules are imported by concept: ``from fcnlib import recipes, viz``; the notebooks write the three
named like Keras modules in full (``import fcnlib.models``, then ``fcnlib.models.fcn8s``).
Without TensorFlow, importing any of them stops here with the install command for this machine.
"""

from fcnlib import install as _install

__version__ = "0.4.0"

_install.require_tensorflow()


def start(notebook: str, profile: str | None = None, drive: bool = False, onednn: bool | None = None):
    """The setup cell of every notebook: picks the profile, loads TensorFlow quietly, reports, fetches data.

    Args:
        notebook: The notebook's number, ``"00"`` ... ``"08"``.
        profile: ``"quick"``, ``"gpu"`` or ``"full"``; None reads ``FCN_PROFILE``, else picks ``gpu``
            when TensorFlow sees a GPU and ``quick`` otherwise.
        drive: On Colab, keep downloads and trained models in Google Drive for later notebooks.
        onednn: False turns TensorFlow's oneDNN kernels off for this kernel (notebook 03 compares
            with TensorFlow's own kernels); None leaves ``TF_ENABLE_ONEDNN_OPTS`` as it is (on when unset).

    Returns:
        The active :class:`fcnlib.config.Profile`.

    Example:

    >>> PROFILE = fcnlib.start("05")  # doctest: +SKIP
    """
    import os

    from fcnlib import config, environment

    if profile:
        os.environ[config.PROFILE_ENV] = profile  # Later library calls read the same profile.
    if onednn is not None:  # Read once, when TensorFlow loads.
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
    environment.import_tensorflow_quietly()
    return environment.setup(notebook, profile, drive=drive)
