"""lstm-deploy: take trained Keras LSTM models to production.

The package root stays light (no TensorFlow import) so that ``lstm-deploy --help``
and the TensorFlow-free :mod:`lstm_deploy.runtime` stay fast.

Example:
    >>> import lstm_deploy
    >>> lstm_deploy.__version__
    '0.3.0'
"""

__version__ = "0.3.0"

__all__ = ["__version__"]
