"""One module per CLI command; each exposes a Click command named ``command``.

Command modules import nothing heavy at module level (TensorFlow is imported
inside the command body), so ``lstm-deploy --help`` stays fast.
"""
