"""Devices and number formats: which accelerators a run uses and in which precision it computes.

The command line (``fcn-train``) and docs/FULL_PROFILE.md use these switches; the notebooks run on
whatever device Keras picks. :func:`default_strategy` finds a TPU or several GPUs,
:func:`mixed_precision_policy` names the float16 or bfloat16 policy that fits them, and
:func:`precision_policy` sets it for a block. Models are built inside both, then trained through
``train.train_or_load(..., strategy=...)``.

Example:

>>> from fcnlib import devices, recipes  # doctest: +SKIP
>>> strategy = devices.default_strategy()  # doctest: +SKIP
>>> with devices.precision_policy(devices.mixed_precision_policy(strategy)):  # doctest: +SKIP
...     model, history = recipes.train_model("fcn8s", "multiclass", strategy=strategy)
"""

from __future__ import annotations

import contextlib
import glob
import os

import keras
import tensorflow as tf


def default_strategy() -> tf.distribute.Strategy:
    """Returns the strategy for the machine: a TPU, several GPUs, or the default one.

    ``TPUStrategy`` when a TPU is attached (a Colab TPU runtime, a Cloud TPU VM; see
    :func:`_tpu_resolver`), ``MirroredStrategy`` over all GPUs when there are several, else the
    default strategy (one GPU or the CPU). Pass it to ``train.train_or_load`` as ``strategy``. A TPU
    that is found but cannot be initialised is reported and skipped. ``CUDA_VISIBLE_DEVICES=0``
    limits a run to one GPU.

    Example:

    >>> strategy = devices.default_strategy()  # doctest: +SKIP
    >>> strategy.num_replicas_in_sync  # doctest: +SKIP
    1

    Used by the command line, ``fcn-train`` (docs/FULL_PROFILE.md).
    """
    resolver = _tpu_resolver()
    if resolver is not None:
        try:
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            print(f"A TPU seemed to be attached but could not be used ({error}); "
                  "falling back to GPUs or the CPU.")
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


# Environment variables that name a TPU (Cloud TPU node, GKE, Colab's older TPU runtime).
TPU_ENV = ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG", "COLAB_TPU_ADDR")


def _tpu_resolver():
    """A ``TPUClusterResolver`` when a TPU is attached, else None; never waits on the network.

    A TPU counts as attached when one of ``TPU_ENV`` is set or ``/dev/accel*`` exists (the chips of
    a TPU VM, such as Colab's current TPU runtime). Without either, no resolver is created: the
    resolver's own detection may query the Google Cloud metadata server.
    """
    resolvers = tf.distribute.cluster_resolver
    if os.environ.get("COLAB_TPU_ADDR") and not os.environ.get("TPU_NAME"):
        return resolvers.TPUClusterResolver(tpu=f"grpc://{os.environ['COLAB_TPU_ADDR']}")
    if any(os.environ.get(name) for name in TPU_ENV):
        return resolvers.TPUClusterResolver()
    if glob.glob("/dev/accel*"):
        return resolvers.TPUClusterResolver(tpu="local")
    return None


def mixed_precision_policy(strategy=None) -> str:
    """Returns the mixed-precision policy: ``mixed_bfloat16`` on a TPU, else ``mixed_float16``.

    ``float16`` runs on the tensor cores of NVIDIA GPUs from compute capability 7.0 (V100, T4, A100,
    H100, RTX 20xx and later); TPUs compute in ``bfloat16``. On a CPU neither is faster.
    """
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    return "mixed_float16"


@contextlib.contextmanager
def precision_policy(name: str):
    """Sets Keras's global dtype policy for the block and restores the previous one afterwards.

    Build models inside the block: layers take the policy that is global when they are created.
    Under ``mixed_float16`` layers compute in float16 and keep float32 weights, and ``compile``
    wraps the optimizer in a ``LossScaleOptimizer`` (see ``recipes.build`` for the float32 output).

    Args:
        name: ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.

    Example:

    >>> with devices.precision_policy("mixed_float16"):  # doctest: +SKIP
    ...     model, history = recipes.train_model("fcn8s", "multiclass")
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield keras.mixed_precision.global_policy()
    finally:
        keras.mixed_precision.set_global_policy(previous)
