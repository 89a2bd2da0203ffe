"""lstm_deploy_runtime validates every manifest by one schema at load and checks the artifact's SHA-256 (issue 25, items 3-4).

Fast tier. Each bad manifest of the adversarial pass is written beside a copy of a real artifact and
loaded with ``Model.load``: it must raise the runtime's own ``ManifestError`` (a ``RuntimeError_``)
naming the field, before any request -- never AttributeError, RecursionError or a late 500.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from lstm_deploy_runtime import ArtifactMismatchError, ManifestError, Model, RuntimeError_, validate_manifest
from lstm_deploy_runtime.manifest import FORMAT_VERSION, MAX_BYTES
from lstm_deploy_runtime.tokenizers import NAMED_PATTERNS
from tests.zoo import T, exported


@pytest.fixture(scope="module")
def onnx_artifact() -> tuple[Path, dict]:
    _, results, _ = exported("stacked")
    art = next(r.artifact for r in results if r.format == "onnx")
    return art, json.loads(Path(str(art) + ".json").read_text())


def _copy(tmp_path: Path, art: Path, manifest: dict | str, name: str = "m.onnx") -> Path:
    target = tmp_path / name
    target.write_bytes(art.read_bytes())
    Path(str(target) + ".json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return target


def _deep(n: int) -> str:
    return '{"format": "onnx", "extra": ' + "[" * n + "]" * n + "}"


BAD = {  # name -> (change to a good manifest, or the whole text; what the error names)
    "nan_labels": ({"labels": [float("nan"), "b", "c"]}, r"labels\[0\] is nan; expected a string .* or a finite number"),
    "dict_labels": ({"labels": {"a": 1}}, r"labels is dict .*; expected a list"),
    "input_names_path": ({"input_names": ["../etc"]}, r"input_names\[0\] is '\.\./etc'; expected a name .*not a path"),
    "missing_lengths_input": ({"masking": {"kind": "masking", "mask_value": 0.0, "lengths_input": "lengths"}},
                              r"masking\.lengths_input names 'lengths', which is not an input \(x\)"),
    "nan_preprocessing": ({"preprocessing": {"normalize": "zscore", "center": float("nan"), "scale": 2.0}},
                          r"preprocessing\.center is nan; expected a finite number"),
    "zero_scale": ({"preprocessing": {"normalize": "zscore", "center": 0.0, "scale": 0.0}}, r"preprocessing\.scale is 0\.0; expected a finite number other than 0"),
    "nan_std": ({"preprocessing": {"mean": [0.0, 0.0, 0.0], "std": [1.0, float("inf"), 1.0]}}, r"preprocessing\.std\[1\] is inf"),
    "nan_input_range": ({"input_range": [float("nan"), 3]}, r"input_range is list \[nan, 3\]; expected \[low, high\]"),
    "inputs_string": ({"inputs": "abc"}, r"inputs is 'abc'; expected a list"),
    "inputs_item": ({"inputs": [{"name": "x", "shape": "wide"}]}, r"inputs\[0\]\.shape is 'wide'; expected a list"),
    "evil_token_pattern": ({"preprocessing": {"tokenizer": {"words": ["a"], "max_len": 4, "token_pattern": "(a+)+$"}}},
                           r"token_pattern '\(a\+\)\+\$' is not one of the named patterns"),
    "unknown_pattern_name": ({"preprocessing": {"tokenizer": {"words": ["a"], "max_len": 4, "pattern": "(a+)+$"}}},
                             r"tokenizer\.pattern is '\(a\+\)\+\$'; expected one of the named patterns words, unicode_words, non_space"),
    "bool_batch": ({"batch_size": True}, r"batch_size is True; expected a whole number"),
    "bad_sha": ({"artifact_sha256": "../../x"}, r"artifact_sha256 is '\.\./\.\./x'; expected 64 lowercase hexadecimal digits"),
    "state_not_in_artifact": ({"streaming": {"states": [{"input": "state_h0", "output": "next_h0", "units": 4}]}},
                              r"streaming\.states names input 'state_h0', which m\.onnx does not have"),
    "deep_json": (_deep(100_000), r"nested deeper than 32 levels"),
    "moderately_deep_json": (_deep(200), r"nested deeper than 32 levels"),
    "not_an_object": ("[1, 2]", r"must be a JSON object, got list"),
    "newer_format": ({"format_version": FORMAT_VERSION + 1, "lstm_deploy_version": "9.0.0"},
                     rf"format_version {FORMAT_VERSION + 1} \(written by lstm-deploy 9\.0\.0\); this lstm-deploy-runtime .* reads format "
                     rf"{FORMAT_VERSION} and older -- upgrade it"),
    "format_version_text": ({"format_version": "2"}, r"format_version is '2'; expected a whole number"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_manifest_raises_the_runtimes_own_error_at_load(case, onnx_artifact, tmp_path):
    art, good = onnx_artifact
    change, message = BAD[case]
    manifest = change if isinstance(change, str) else {**good, **change}
    target = _copy(tmp_path, art, manifest)
    with pytest.raises(ManifestError, match=message) as info:
        Model.load(target)
    assert isinstance(info.value, RuntimeError_) and "\n" not in str(info.value) and len(str(info.value)) < 600


def test_dict_manifests_are_validated_too(onnx_artifact):
    """Model(source, manifest) (export's parity run, apps building manifests) goes through the same schema."""
    art, good = onnx_artifact
    with pytest.raises(ManifestError, match=r"labels\[0\] is nan"):
        Model(art.read_bytes(), {**good, "labels": [float("nan")]}, name="m.onnx")
    with pytest.raises(ManifestError, match="must be a JSON object"):
        validate_manifest("abc", "m.json")


def test_oversized_manifest_is_refused_before_it_is_read(onnx_artifact, tmp_path):
    art, good = onnx_artifact
    target = _copy(tmp_path, art, good)
    with open(str(target) + ".json", "a") as fh:
        fh.truncate(MAX_BYTES + 1)
    with pytest.raises(ManifestError, match=rf"is {MAX_BYTES + 1} bytes; a manifest is at most {MAX_BYTES} bytes"):
        Model.load(target)


def test_swapped_artifact_is_refused_and_verify_false_opts_out(onnx_artifact, tmp_path):
    art, good = onnx_artifact
    _, masked_results, _ = exported("masked")
    other = next(r.artifact for r in masked_results if r.format == "onnx")  # same input shape, another model
    target = tmp_path / "m.onnx"
    target.write_bytes(other.read_bytes())
    Path(str(target) + ".json").write_text(json.dumps(good))
    with pytest.raises(ArtifactMismatchError, match=r"m\.onnx has SHA-256 [0-9a-f]{16}\.\.\. but its manifest records .*verify=False"):
        Model.load(target)
    x = np.random.default_rng(0).standard_normal((2, T, 3)).astype(np.float32)
    swapped = Model.load(target, verify=False).predict(x)  # an artifact edited on purpose: the user's explicit choice
    assert np.abs(swapped - Model.load(other).predict(x)).max() <= 1e-6
    assert np.abs(Model.load(art).predict(x) - Model.load(art, verify=False).predict(x)).max() == 0.0


def test_manifests_written_by_0_2_0_keep_loading(onnx_artifact, tmp_path):
    """No format_version, the tokenizer's regex text instead of a name: loads when that text is a named pattern."""
    art, good = onnx_artifact
    old = {k: v for k, v in good.items() if k != "format_version"}
    old.update(lstm_deploy_version="0.2.0", preprocessing={"tokenizer": {"type": "word-vocabulary", "lowercase": True,
                                                                          "token_pattern": "[a-z0-9']+", "words": ["a"], "max_len": T}})
    model = Model.load(_copy(tmp_path, art, old))
    assert model.preprocessing["tokenizer"]["token_pattern"] == NAMED_PATTERNS["words"]
    assert good["format_version"] == FORMAT_VERSION  # what export writes today


def test_hostile_token_pattern_never_runs(onnx_artifact, tmp_path):
    """(a+)+$ took 10 s on 27 characters when the runtime compiled the manifest's regex; now it is refused in milliseconds."""
    art, good = onnx_artifact
    tok = {"words": ["a"], "max_len": T, "token_pattern": "(a+)+$"}
    target = _copy(tmp_path, art, {**good, "preprocessing": {"tokenizer": tok}})
    start = time.perf_counter()
    with pytest.raises(ManifestError):
        Model.load(target)
    assert time.perf_counter() - start < 2.0


def test_named_patterns_tokenize_like_the_training_vocabulary():
    from lstm_deploy.load.sources import Vocabulary
    from lstm_deploy_runtime import prepare_inputs

    vocab = Vocabulary(("good", "film", "isn't"), 6)
    texts = ["Good film, isn't it?", "a" * 5000 + "!"]
    assert vocab.to_dict()["pattern"] == "words"
    np.testing.assert_array_equal(prepare_inputs(texts, {"tokenizer": vocab.to_dict()}), vocab.encode(texts))


def test_one_version_for_both_distributions_and_small_modules():
    """lstm-deploy pins lstm-deploy-runtime at its own version; both packages' modules stay under 400 lines."""
    import tomllib

    import lstm_deploy
    import lstm_deploy_runtime

    root = Path(__file__).resolve().parents[1]
    main = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    runtime = tomllib.loads((root / "runtime" / "pyproject.toml").read_text())["project"]
    assert main["version"] == runtime["version"] == lstm_deploy.__version__ == lstm_deploy_runtime.__version__
    assert f"lstm-deploy-runtime=={main['version']}" in main["dependencies"]
    assert runtime["dependencies"] == ["numpy>=1.26,<3"]  # numpy only; the engines are extras
    pins = {d.split("==")[0]: d for d in main["dependencies"]}
    assert {pins[d.split("==")[0]] for deps in runtime["optional-dependencies"].values() for d in deps} <= set(main["dependencies"])
    long = {p.name: n for p in (root / "runtime" / "lstm_deploy_runtime").glob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
