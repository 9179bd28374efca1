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


def test_by_hand_refuses_the_library_however_it_is_imported():
    import fcnlib.metrics
    from fcnlib.metrics import confusion_matrix as renamed

    truth = np.array([[0, 1], [1, 1]])
    with pytest.raises(selfcheck.ExerciseError, match=r"called fcnlib\.metrics\.confusion_matrix"):
        with selfcheck.by_hand(fcnlib.metrics, what="The confusion matrix exercise"):
            renamed(truth, truth, 2)
    import sys

    assert sys.getprofile() is None, "by_hand must leave no profiler behind"
    # A student who catches the error is still caught when the block ends.
    with pytest.raises(selfcheck.ExerciseError, match="by hand"):
        with selfcheck.by_hand(fcnlib.metrics.confusion_matrix):
            try:
                fcnlib.metrics.confusion_matrix(truth, truth, 2)
            except Exception:  # noqa: BLE001
                pass
    # Code of its own (and NumPy) runs freely.
    with selfcheck.by_hand(fcnlib.metrics):
        assert np.bincount(truth.ravel(), minlength=2).tolist() == [1, 3]
    with pytest.raises(TypeError, match="modules, classes or functions"):
        selfcheck.by_hand(3)


def test_run_turns_a_crash_into_a_sentence():
    def broken(x):
        return x["missing"]

    with pytest.raises(selfcheck.ExerciseError, match=r"broken\(\.\.\.\) raised TypeError"):
        selfcheck.run(broken, 3, what="the score map")

    def todo():
        raise NotImplementedError()

    with pytest.raises(selfcheck.ExerciseError, match="not written yet"):
        selfcheck.run(todo, what="todo")
    with pytest.raises(selfcheck.ExerciseError, match="expected a function"):
        selfcheck.run(None, what="f")
    assert selfcheck.run(lambda a, b=1: a + b, 1, b=2, what="sum") == 3
