"""Exercise checks pass on right answers and explain wrong ones."""

import numpy as np
import pytest

from fcnlib import selfcheck


def test_expect_equal(capsys):
    selfcheck.expect_equal(6, 6, "height")
    assert "✓ height = 6" in capsys.readouterr().out
    with pytest.raises(selfcheck.ExerciseError, match="expected 6, got 5"):
        selfcheck.expect_equal(5, 6, "height")
    with pytest.raises(selfcheck.ExerciseError, match=r"expected shape \(2,\), got \(3,\)"):
        selfcheck.expect_equal(np.zeros(3), np.zeros(2), "vector")
    with pytest.raises(selfcheck.ExerciseError, match="no answer yet"):
        selfcheck.expect_equal(None, 1, "answer")
    with pytest.raises(selfcheck.ExerciseError, match="1 of 100 values differ"):
        a = np.arange(100)
        b = a.copy()
        b[3] = -1
        selfcheck.expect_equal(b, a, "array")


def test_expect_close_and_hint():
    selfcheck.expect_close(np.ones(4) + 1e-7, np.ones(4), "kernel")
    with pytest.raises(selfcheck.ExerciseError, match="Hint: check the centre"):
        selfcheck.expect_close(np.ones(4) * 1.1, np.ones(4), "kernel", hint="check the centre")
    with pytest.raises(selfcheck.ExerciseError, match="NaN in 1 place"):
        selfcheck.expect_close(np.array([np.nan]), np.array([1.0]), "nan")
    # NaN where NaN is expected (a class that never occurs has no IoU) is right; a number is not.
    selfcheck.expect_close(np.array([0.5, np.nan]), np.array([0.5, np.nan]), "per-class IoU")
    with pytest.raises(selfcheck.ExerciseError, match="NaN"):
        selfcheck.expect_close(np.array([0.5, 0.0]), np.array([0.5, np.nan]), "per-class IoU")
    with pytest.raises(selfcheck.ExerciseError, match="largest difference"):
        selfcheck.expect_close(np.array([np.inf]), np.array([1.0]), "inf")


def test_expect_true():
    selfcheck.expect_true(True, "ok", "never shown")
    with pytest.raises(selfcheck.ExerciseError, match="IoU must improve"):
        selfcheck.expect_true(False, "fusion", "IoU must improve")


@pytest.mark.parametrize("answer", ["0.5", b"0.5", ["0.5"], {"iou": 0.5}])
def test_an_answer_that_is_no_number_gets_a_sentence(answer):
    with pytest.raises(selfcheck.ExerciseError, match="expected a number"):
        selfcheck.expect_close(answer, 0.5, "mean IoU")


def test_text_where_a_number_is_expected_and_arrays_where_one_yes_is_expected_get_sentences():
    with pytest.raises(selfcheck.ExerciseError, match=r"expected 6 \(int\), got '6' \(str\)"):
        selfcheck.expect_equal("6", 6, "output height")
    with pytest.raises(selfcheck.ExerciseError, match="needs one yes or no, got 3 values"):
        selfcheck.expect_true(np.array([True, False, True]), "every mask is binary", "no")
    selfcheck.expect_true(np.bool_(True), "a NumPy yes counts", "no")
