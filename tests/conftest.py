"""Shared fixtures: quiet TensorFlow and seeded Keras modules of both flavours."""

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
