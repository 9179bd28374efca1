"""Shortcuts a student might submit for notebook 02's exercises fail; the reference solutions pass."""

import exercise_harness as harness

LESSON_CONVERTER = '''
def convolutionalize_by_hand(classifier):
    inputs = keras.Input((None, None, classifier.input_shape[-1]))
    x, grid = inputs, None
    for layer in classifier.layers[1:]:
        if isinstance(layer, keras.layers.Flatten):
            grid = layer.input.shape[1:3]
            continue
        if isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            kh, kw = grid or (1, 1)
            conv = keras.layers.Conv2D(layer.units, (kh, kw), padding="valid", activation=layer.activation,
                                       name=f"{layer.name}_as_conv")
            x = conv(x)
            conv.set_weights([kernel.reshape(kh, kw, -1, layer.units), bias])
            grid = None
        else:
            x = layer(x)
    return keras.Model(inputs, x, name=f"{classifier.name}_by_hand")


return convolutionalize_by_hand(classifier)
'''

# The lesson's converter, renamed, with the one change a student would make: skip Permute like Flatten and
# name the layers as asked. It keeps the lesson's (row, column, channel) reshape of fc1's kernel.
REWORDED = '''
names = {"fc1": "fc6", "fc2": "fc7", "predictions": "score"}
image = keras.Input((None, None, 3))
out, window = image, None
for part in classifier.layers[1:]:
    if isinstance(part, (keras.layers.Permute, keras.layers.Flatten)):
        window = window or part.input.shape[1:3]
        continue
    if isinstance(part, keras.layers.Dense):
        w, b = part.get_weights()
        r, c = window or (1, 1)
        new = keras.layers.Conv2D(part.units, (r, c), padding="valid", activation=part.activation,
                                  name=names[part.name])
        out = new(out)
        new.set_weights([w.reshape(r, c, -1, part.units), b])
        window = None
    else:
        out = part(out)
return keras.Model(image, out)
'''

SHORTCUTS = {
    "ex02_1": {
        # The classifier itself, its logits reshaped into the expected 1x1 map.
        "hard-coded": ("image = keras.Input((22, 22, 3))\n"
                       "return keras.Model(image, keras.layers.Reshape((1, 1, 3))(classifier(image)))"),
        "library": "return fcnlib.models.convolutionalize(classifier)",
        "lesson helper": LESSON_CONVERTER,
        "reworded lesson cell": REWORDED,
    },
}
NO_SHORTCUT = {}

harness.shortcut_tests(globals(), "02")
