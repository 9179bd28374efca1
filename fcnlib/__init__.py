"""fcnlib: the helper library of the FCN teaching notebook series.

Modules are imported by concept: ``from fcnlib import models, metrics, viz``.
"""

__version__ = "0.1.0"
