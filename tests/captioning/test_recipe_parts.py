"""The captioning recipe's parts: the image_captions source, recipe checks, the captioner builders, the caption stage's scoring."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_deploy.errors import DataError
from lstm_deploy.load.captions import END, START, CaptionVocabulary, image_captions, next_word_samples
from lstm_deploy.load.dataset import validate_arrays
from lstm_deploy.pipeline.recipe import parse_recipe

WORDS = ["red apple", "green apple", "red car", "green car", "red apple", "big red car", "green", "a rare word here too long"]


@pytest.fixture()
def captions_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "caps.npz"
    np.savez(path, images=rng.integers(0, 256, (len(WORDS), 6, 6, 3), dtype=np.uint8), captions=np.array(WORDS))
    return path


def test_vocabulary_round_trips_and_pads_after_the_caption():
    v = CaptionVocabulary(("apple", "red"), max_words=3)
    assert v.encode("red apple") == [START, 4, 3, END] and v.decode([4, 3]) == "red apple"
    x, y = next_word_samples(np.zeros((1, 2, 2, 3), np.float32), ["red apple"], v)
    assert x["tokens"].tolist() == [[1, 0, 0, 0], [1, 4, 0, 0], [1, 4, 3, 0]] and y.tolist() == [4, 3, END]
    assert x["image"].shape == (3, 2, 2, 3)


def test_image_captions_keeps_learnable_captions_and_holds_out_test_images(captions_npz):
    prepared = image_captions(captions_npz, min_count=2, max_words=3, test_fraction=0.25)
    vocab = prepared.preprocessing["captioning"]
    assert vocab["words"][:3] == ["<pad>", "<start>", "<end>"] and "rare" not in vocab["words"]  # rare words drop their caption
    assert vocab["prefix_length"] == 4 and vocab["image"] == {"shape": [6, 6, 3], "scale": "divide by 255"}
    held_out = prepared.extras["captions"]
    assert len(held_out["images"]) == 2 and set(held_out["captions"]) <= set(WORDS)
    ds = validate_arrays(prepared.arrays, model_inputs={"image": (6, 6, 3), "tokens": (4,)})
    assert ds.task == "classification" and float(ds.x_train["image"].max()) <= 1.0
    # every test caption gives (words + 1) next-word samples, all of its image
    assert len(ds.y_test) == sum(len(c.split()) + 1 for c in held_out["captions"])


def test_image_captions_names_what_is_missing(tmp_path, captions_npz):
    with pytest.raises(DataError, match="no names array"):
        image_captions(captions_npz, captions_key="names")
    with pytest.raises(DataError, match="only 0 captions"):
        image_captions(captions_npz, min_count=50)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, images=np.array([object()] * 2, dtype=object), captions=np.array(["a", "b"]))
    with pytest.raises(DataError, match="pickled Python objects"):  # refused from the header, nothing unpickled
        image_captions(pickled)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(DataError, match="not a readable .npz captions file"):
        image_captions(tmp_path / "text.npz")


@pytest.mark.parametrize("recipe, message", [
    ({"data": {"kind": "aeon_classification"}, "model": {"train": {}}, "stages": ["caption"]}, "needs captioned images"),
    ({"data": {"kind": "image_captions", "path": "x.npz"}, "model": {"train": {}}}, "trains merge_captioner or inject_captioner"),
    ({"data": {"kind": "aeon_classification"}, "model": {"train": {"architecture": {"type": "inject_captioner"}}}}, "captioners train on"),
])
def test_recipe_pairs_captioners_with_caption_data(recipe, message):
    from lstm_deploy.errors import InputError

    with pytest.raises(InputError, match=message):
        parse_recipe({"name": "r", **recipe})


@pytest.mark.parametrize("arch", ["merge_captioner", "inject_captioner"])
def test_built_captioners_export_as_encoder_and_decoder_that_caption_like_keras(tmp_path, captions_npz, arch):
    """Both textbook architectures from the recipe builder; the inject one honours the padding mask in Keras 3."""
    from lstm_deploy.export.captioner import export_captioner
    from lstm_deploy.load.flavours import predict
    from lstm_deploy.pipeline.recipe import Architecture
    from lstm_deploy.pipeline.train import build_captioner

    prepared = image_captions(captions_npz, min_count=2, max_words=3, test_fraction=0.25)
    ds = validate_arrays(prepared.arrays)
    model = build_captioner(Architecture(type=arch, units=[5], embedding_dim=4, conv_filters=3), ds, vocab_size=9)
    image = ds.x_test["image"][:1]
    post, pre = np.array([[1, 4, 0, 0]], "int32"), np.array([[0, 0, 1, 4]], "int32")  # the padding steps are skipped: same output
    np.testing.assert_allclose(predict(model, {"image": image, "tokens": post}), predict(model, {"image": image, "tokens": pre}), atol=1e-6)
    arts = export_captioner(model, tmp_path, start=START, end=END, images=ds.x_test["image"][:4], formats=("tflite",),
                            preprocessing=prepared.preprocessing)
    assert arts[0].greedy_agreement == 1.0
    manifest = (tmp_path / "captioner.decoder.fp32.tflite.json").read_text()
    assert '"<start>"' in manifest  # the vocabulary travels with the artifacts


def test_scores_are_fractions():
    from lstm_deploy.pipeline.caption import score_captions

    perfect = score_captions(["a big red apple", "a small green car"], ["a big red apple", "a small green car"])
    assert perfect == {"bleu": 1.0, "bleu1": 1.0, "exact_match": 1.0}
    half = score_captions(["blue sky", "green car"], ["red apple", "green car"])
    assert half == {"bleu": 0.0, "bleu1": 0.5, "exact_match": 0.5}  # no 4-grams in two-word captions: BLEU-4 is 0
