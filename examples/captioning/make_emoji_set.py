"""Derive the small emoji captioning set shipped as ``examples/captioning/emoji_captions.npz``.

Source: the npm package ``emoji-datasource-twitter`` 16.0.0 (package MIT; Twemoji images
CC BY 4.0, Copyright 2020 Twitter, Inc and other contributors, https://github.com/twitter/twemoji).
Every emoji with a Twitter image: the 64x64 PNG composited on white and downsampled to 16x16
RGB (uint8), and its human-written Unicode name lower-cased (``"woman surfing"``).

Run (once, offline after ``npm pack emoji-datasource-twitter@16.0.0`` and untarring it)::

    python examples/captioning/make_emoji_set.py path/to/package examples/captioning/emoji_captions.npz

Example:
    >>> data = np.load("examples/captioning/emoji_captions.npz")       # doctest: +SKIP
    >>> data["images"].shape, str(data["names"][0])                  # doctest: +SKIP
    ((1911, 16, 16, 3), 'hash key')
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SIZE = 16


def derive(package: Path, out: Path) -> None:
    """Read ``emoji.json`` and the 64 px images of ``package``; write images, names and categories to ``out``."""
    from PIL import Image

    entries = [e for e in json.loads((package / "emoji.json").read_text(encoding="utf-8")) if e.get("has_img_twitter")]
    entries.sort(key=lambda e: e["sort_order"])
    images, names, categories = [], [], []
    for entry in entries:
        rgba = Image.open(package / "img" / "twitter" / "64" / entry["image"]).convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        images.append(np.asarray(rgb, np.uint8))
        names.append(entry["name"].lower())
        categories.append(entry["category"])
    np.savez_compressed(out, images=np.stack(images), names=np.array(names), categories=np.array(categories),
                        attribution=np.array("Twemoji images (c) Twitter, Inc and other contributors, CC BY 4.0; "
                                             "names and data from emoji-datasource-twitter 16.0.0 (MIT)"))


if __name__ == "__main__":
    derive(Path(sys.argv[1]), Path(sys.argv[2]))
