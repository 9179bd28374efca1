"""Test set-up shared by tests/ and bench/tests/: quiet TensorFlow, the quick profile, and every test's
downloads and checkpoint cache in its own temporary folder."""

import os

# These must be set before TensorFlow is imported anywhere.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("FCN_PROFILE", "quick")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Keeps every test's downloads and checkpoint cache inside its own temporary directory."""
    monkeypatch.setenv("FCN_DATA_DIR", str(tmp_path / "fcn_data"))
    monkeypatch.setenv("FCN_CACHE_DIR", str(tmp_path / "fcn_cache"))
