"""fcnlib.margins: one table of check margins per notebook and profile."""

import pytest

from fcnlib import config, margins


def test_every_notebook_has_a_block_and_every_margin_a_quick_and_gpu_value():
    assert sorted(margins.TABLE) == [f"{n:02d}" for n in range(9)]
    for notebook, block in margins.TABLE.items():
        for name, values in block.items():
            assert {"quick", "gpu"} <= set(values), f"{notebook}.{name} needs a quick and a gpu value"


def test_full_takes_the_gpu_value_unless_it_has_its_own(monkeypatch):
    monkeypatch.setitem(margins.TABLE, "05", {"a": {"quick": 0.3, "gpu": 0.1}, "b": {"quick": 1, "gpu": 2, "full": 3}})
    assert margins.for_notebook("05", "full").a == 0.1
    assert margins.for_notebook("05", config.FULL).b == 3
    assert margins.for_notebook("05", "quick").a == 0.3


def test_unknown_notebooks_and_missing_values_are_named(monkeypatch):
    with pytest.raises(KeyError, match="'42'"):
        margins.for_notebook("42", "quick")
    monkeypatch.setitem(margins.TABLE, "05", {"a": {"quick": 0.3}})
    with pytest.raises(KeyError, match="'a' of notebook 05 has no value for the gpu profile"):
        margins.for_notebook("05", "gpu")
