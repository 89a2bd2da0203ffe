"""Emoji captioning through the library API: your own Keras captioner, pruned, exported as encoder + decoder, scored.

``recipes/captioning.yaml`` runs the same path as one command (``lstm-deploy run``); this
script shows the calls an application makes with a model it defines itself.

Data: ``emoji_captions.npz`` beside this file (16x16 Twemoji images, CC BY 4.0, with their
human-written Unicode names; see ``make_emoji_set.py``), prepared by
:func:`lstm_deploy.load.captions.image_captions` (names of at most 4 words whose words occur
3+ times; 80 % train / 20 % test, seeded).

Reports, for Keras and every exported encoder/decoder pair (fp32 and dynamic, TFLite and
ONNX): BLEU-4 / BLEU-1 (sacrebleu, extra ``captioning``), exact-match rate, agreement with
Keras' greedy captions, decoder size and per-token latency of ``runtime.generate``. Writes
``<out>/captioning.json``.

Run::

    python examples/captioning/captioning.py --out out/captioning            # full (about 2 minutes on 2 cores)
    python examples/captioning/captioning.py --out /tmp/cap --small          # the test suite's smoke size

Example:
    >>> main(["--out", "/tmp/cap", "--small"])     # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("emoji_captions.npz")


def build(vocab: int, length: int) -> Any:
    """The textbook merge captioner (Keras 3): CNN features + LSTM over the caption prefix, added, next word."""
    import keras

    L = keras.layers
    image, tokens = keras.Input((16, 16, 3), name="image"), keras.Input((length,), dtype="int32", name="tokens")
    x = L.MaxPooling2D(2)(L.Conv2D(16, 3, padding="same", activation="relu")(image))
    x = L.GlobalAveragePooling2D()(L.Conv2D(32, 3, padding="same", activation="relu")(x))
    feat = L.Dense(64, activation="relu")(L.Dropout(0.2)(x))
    seq = L.LSTM(64)(L.Embedding(vocab, 32, mask_zero=True)(tokens))
    return keras.Model([image, tokens], L.Dense(vocab, activation="softmax")(L.Add()([feat, seq])), name="emoji_captioner")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Train, prune, export and score; print a table and write ``captioning.json``."""
    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.load.captions import image_captions
    from lstm_deploy.load.dataset import validate_arrays, take
    from lstm_deploy.pipeline.caption import CaptionConfig, caption_rows

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--small", action="store_true", help="few emoji, few epochs: a smoke run")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--sparsity", type=float, default=0.5)
    args = ap.parse_args(argv)
    import keras

    keras.utils.set_random_seed(0)
    prepared = image_captions(DATA, captions_key="names", min_count=3, max_words=4)
    vocab = prepared.preprocessing["captioning"]
    data = validate_arrays(prepared.arrays)
    images, references = prepared.extras["captions"]["images"], [str(c) for c in prepared.extras["captions"]["captions"]]
    if args.small:  # the first 120 next-word samples, 10 test images, 2 epochs
        data = type(data)(**{**data.__dict__, "x_train": take(data.x_train, slice(0, 120)), "y_train": data.y_train[:120]})
        images, references, args.epochs = images[:10], references[:10], 2
    model = build(len(vocab["words"]), vocab["prefix_length"])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=args.epochs, batch_size=64, verbose=0)
    config = PruneConfig(sparsity=args.sparsity, method="magnitude", epochs=2 if args.small else 10)
    pruned = prune_model(model, data, config).model
    rows = caption_rows(pruned, images, references, vocab, CaptionConfig(), args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "captioning.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    for row in rows:
        print("  ".join(f"{k} {v}" for k, v in row.items()))
    return rows


if __name__ == "__main__":
    main()
