"""Image captions as next-word training data: the ``image_captions`` recipe source.

A captions file is an ``.npz`` with ``images`` (N, H, W, C; uint8 0-255 or floats) and one
caption per image (a string array, key ``captions`` by default). Captions are lower-cased,
punctuation other than ``'`` and ``-`` inside words is dropped (``"family: man, woman"`` ->
``"family man woman"``), and they are split on spaces; a caption is kept when it has at most ``max_words`` words and every
word occurs at least ``min_count`` times in the file (rare words cannot be learnt from one
example). The kept images are split by a seeded shuffle into train and test, and each
caption ``w1 .. wn`` becomes ``n + 1`` samples ``(image, <start> w1 .. wk padded) -> w(k+1)``
(the last target is ``<end>``), in the multi-input ``.npz`` contract
(``x_train__image``, ``x_train__tokens``, ``y_train``, the same for test).

Token ids: 0 padding, 1 ``<start>``, 2 ``<end>``, then the words in sorted order.

Example:
    >>> prepared = image_captions("examples/captioning/emoji_captions.npz", captions_key="names")   # doctest: +SKIP
    >>> sorted(prepared.arrays)[:2], prepared.preprocessing["captioning"]["start_id"]               # doctest: +SKIP
    (['x_test__image', 'x_test__tokens'], 1)
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from .sources import PreparedData

PAD, START, END = 0, 1, 2
IMAGE, TOKENS = "image", "tokens"  # the captioner's input names


@dataclass(frozen=True)
class CaptionVocabulary:
    """Caption words and the prefix length; ids 0/1/2 are padding, ``<start>``, ``<end>``.

    Example:
        >>> v = CaptionVocabulary(("face", "smiling"), max_words=3)
        >>> v.encode("smiling face"), v.decode([4, 3])
        ([1, 4, 3, 2], 'smiling face')
    """

    words: tuple[str, ...]
    max_words: int

    @property
    def size(self) -> int:
        return len(self.words) + 3

    @property
    def prefix_length(self) -> int:
        """Length of the token input: ``<start>`` plus up to ``max_words`` words."""
        return self.max_words + 1

    def encode(self, caption: str) -> list[int]:
        index = {w: i + 3 for i, w in enumerate(self.words)}
        return [START, *(index[w] for w in caption.split()), END]

    def decode(self, ids: Sequence[int]) -> str:
        table = ("<pad>", "<start>", "<end>", *self.words)
        return " ".join(table[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "caption-vocabulary", "pad_id": PAD, "start_id": START, "end_id": END, "prefix_length": self.prefix_length,
                "padding": "post", "words": ["<pad>", "<start>", "<end>", *self.words]}


_PUNCTUATION = re.compile(r"[^\w\s'-]")


def normalize_caption(text: str) -> str:
    """Lower-case words without punctuation, single-spaced.

    Example:
        >>> normalize_caption("Family: Man, Woman,  Boy")
        'family man woman boy'
    """
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


#: Smallest image side the captioner's encoder takes (it pools 2x2 before its global average).
MIN_SIDE = 2


def _check_code_points(path: Path, captions: np.ndarray, key: str) -> None:
    """Every character of ``captions`` (a numpy ``U`` array) is a Unicode scalar value: no surrogate, nothing past U+10FFFF.

    numpy stores such values without complaint, but Python cannot build a string of one past
    U+10FFFF and cannot encode a surrogate as UTF-8 (for the manifest and the report).
    """
    if captions.size == 0 or captions.dtype.itemsize == 0:
        return
    order = captions.dtype.byteorder if captions.dtype.byteorder in "<>" else "="  # as stored: a file may be big-endian
    points = np.ascontiguousarray(captions).view(np.dtype("u4").newbyteorder(order)).reshape(len(captions), -1)
    bad = (points > 0x10FFFF) | ((points >= 0xD800) & (points <= 0xDFFF))
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"{path}: {key}[{row}] holds the invalid code point U+{int(points[row, col]):04X} at character {col} "
                        f"(a surrogate or past U+10FFFF; {int(bad.any(axis=1).sum())} caption(s) affected); store captions as valid "
                        "Unicode text (e.g. decode them as UTF-8 with errors='replace' before np.savez)")


def read_captions(path: str | Path, captions_key: str = "captions") -> tuple[np.ndarray, list[str], str]:
    """``(images as float32, lower-cased captions, scaling)`` of a captions ``.npz``; uint8 images are divided by 255."""
    import zipfile

    from .dataset import MAX_BYTES, _read_npz

    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz captions file (missing, a folder, or not a zip archive)")
    try:  # headers checked (size, no pickles) before anything is decompressed, as for every data file
        data = _read_npz(path, ("images", captions_key), MAX_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz captions file ({exc.__class__.__name__}: {str(exc)[:200]})") from None
    missing = [k for k in ("images", captions_key) if k not in data]
    if missing:
        raise DataError(f"{path}: no {' or '.join(missing)} array; a captions file holds 'images' (N, H, W, C) and "
                        f"'{captions_key}' (N strings)")
    images, captions = data["images"], data[captions_key]
    if images.ndim != 4 or images.dtype.kind not in "uif" or captions.ndim != 1 or len(images) != len(captions) or captions.dtype.kind != "U":
        raise DataError(f"{path}: expected numeric images (N, H, W, C) and {captions_key} (N strings), got {images.shape} "
                        f"({images.dtype}) and {captions.shape} ({captions.dtype})")
    if images.shape[1] < MIN_SIDE or images.shape[2] < MIN_SIDE:
        raise DataError(f"{path}: images are {images.shape[1]}x{images.shape[2]} pixels; the captioner's encoder pools 2x2, so images need "
                        f"at least {MIN_SIDE}x{MIN_SIDE} pixels -- resize them (e.g. to 16x16)")
    _check_code_points(path, captions, captions_key)
    pixels = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise DataError(f"{path}: images contain NaN or inf")
    scale = "divide by 255" if images.dtype == np.uint8 else "none"
    return pixels, [normalize_caption(str(c)) for c in captions], scale


def next_word_samples(images: np.ndarray, captions: Sequence[str], vocab: CaptionVocabulary) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every ``(image, post-padded prefix) -> next word`` pair of the captioned ``images``."""
    image_rows, prefixes, targets = [], [], []
    for row, caption in enumerate(captions):
        tokens = vocab.encode(caption)
        for t in range(1, len(tokens)):
            prefix = np.zeros(vocab.prefix_length, np.int32)
            prefix[:t] = tokens[:t]
            image_rows.append(row)
            prefixes.append(prefix)
            targets.append(tokens[t])
    return {IMAGE: images[np.array(image_rows, dtype=np.int64)], TOKENS: np.stack(prefixes)}, np.array(targets, dtype=np.int64)


