"""Preprocessing recorded in the manifest: raw inputs -> what the artifact takes, and outputs back in raw units."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import RuntimeError_
from .tokenizers import tokenizer_pattern


def prepare_inputs(x: Any, pre: dict[str, Any]) -> Any:
    """Raw inputs -> what the artifact takes, as the manifest's ``preprocessing`` records (see ``load/sources.py``).

    * ``mean``/``std`` (per-channel z-score of a UCR/UEA set): ``(x - mean) / std``; all-zero
      (padded) steps stay zero;
    * ``normalize`` zscore/minmax/none with ``center``/``scale`` (series windows): ``(x - center) / scale``;
    * ``normalize: window``: each window scaled by its last value, ``x / x[:, -1] - 1``;
    * ``tokenizer`` (word vocabulary): texts become post-padded token ids; ids pass through.

    Example:
        >>> prepare_inputs(np.array([[[3.0], [5.0]]]), {"normalize": "zscore", "center": 1.0, "scale": 2.0}).ravel().tolist()
        [1.0, 2.0]
        >>> prepare_inputs(["Good film"], {"tokenizer": {"words": ["good"], "max_len": 3, "pad_id": 0, "oov_id": 1}}).tolist()
        [[2, 1, 0]]
    """
    if "tokenizer" in pre:
        return encode_texts(x, pre["tokenizer"])
    arr = np.asarray(x, np.float32) if not isinstance(x, np.ndarray) or x.dtype.kind in "iuf" else x
    if arr.dtype.kind not in "iuf":
        return x  # check_input explains what is wrong with it
    arr = arr.astype(np.float32, copy=False)
    if "mean" in pre and "std" in pre:
        padded = np.all(arr == 0, axis=-1, keepdims=True) if str(pre.get("padding", "")).startswith("post") else False
        out = (arr - np.asarray(pre["mean"], np.float32)) / np.asarray(pre["std"], np.float32)
        return np.where(padded, np.float32(0), out).astype(np.float32)
    if pre.get("normalize") == "window":
        last = arr[:, -1:]
        if np.any(last == 0):
            raise RuntimeError_("window scaling divides by each window's last value; a window ends in 0")
        return (arr / last - 1.0).astype(np.float32)
    if "center" in pre and "scale" in pre:
        return ((arr - np.float32(pre["center"])) / np.float32(pre["scale"])).astype(np.float32)
    return arr


def finish_outputs(y: np.ndarray, raw: Any, pre: dict[str, Any]) -> np.ndarray:
    """Model outputs -> the raw inputs' units for forecasting windows (``center``/``scale``, ``window``); others unchanged."""
    if pre.get("normalize") == "window":
        last = np.asarray(raw, np.float32)[:, -1].reshape(len(y), *([1] * (y.ndim - 1)))
        return (last * (1.0 + y)).astype(np.float32)
    if pre.get("normalize") in ("zscore", "minmax", "none") and "center" in pre and "scale" in pre:
        return (y * np.float32(pre["scale"]) + np.float32(pre["center"])).astype(np.float32)
    return y


def encode_texts(x: Any, tok: dict[str, Any]) -> Any:
    """Texts (a string or strings) -> int32 token ids, as ``load.sources.Vocabulary.encode`` does; numbers pass through.

    Words are found with the manifest's named pattern (:mod:`.tokenizers`), never a regex from the file.
    """
    texts = [x] if isinstance(x, str) else x
    if not (isinstance(texts, (list, tuple)) or (isinstance(texts, np.ndarray) and texts.dtype.kind in "UO")) or \
            not all(isinstance(t, str) for t in texts):
        return x
    pattern = tokenizer_pattern(tok)
    index = {w: i + 2 for i, w in enumerate(tok["words"])}
    out = np.full((len(texts), int(tok["max_len"])), int(tok.get("pad_id", 0)), np.int32)
    for row, text in enumerate(texts):
        ids = [index.get(w, int(tok.get("oov_id", 1))) for w in pattern.findall(text.lower() if tok.get("lowercase", True) else text)]
        out[row, : len(ids[: out.shape[1]])] = ids[: out.shape[1]]
    return out
