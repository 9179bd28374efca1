"""Shortcuts a student might submit for notebook 06's exercises fail; the reference solutions pass."""

import exercise_harness as harness

# Section 1's paper_scores, as the lesson defines it. The lesson defines it at the top level of the notebook;
# the harness runs only the Setup, Configuration and exercise cells, so the shortcut defines it as a global
# itself (when confusion_by_hand is first called), as it is in the notebook.
_LESSON_PAPER_SCORES = """
global paper_scores

def paper_scores(matrix):
    n = np.asarray(matrix, dtype=np.float64)
    hits = np.diag(n)  # n_ii
    truth = n.sum(axis=1)  # t_i
    predicted = n.sum(axis=0)  # sum_j n_ji
    union = truth + predicted - hits
    present, seen = truth > 0, union > 0  # classes with an accuracy / with an IU
    iu = hits[seen] / union[seen]
    return {"pixel_accuracy": hits.sum() / truth.sum(),
            "mean_accuracy": np.mean(hits[present] / truth[present]),
            "mean_iou": np.mean(iu),
            "frequency_weighted_iou": np.sum(truth[seen] * iu) / truth.sum()}
"""

# A confusion matrix counted by hand (np.add.at): the shortcuts below differ only in the IU part.
_MATRIX_BY_HAND = """
truth, guess = np.asarray(y_true).astype(np.int64).ravel(), np.asarray(y_pred).astype(np.int64).ravel()
keep = truth != ignore_label
counts = np.zeros((num_classes, num_classes), np.int64)
np.add.at(counts, (truth[keep], guess[keep]), 1)
return counts
"""

_HAND_EXAMPLE = """
hand = np.zeros((2, 7, 7), np.uint8)
hand[0, :2, :2] = 1
hand[1, 5, 2:] = 1
return hand
"""

SHORTCUTS = {
    "ex06_1": {
        # The visible 2x4 answers typed in.
        "hard-coded": ["return np.array([[2, 1, 0, 0], [0, 2, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])",
                       "return np.array([2 / 3, 0.5, 0.5, np.nan]), (2 / 3 + 1) / 3"],
        # fcnlib's own matrix and scores.
        "library": ["return fcnlib.metrics.confusion_matrix(y_true, y_pred, num_classes, ignore_label)",
                    "scores = fcnlib.metrics.segmentation_scores(matrix)\nreturn scores['iou'], scores['mean_iou']"],
        # The matrix by hand, the per-class IU by hand, the mean from the lesson's paper_scores.
        "lesson helper": [_LESSON_PAPER_SCORES + _MATRIX_BY_HAND, """
counts = np.asarray(matrix, dtype=float)
union = counts.sum(axis=0) + counts.sum(axis=1) - np.diagonal(counts)
iou = np.full(len(counts), np.nan)
np.divide(np.diagonal(counts), union, out=iou, where=union > 0)
return iou, float(paper_scores(matrix)["mean_iou"])
"""],
        # Section 1's paper_scores, renamed, returning its IU array (the classes without an IU dropped).
        "reworded lesson cell": [_MATRIX_BY_HAND, """
counts = np.asarray(matrix, dtype=np.float64)
diagonal = np.diag(counts)
union = counts.sum(axis=1) + counts.sum(axis=0) - diagonal
seen = union > 0
per_class = diagonal[seen] / union[seen]
return per_class, np.mean(per_class)
"""],
    },
    "ex06_2": {
        # The visible 7x7 answer typed in.
        "hard-coded": _HAND_EXAMPLE,
        # A morphological opening from SciPy: it removes thin and small shapes, not regions by their size.
        "library": "return ndimage.binary_opening(np.asarray(masks) == 1, structure=np.ones((1, 3, 3))).astype(masks.dtype)",
        # Section 4's cell (ndimage.label of each mask == 1, sizes per region), renamed and applied to the
        # whole stack at once: signs at the same place in neighbouring images become one.
        "reworded lesson cell": """
components, count = ndimage.label(masks == 1)
prediction = np.array(masks, copy=True)
for label in range(1, count + 1):
    region = components == label
    if region.sum() < min_pixels:
        prediction[region] = 0
return prediction
""",
    },
}

NO_SHORTCUT = {
    "ex06_2": {
        "lesson helper": "the task does not forbid the lesson's code; section 4 measures sign regions but removes none",
    },
}

harness.shortcut_tests(globals(), "06")