def image_captions(path: str | Path, *, captions_key: str = "captions", min_count: int = 3, max_words: int = 4,
                   test_fraction: float = 0.2, seed: int = 0) -> PreparedData:
    """Next-word samples of a captions file; ``extras["captions"]`` keeps the test images and their reference captions.

    The preprocessing (``captioning``: the vocabulary, ids and image scaling) goes into the
    export manifests, so an app can encode prefixes and decode generated ids.
    """
    images, captions, scale = read_captions(path, captions_key)
    counts = Counter(w for c in captions for w in c.split())
    keep = [i for i, c in enumerate(captions) if 0 < len(c.split()) <= max_words and all(counts[w] >= min_count for w in c.split())]
    if len(keep) < 5:
        raise DataError(f"{path}: only {len(keep)} captions have at most {max_words} words that each occur at least {min_count} "
                        "times; lower min_count or raise max_words")
    vocab = CaptionVocabulary(tuple(sorted({w for i in keep for w in captions[i].split()})), max_words)
    order = np.random.default_rng(seed).permutation(np.array(keep))
    n_test = max(1, int(round(len(order) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    arrays: dict[str, np.ndarray] = {}
    for split, rows in (("train", train), ("test", test)):
        x, y = next_word_samples(images[rows], [captions[i] for i in rows], vocab)
        arrays |= {f"x_{split}__{name}": value for name, value in x.items()} | {f"y_{split}": y}
    preprocessing = {"captioning": {**vocab.to_dict(), "image": {"shape": list(images.shape[1:]), "scale": scale}}}
    extras = {"captions": {"images": images[test], "captions": np.array([captions[i] for i in test])}}
    return PreparedData(arrays, preprocessing=preprocessing, extras=extras,
                        description=f"{path}: {len(train)} train / {n_test} test captioned images ({len(arrays['y_train'])} / "
                                    f"{len(arrays['y_test'])} next-word samples), vocabulary {vocab.size}, captions of at most {max_words} words")
