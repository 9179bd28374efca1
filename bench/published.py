"""Published FCN recipes that learners copy, rebuilt on the series' trunk for the benchmark.

Three recipes that learners bring to the series, each rebuilt in Keras 3 on the same VGG16 trunk,
pretrained weights and data as the series' own models, so that ``bench`` compares recipes,
not backbones. Each keeps the choices that define it (its head, upsampling, initialisation,
optimiser and, for keras.io, its data handling); what differs from the source is said in its
docstring. Layer names carry the source's prefix (``kio_``, ``d2l_``, ``tf1_``), so a summary shows
which recipe a layer belongs to.

- :func:`keras_io_fcn8s`: the keras.io example "Image Segmentation using Composable
  Fully-Convolutional Networks", https://keras.io/examples/vision/fully_convolutional_network/
- :func:`d2l_fcn`: Dive into Deep Learning, section "Fully Convolutional Networks",
  https://d2l.ai/chapter_computer-vision/fcn.html
- :func:`tf_tutorial_unet`: the U-Net of TensorFlow's tutorial "Image segmentation",
  https://www.tensorflow.org/tutorials/images/segmentation (the model a learner picks instead of an
  FCN), with the tutorial's frozen encoder and, in a second row, fine-tuned like the series' FCNs.
- :func:`tf1_blog_fcn8s`: the TensorFlow 1 FCN-8s of the blog posts written on the template of
  Udacity's semantic segmentation project, https://github.com/udacity/CarND-Semantic-Segmentation
  (``load_vgg`` returns ``layer3_out``, ``layer4_out``, ``layer7_out``; ``tf.layers`` and
  ``tf.contrib`` no longer exist, so this is a Keras 3 rewrite).

The bench also trains, like the d2l recipe, the two models learners bring instead of a VGG
(notebook 08): ``resnet50_fcn`` (:func:`fcnlib.resnet.for_profile`, d2l's head on ResNet50) and
``deeplabv3_plus`` (:func:`fcnlib.deeplab.for_profile`).

The series' own models (``fcnlib.models``) follow Long, Shelhamer and Darrell, "Fully
Convolutional Networks for Semantic Segmentation", CVPR 2015, https://arxiv.org/abs/1411.4038.

Example:

>>> from bench import published  # doctest: +SKIP
>>> from fcnlib import config, recipes  # doctest: +SKIP
>>> model = published.train_recipe("d2l_fcn", config.QUICK, recipes.make_datasets("binary"), 1)

Introduced in README.md (Benchmarks).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from fcnlib import deeplab, layers, metrics, models, pipeline, recipes, resnet, synthetic, train


def _trunk(profile, trainable=True):
    """The series' VGG16 trunk with fc6/fc7 as convolutions and the profile's weights."""
    model = recipes.build("fcn32s", profile=profile)
    model.trainable = trainable
    return model.input, {name: model.get_layer(name).output
                         for name in ("block3_pool", "block4_pool", "drop7", "block5_pool")}


def keras_io_fcn8s(profile, num_classes=2) -> keras.Model:
    """The keras.io example's FCN-8S: frozen trunk, ReLU scores, fixed bilinear upsampling, softmax.

    Source: https://keras.io/examples/vision/fully_convolutional_network/ (frozen VGG19 on the
    Oxford-IIIT Pets; here the series' VGG16 trunk). What it keeps: the trunk and fc6/fc7 are
    frozen; the 1/32 class scores pass a ReLU; upsampling is fixed bilinear ``UpSampling2D``; the
    fused 1/8 scores go through a softmax *before* the last 8x upsampling, so the model outputs
    probabilities. :func:`train_recipe` adds its AdamW optimiser and its bilinearly resized masks. The
    skip scores start at zero, as in the FCN paper.

    Args:
        profile: A ``config.Profile``: the trunk's width and weights.
        num_classes: Output channels.

    Returns:
        An uncompiled ``keras.Model`` named ``keras_io_fcn8s`` whose output is probabilities.
    """
    inputs, taps = _trunk(profile, trainable=False)
    score = keras.layers.Conv2D(num_classes, 1, activation="relu", name="kio_score")(taps["drop7"])  # 1/32
    up = keras.layers.UpSampling2D(2, interpolation="bilinear", name="kio_upscore2")(score)  # 1/16
    pool4 = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros",
                                name="kio_score_pool4")(taps["block4_pool"])
    fused = keras.layers.Add(name="kio_fuse_pool4")([pool4, up])  # 1/16
    up = keras.layers.UpSampling2D(2, interpolation="bilinear", name="kio_upscore_pool4")(fused)  # 1/8
    pool3 = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros",
                                name="kio_score_pool3")(taps["block3_pool"])
    fused = keras.layers.Add(name="kio_fuse_pool3")([pool3, up])  # 1/8
    probabilities = keras.layers.Conv2D(num_classes, 1, activation="softmax",
                                        name="kio_softmax")(fused)
    outputs = keras.layers.UpSampling2D(8, interpolation="bilinear", name="kio_upscore8")(probabilities)  # 1/1
    outputs = layers.CropToMatch(name="kio_crop")([outputs, inputs])
    return keras.Model(inputs, outputs, name="keras_io_fcn8s")


def d2l_fcn(profile, num_classes=2, upsampling="learned") -> keras.Model:
    """d2l's FCN: trunk, a 1x1 convolution, one bilinear-initialised transposed convolution (s32).

    Source: https://d2l.ai/chapter_computer-vision/fcn.html (layer names ``final_conv`` and
    ``transpose_conv`` as there). d2l cuts a ResNet-18 (ResNet50 in its TensorFlow version) after
    its last block and has no fc6/fc7; here the 1x1 convolution sits on the series' VGG16
    ``block5_pool``. Kernel 64, stride 32, initialised bilinear and trained with everything else;
    the 1x1 convolution starts from Glorot-uniform, not zero.

    Args:
        profile: A ``config.Profile``: the trunk's width and weights.
        num_classes: Output channels.
        upsampling: ``"learned"`` (d2l's), or ``"fixed"`` to freeze the bilinear kernel as the
            series' FCN-32s does (``python -m bench --fcn32s-head`` compares the two).

    Returns:
        An uncompiled ``keras.Model`` named ``d2l_fcn`` whose output is logits.
    """
    inputs, taps = _trunk(profile)
    score = keras.layers.Conv2D(num_classes, 1, name="d2l_final_conv")(taps["block5_pool"])  # 1/32
    up = layers.upsample_layer(num_classes, 32, upsampling, name="d2l_transpose_conv")(score)  # 1/1
    return keras.Model(inputs, layers.CropToMatch(name="d2l_crop")([up, inputs]), name="d2l_fcn")


def tf1_blog_fcn8s(profile, num_classes=2) -> keras.Model:
    """The TF1 blog FCN-8s: 1x1 scores on pool3, pool4 and fc7; random transposed convs with L2.

    Source: the template of https://github.com/udacity/CarND-Semantic-Segmentation, which the
    blog posts fill in: 1x1 convolutions on ``layer3_out``, ``layer4_out`` and ``layer7_out``
    (here ``block3_pool``, ``block4_pool`` and ``drop7``), transposed convolutions k4 s2, k4 s2,
    k16 s8 with additions between them, every new kernel drawn from a normal distribution with
    standard deviation 0.01 and penalised with L2 1e-3; dropout 0.5 is the trunk's (``drop6``,
    ``drop7``). The blogs train with Adam 1e-3 (:func:`train_recipe` uses the profile's rate, as for every
    row of the benchmark).

    Args:
        profile: A ``config.Profile``: the trunk's width and weights.
        num_classes: Output channels.

    Returns:
        An uncompiled ``keras.Model`` named ``tf1_blog_fcn8s`` whose output is logits.
    """
    inputs, taps = _trunk(profile)

    def conv(x, name):
        return keras.layers.Conv2D(num_classes, 1, padding="same", name=name,
                                   kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                   kernel_regularizer=keras.regularizers.L2(1e-3))(x)

    def deconv(x, k, s, name):
        return keras.layers.Conv2DTranspose(
            num_classes, k, s, padding="same", name=name,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            kernel_regularizer=keras.regularizers.L2(1e-3))(x)

    x = deconv(conv(taps["drop7"], "tf1_layer7_1x1"), 4, 2, "tf1_upsample_layer7")  # 1/32 -> 1/16
    x = keras.layers.Add(name="tf1_skip_layer4")([x, conv(taps["block4_pool"], "tf1_layer4_1x1")])
    x = deconv(x, 4, 2, "tf1_upsample_layer4")  # 1/16 -> 1/8
    x = keras.layers.Add(name="tf1_skip_layer3")([x, conv(taps["block3_pool"], "tf1_layer3_1x1")])
    x = deconv(x, 16, 8, "tf1_upsample_layer3")  # 1/8 -> 1/1
    return keras.Model(inputs, layers.CropToMatch(name="tf1_crop")([x, inputs]), name="tf1_blog_fcn8s")


def tf_tutorial_unet(profile, num_classes=2, trainable=False) -> keras.Model:
    """The U-Net of TensorFlow's segmentation tutorial on the series' trunk: pix2pix upsampling blocks.

    Source: https://www.tensorflow.org/tutorials/images/segmentation (``unet_model``): an encoder
    tapped at 1/2, 1/4, 1/8, 1/16 and 1/32 (MobileNetV2 there, ``block1_pool`` .. ``block5_pool`` of
    the series' VGG16 here) and frozen (``down_stack.trainable = False``); from 1/32 up, four
    ``pix2pix.upsample`` blocks (3x3 transposed convolution of stride 2 without bias, weights drawn
    from N(0, 0.02), batch normalisation, ReLU) of 512, 256, 128 and 64 filters (times the
    profile's width), each followed by concatenation with the encoder's features at that scale;
    last, a 3x3 transposed convolution of stride 2 to the class logits. ``trainable=True`` fine-tunes
    the encoder too, as the series' FCNs do.

    Args:
        profile: A ``config.Profile``: the trunk's width and weights.
        num_classes: Output channels.
        trainable: Whether the encoder trains (the tutorial: False).

    Returns:
        An uncompiled ``keras.Model`` named ``tf_tutorial_unet`` whose output is logits.
    """
    trunk = recipes.build("fcn32s", profile=profile)  # Padded to a multiple of 32, as every FCN here.
    trunk.trainable = trainable
    features = [trunk.get_layer(f"block{k}_pool").output for k in range(1, 6)]  # 1/2 .. 1/32
    x = features[-1]  # 1/32
    for k, (filters, skip) in enumerate(zip((512, 256, 128, 64), reversed(features[:-1]), strict=False), start=1):
        x = keras.layers.Conv2DTranspose(
            max(1, int(filters * profile.width)), 3, strides=2, padding="same", use_bias=False,
            kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02), name=f"unet_up{k}")(x)
        x = keras.layers.BatchNormalization(name=f"unet_up{k}_bn")(x)
        x = keras.layers.ReLU(name=f"unet_up{k}_relu")(x)
        x = keras.layers.Concatenate(name=f"unet_concat{k}")([x, skip])  # 1/16, 1/8, 1/4, 1/2
    x = keras.layers.Conv2DTranspose(num_classes, 3, strides=2, padding="same", name="unet_last")(x)  # 1/1
    return keras.Model(trunk.input, layers.CropToMatch(name="unet_crop")([x, trunk.input]),
                       name="tf_tutorial_unet")


def _tf_tutorial_unet_fine_tuned(profile, num_classes=2) -> keras.Model:
    return tf_tutorial_unet(profile, num_classes, trainable=True)


def fcn32s_d2l_choices(profile, num_classes=2, upsampling="learned") -> keras.Model:
    """The series' FCN-32s (fc6, fc7, dropout) with d2l's Glorot-initialised score layer.

    Not a copied recipe: the bench's experiment on why d2l's head beats the series' FCN-32s at the
    same stride. The two differ in three choices: d2l has no ``fc6``/``fc7``, starts its 1x1 score
    layer from Glorot-uniform instead of zero, and learns its 32x upsampler. This model takes the
    second choice, and the third with ``upsampling="learned"``; the series' FCN-32s rows hold
    neither (``"fixed"``) or only the third (``"learned"``), the d2l row all three.

    Returns:
        An uncompiled ``fcnlib.models.fcn32s`` with the profile's backbone, width and ``fc6``.
    """
    return models.fcn32s(num_classes, weights=profile.backbone_weights, width=profile.width,
                         upsampling=upsampling, fc6_kernel=recipes.fc6_kernel(profile),
                         score_initializer="glorot_uniform")


def bilinear_mask_data(profile):
    """The keras.io choice of data: scenes drawn larger, resized to the input size, masks bilinearly.

    The example resizes masks with a bilinear ``Resizing`` layer; here the training scenes are
    drawn at 128 pixels and resized to the profile's size, the masks' fractions cut to integers,
    so objects shrink (a fraction below 1 becomes background).

    Returns:
        A shuffled, batched ``tf.data.Dataset`` of the profile's training scenes.
    """
    images, masks = synthetic.generate(profile.num_train, 128, "binary", synthetic.SPLIT_SEEDS["train"])
    size = (profile.image_size, profile.image_size)
    images = tf.cast(tf.round(tf.image.resize(images, size)), tf.uint8).numpy()
    masks = tf.cast(tf.image.resize(masks[..., None], size, "bilinear")[..., 0], tf.uint8).numpy()
    return pipeline.make_dataset((images, masks), profile.batch_size, training=True, seed=recipes.SEED)


BUILDERS = {"keras_io_fcn8s": keras_io_fcn8s, "d2l_fcn": d2l_fcn, "tf1_blog_fcn8s": tf1_blog_fcn8s,
            "tf_tutorial_unet": tf_tutorial_unet, "tf_tutorial_unet_fine_tuned": _tf_tutorial_unet_fine_tuned,
            # The models learners bring instead of a VGG (notebook 08), trained like the d2l recipe.
            "resnet50_fcn": resnet.for_profile, "deeplabv3_plus": deeplab.for_profile}
# The bench's experiment on the FCN-32s head (not copied recipes), trained like the d2l recipe.
EXPERIMENTS = {"fcn32s_glorot_score": lambda profile: fcn32s_d2l_choices(profile, upsampling="fixed"),
               "fcn32s_learned_glorot_score": fcn32s_d2l_choices}


def train_recipe(name: str, profile, data, epochs: int) -> keras.Model:
    """Builds, compiles and trains one published recipe with its own optimiser and data.

    keras.io: AdamW, plain sparse cross-entropy on its probabilities, :func:`bilinear_mask_data`.
    d2l, TF1, the tutorial's U-Net and the rest: Adam and ``metrics.segmentation_loss`` on
    ``data["train"]`` (the U-Net tutorial's sparse cross-entropy on logits, void ignored). All at the profile's
    learning rate, seeded like the series' recipes, without the checkpoint cache.

    Args:
        name: A key of ``BUILDERS`` or ``EXPERIMENTS``.
        profile: A ``config.Profile``.
        data: The output of ``recipes.make_datasets("binary", profile)``.
        epochs: Passes over the training data.

    Returns:
        The trained model.
    """
    builders = {**BUILDERS, **EXPERIMENTS}
    if name not in builders:
        raise ValueError(f"Unknown published recipe {name!r}; choose one of {sorted(builders)}.")
    train.set_seed(recipes.SEED)
    model = builders[name](profile)
    if name == "keras_io_fcn8s":
        model.compile(keras.optimizers.AdamW(profile.learning_rate),
                      keras.losses.SparseCategoricalCrossentropy(), metrics=[])
        train_data = bilinear_mask_data(profile)
    else:
        model.compile(keras.optimizers.Adam(profile.learning_rate),
                      metrics.segmentation_loss(2), metrics=[])
        train_data = data["train"]
    model.fit(train_data, epochs=epochs, verbose=0, shuffle=False)  # The dataset shuffles itself.
    return model
