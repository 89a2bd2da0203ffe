"""Emoji captioning end to end: train a merge captioner, prune it, export encoder + decoder, caption.

Data: ``emoji_captions.npz`` beside this file (16x16 Twemoji images, CC BY 4.0, with their
human-written Unicode names; see ``make_emoji_set.py``). Names whose words all occur at least
``--min-count`` times in the set are kept; 80 % train, 20 % test (seeded).

Reports, per stage (Keras, pruned Keras, exported fp32 and dynamic decoders): BLEU (sacrebleu,
extra ``captioning``), exact-match rate of the generated names on train and test, and the
per-token latency of ``runtime.generate`` (batch 1, one thread; the encoder call is included, spread over the tokens). Writes
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
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).with_name("emoji_captions.npz")
PAD, START, END = 0, 1, 2


def load(min_count: int, max_words: int, seed: int = 0) -> dict[str, Any]:
    """Images in [0, 1], tokenized names, vocabulary and a seeded 80/20 split."""
    with np.load(DATA, allow_pickle=False) as data:
        images, names = data["images"].astype(np.float32) / 255.0, [str(n) for n in data["names"]]
    counts = Counter(w for n in names for w in n.split())
    keep = [i for i, n in enumerate(names) if len(n.split()) <= max_words and all(counts[w] >= min_count for w in n.split())]
    words = sorted({w for i in keep for w in names[i].split()})
    index = {w: k + 3 for k, w in enumerate(words)}
    order = np.random.default_rng(seed).permutation(keep)
    cut = int(len(order) * 0.8)
    return {"images": images, "names": names, "index": index, "words": ["<pad>", "<start>", "<end>", *words],
            "train": order[:cut], "test": order[cut:], "length": max_words + 1}


def next_word_samples(d: dict[str, Any], rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every (image, post-padded prefix) -> next word pair of the ``rows`` emoji."""
    image, prefix, target = [], [], []
    for i in rows:
        tokens = [START, *(d["index"][w] for w in d["names"][i].split()), END]
        for t in range(1, len(tokens)):
            p = np.zeros(d["length"], np.int32)
            p[:t] = tokens[:t]
            image.append(d["images"][i])
            prefix.append(p)
            target.append(tokens[t])
    return {"image": np.stack(image), "tokens": np.stack(prefix)}, np.array(target)


def build(vocab: int, length: int) -> Any:
    """The textbook merge captioner (Keras 3)."""
    import keras

    L = keras.layers
    image, tokens = keras.Input((16, 16, 3), name="image"), keras.Input((length,), dtype="int32", name="tokens")
    x = L.MaxPooling2D(2)(L.Conv2D(16, 3, padding="same", activation="relu")(image))
    x = L.GlobalAveragePooling2D()(L.Conv2D(32, 3, padding="same", activation="relu")(x))
    feat = L.Dense(64, activation="relu")(L.Dropout(0.2)(x))
    seq = L.LSTM(64)(L.Embedding(vocab, 32, mask_zero=True)(tokens))
    return keras.Model([image, tokens], L.Dense(vocab, activation="softmax")(L.Add()([feat, seq])), name="emoji_captioner")


def score(d: dict[str, Any], rows: np.ndarray, captions: list[list[int]]) -> dict[str, float]:
    """BLEU (corpus, sacrebleu) and exact-match rate of ``captions`` against the names of ``rows``."""
    import sacrebleu

    hyps = [" ".join(d["words"][t] for t in c) for c in captions]
    refs = [d["names"][i] for i in rows]
    bleu = sacrebleu.corpus_bleu(hyps, [refs]).score / 100.0
    return {"bleu": round(float(bleu), 4), "exact_match": round(float(np.mean([h == r for h, r in zip(hyps, refs)])), 4)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, prune, export and evaluate; print a table and write ``captioning.json``."""
    from lstm_deploy import runtime
    from lstm_deploy.compress.prune import PruneConfig, prune_model
    from lstm_deploy.export.captioner import export_captioner, keras_greedy
    from lstm_deploy.load.dataset import validate_arrays

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--small", action="store_true", help="few emoji, few epochs: a smoke run")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--min-count", type=int, default=3)
    ap.add_argument("--sparsity", type=float, default=0.5)
    args = ap.parse_args(argv)
    import keras

    keras.utils.set_random_seed(0)
    d = load(args.min_count, max_words=4)
    if args.small:
        d["train"], d["test"], args.epochs = d["train"][:40], d["test"][:10], 2
    x_tr, y_tr = next_word_samples(d, d["train"])
    x_te, y_te = next_word_samples(d, d["test"])
    model = build(len(d["words"]), d["length"])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_tr, y_tr, epochs=args.epochs, batch_size=64, verbose=0)
    results: dict[str, Any] = {"emoji": {"train": len(d["train"]), "test": len(d["test"])}, "vocabulary": len(d["words"])}
    for split in ("train", "test"):
        results[f"keras_{split}"] = score(d, d[split], keras_greedy(model, d["images"][d[split]], start=START, end=END))
    arrays = {f"x_{s}__{k}": v for s, x in (("train", x_tr), ("test", x_te)) for k, v in x.items()} | {"y_train": y_tr, "y_test": y_te}
    dataset = validate_arrays(arrays, model_inputs={"image": (16, 16, 3), "tokens": (d["length"],)})
    pruned = prune_model(model, dataset, PruneConfig(sparsity=args.sparsity, method="magnitude", epochs=2 if args.small else 10)).model
    results["pruned_test"] = score(d, d["test"], keras_greedy(pruned, d["images"][d["test"]], start=START, end=END))
    test_images = d["images"][d["test"]]
    arts = export_captioner(pruned, args.out, start=START, end=END, images=test_images, formats=("tflite", "onnx"), quantize=("fp32", "dynamic"))
    for art in arts:
        enc, dec = runtime.Model.load(art.encoder, num_threads=1), runtime.Model.load(art.decoder, num_threads=1)
        began = time.perf_counter()
        captions = [runtime.generate(enc, dec, img) for img in test_images]
        elapsed = time.perf_counter() - began
        steps = sum(len(c) + 1 for c in captions)  # + the end token's step
        results[f"{art.format}_{art.quantization}"] = {**score(d, d["test"], captions), "agrees_with_keras": art.greedy_agreement,
                                                       "decoder_bytes": art.size_bytes, "ms_per_token": round(1000 * elapsed / steps, 3)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "captioning.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    for key, value in results.items():
        print(f"{key:>16}: {value}")
    return results


if __name__ == "__main__":
    main()
