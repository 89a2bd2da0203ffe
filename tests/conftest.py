"""Shared fixtures: quiet TensorFlow, seeded Keras modules of both flavours, the run's shared build folder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def keras3():
    from lstm_deploy import _tf

    k = _tf.keras3()
    k.utils.set_random_seed(0)
    return k


@pytest.fixture(scope="session")
def tf_keras():
    from lstm_deploy import _tf

    return _tf.tf_keras()


@pytest.fixture(scope="session", autouse=True)
def _shared_build_folder(tmp_path_factory):
    """One folder per run for builds every xdist worker reuses (tests/zoo.py: trained classifier, exports).

    Under xdist each worker's basetemp is ``<run>/popen-gwN``; their common parent is the run's.
    """
    from tests import zoo

    base = tmp_path_factory.getbasetemp()
    zoo.use_cache_root((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-builds")
