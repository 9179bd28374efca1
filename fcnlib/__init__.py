"""fcnlib: the helper library of the FCN teaching notebook series.

Modules are imported by concept: ``from fcnlib import models, metrics, viz``.
Without TensorFlow, importing any of them stops here with the install command for this machine.
"""

from fcnlib import install as _install

__version__ = "0.2.0"

_install.require_tensorflow()
