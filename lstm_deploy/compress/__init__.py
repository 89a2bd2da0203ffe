"""Compress: pruning (:mod:`.prune`), quantization-aware training (:mod:`.qat`) and the fine-tuning they share (:mod:`.fit`).

Both stages are ``model -> new model`` with a frozen config, and never modify the caller's model.
"""
