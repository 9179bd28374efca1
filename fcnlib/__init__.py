"""fcnlib: the helper library of the FCN teaching notebook series.

Modules are imported by concept: ``from fcnlib import recipes, viz``; the notebooks write the three
named like Keras modules in full (``import fcnlib.models``, then ``fcnlib.models.fcn8s``).
Without TensorFlow, importing any of them stops here with the install command for this machine.
"""

from fcnlib import install as _install

__version__ = "0.3.0"

_install.require_tensorflow()
