"""Shortcuts a student might submit for notebook 00's exercises fail; the reference solutions pass."""

import exercise_harness as harness

SHORTCUTS = {
    "ex00_1": {
        # The visible 3x4 answer typed in.
        "hard-coded": "return np.array([[0, 1, 1, 2], [3, 255, 2, 0], [0, 0, 255, 1]], np.uint8)",
        # The library's own colour-to-index mapping, with the void colour as palette entry 255.
        "library": """
full = list(palette) + [(0, 0, 0)] * (255 - len(palette)) + [void_colour]
return fcnlib.files.rgb_to_indices(np.asarray(rgb), full)
""",
        # The lesson's way to read a mask: save it as a PNG, let fcnlib's reader map the colours.
        "lesson helper": """
import tempfile
from pathlib import Path
from PIL import Image
full = list(palette) + [(0, 0, 0)] * (255 - len(palette)) + [void_colour]
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "mask.png"
    Image.fromarray(np.asarray(rgb, np.uint8)).save(path)
    return fcnlib.files.read_mask(path, palette=full)
""",
        # Section 5's repair of a black-and-white mask (white_on_black // 255), renamed.
        "reworded lesson cell": "return (np.asarray(rgb)[..., 0] // 255).astype(np.uint8)",
    },
    "ex00_2": {
        # Predictions of the visible test's shape typed in.
        "hard-coded": "return np.zeros((60, 96, 96), np.uint8), np.ones((60, 96, 96), np.uint8)",
        # Section 6's all-background predictor, renamed, returned twice.
        "reworded lesson cell": "everything_zero = np.zeros_like(masks)\nreturn everything_zero, everything_zero",
    },
}

NO_SHORTCUT = {
    "ex00_2": {
        "library": "fcnlib has no function that builds predictions with chosen scores",
        "lesson helper": "the task does not forbid a helper of the lesson, and none builds a prediction",
    },
}

harness.shortcut_tests(globals(), "00")
