"""The ``caption`` stage: export the run's captioner as encoder + single-step decoder and score its captions.

For every format and decoder mode, :func:`~lstm_deploy.export.captioner.export_captioner`
writes the pair (an fp32 pair must caption the test images exactly as Keras greedy decoding
does, or nothing is written), then :func:`lstm_deploy.runtime.generate` captions every test
image. Each row reports corpus BLEU (``sacrebleu``, extra ``captioning``, as a fraction),
the exact-match rate against the human-written captions, how often the artifact's caption
equals Keras', the decoder's size and the per-token decode latency (batch 1, the encoder
call spread over the tokens, ``threads`` threads).

Example:
    >>> rows = caption_rows(model, images, references, vocab, CaptionConfig(), Path("out"))   # doctest: +SKIP
    >>> rows[0]["decoder"], rows[0]["bleu"]                                                  # doctest: +SKIP
    ('keras', 0.071)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field

from ..config import StageConfig
from ..errors import InputError


class CaptionConfig(StageConfig):
    """Settings of the ``caption`` stage.

    Attributes:
        formats: ``tflite`` and/or ``onnx`` encoder/decoder pairs.
        quantize: decoder modes (the encoder stays fp32): ``fp32`` and/or ``dynamic`` (int8 weights).
        beam: also caption with beam search of this width on the first fp32 pair (1: greedy only).
        threads: intra-op threads of the runtimes while captioning (latency is per token at batch 1).
    """

    stage: Literal["caption"] = "caption"
    formats: tuple[Literal["tflite", "onnx"], ...] = Field(default=("tflite", "onnx"), min_length=1)
    quantize: tuple[Literal["fp32", "dynamic"], ...] = Field(default=("fp32", "dynamic"), min_length=1)
    beam: int = Field(default=3, ge=1, le=16)
    threads: int = Field(default=1, ge=1)


def score_captions(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU-4 and BLEU-1 (sacrebleu, as fractions) and the exact-match rate of generated captions.

    BLEU-4 is the standard score; on captions of a few words it counts few 4-grams and stays
    low, so BLEU-1 (word precision with the brevity penalty) is given beside it.

    Example:
        >>> score_captions(["a red apple", "a dog"], ["a red apple", "a cat"])
        {'bleu': 0.0, 'bleu1': 0.8, 'exact_match': 0.5}
    """
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise InputError("captions are scored with sacrebleu: pip install 'lstm-deploy[captioning]'") from None
    hyps, refs = list(hypotheses), [list(references)]
    bleu4, bleu1 = (BLEU(max_ngram_order=n).corpus_score(hyps, refs).score / 100.0 for n in (4, 1))
    exact = float(np.mean([h == r for h, r in zip(hypotheses, references)])) if references else 0.0
    return {"bleu": round(float(bleu4), 4), "bleu1": round(float(bleu1), 4), "exact_match": round(exact, 4)}


#: Test images whose captions the report shows beside their references.
EXAMPLES = 6


def write_examples(images: np.ndarray, folder: Path, n: int = EXAMPLES) -> list[Path]:
    """The first ``n`` test images as PNG files (scaled up 4x, nearest neighbour) for the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..atomic import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(np.asarray(images)[:n]):
        arr = np.asarray(img, np.float64)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        arr = np.kron(arr, np.ones((4, 4) + (1,) * (arr.ndim - 2)))
        with atomic_path(folder / f"{i + 1}.png") as tmp:
            plt.imsave(tmp, arr, cmap="gray" if arr.ndim == 2 else None, format="png")
        paths.append(folder / f"{i + 1}.png")
    return paths


def _timed_captions(art: Any, images: np.ndarray, threads: int, beam: int = 1) -> tuple[list[list[int]], float]:
    """Captions of ``images`` by one exported pair and the milliseconds per generated token (the end token's step included)."""
    from .. import runtime

    enc, dec = runtime.Model.load(art.encoder, num_threads=threads), runtime.Model.load(art.decoder, num_threads=threads)
    began = time.perf_counter()
    captions = [runtime.generate(enc, dec, img, beam=beam) for img in images]
    elapsed = time.perf_counter() - began
    return captions, 1000.0 * elapsed / sum(len(c) + 1 for c in captions)


def caption_rows(model: Any, images: np.ndarray, references: Sequence[str], vocab: dict[str, Any], config: CaptionConfig,
                 folder: Path) -> list[dict[str, Any]]:
    """Export the captioner into ``folder`` and score Keras' and every artifact's captions of ``images``."""
    from ..export.captioner import export_captioner, keras_greedy

    words, start, end = vocab["words"], int(vocab["start_id"]), int(vocab["end_id"])

    def text(ids: list[int]) -> str:
        return " ".join(words[i] for i in ids)

    reference = keras_greedy(model, images, start=start, end=end)
    rows = [{"decoder": "keras", "format": "keras", "quantization": "fp32", **score_captions([text(c) for c in reference], references),
             "examples": [text(c) for c in reference[:EXAMPLES]], "references": list(references[:EXAMPLES])}]
    arts = export_captioner(model, folder, start=start, end=end, images=images, formats=config.formats, quantize=config.quantize,
                            preprocessing={"captioning": vocab})
    for art in arts:
        captions, ms = _timed_captions(art, images, config.threads)
        rows.append({"decoder": art.decoder.name, "format": art.format, "quantization": art.quantization,
                     **score_captions([text(c) for c in captions], references), "agrees_with_keras": round(art.greedy_agreement, 4),
                     "decoder_bytes": art.size_bytes, "ms_per_token": round(ms, 4), "examples": [text(c) for c in captions[:EXAMPLES]]})
    first = next((a for a in arts if a.quantization == "fp32"), None)
    if config.beam > 1 and first is not None:
        captions, ms = _timed_captions(first, images, config.threads, beam=config.beam)
        rows.append({"decoder": f"{first.decoder.name} (beam {config.beam})", "format": first.format, "quantization": "fp32",
                     **score_captions([text(c) for c in captions], references), "decoder_bytes": first.size_bytes,
                     "ms_per_token": round(ms, 4), "examples": [text(c) for c in captions[:EXAMPLES]]})
    write_examples(images, folder / "examples")
    return rows
