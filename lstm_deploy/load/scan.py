"""What a model file would run if it were loaded, found by reading the file before any loader sees it.

Keras' safe mode only covers ``Lambda`` in ``.keras`` files; tf_keras has no safe mode at all for
SavedModels (it runs a Lambda while loading). So before loading, lstm-deploy reads the model's
config -- ``config.json`` of a ``.keras`` zip, the ``model_config`` attribute of an ``.h5`` file,
every node of a SavedModel's ``keras_metadata.pb`` -- and the SavedModel's TensorFlow graph, and
lists everything that would run code the file brings along:

- ``Lambda`` layers and serialized Python functions (``__lambda__``): Python bytecode;
- ``TFOpLambda`` / ``SlicingOpLambda``: TensorFlow functions called by a name the file chooses;
- ``TFSMLayer``, ``TorchModuleWrapper``, ``JaxLayer``, ``FlaxLayer``: code from another file or framework;
- objects from modules outside Keras (``module: builtins``, ``__main__``, ``os``, Keras'
  ``utils``/``saving``/``config``, ...) and registered custom classes (``"package>Name"``);
- class names the Keras flavour does not define (custom layers, revived from a SavedModel graph);
- SavedModel graph ops that call back into Python or read or write files (the variable saver
  that tf_keras itself writes may save and restore checkpoints, nothing else may).

``compile_config`` / ``training_config`` are skipped: models are loaded with ``compile=False``,
so a custom loss named there never runs.

Example:
    >>> config_findings({"class_name": "Lambda", "config": {"name": "double"}})
    ["Lambda layer 'double' (Python code)"]
    >>> config_findings({"module": "builtins", "class_name": "function", "config": "eval"})[0]
    'function builtins.eval (outside the Keras layers, initializers and activations)'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

#: Config keys Keras never deserializes with ``compile=False``.
SKIPPED_KEYS = frozenset({"compile_config", "training_config"})
#: Serialization wrappers for plain values (tuples, tensors, shapes, registered TensorFlow type specs); ``__lambda__`` is code.
DATA_WRAPPERS = frozenset({"__tuple__", "__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__", "__typespec__",
                           "TensorShape", "TypeSpec", "CompositeTensor"})
#: Parts of Keras whose classes a model config may name (``keras.layers``, ``keras.src.ops.numpy``, ...).
KERAS_PARTS = frozenset({"layers", "initializers", "regularizers", "constraints", "activations", "models", "engine", "ops",
                         "dtype_policies", "mixed_precision", "losses", "metrics", "optimizers"})
#: SavedModel ops that call Python or touch files; only the saver tf_keras wrote may save/restore.
IO_OPS = re.compile(r"PyFunc|File|Reader|Summary|Dataset|Debug|Proto|Checkpoint|^(Save|Restore|Print|ImmutableConst|LoadAndRemap|GenerateVocab)")
SAVER_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "ShardedFilespec"})
MAX_FINDINGS = 5
#: Built-in Keras layers that bring in code from elsewhere: another SavedModel by path, a pickled PyTorch module, JAX functions.
IMPORTING_LAYERS = {"TFSMLayer": "loads the SavedModel its config names", "TorchModuleWrapper": "unpickles a PyTorch module",
                    "JaxLayer": "calls JAX functions stored with it", "FlaxLayer": "calls a Flax module stored with it"}


def _keras_module(module: str, function: bool) -> bool:
    """``keras.layers`` / ``keras.src.ops.numpy`` / ``tf_keras.src.engine.functional`` yes; ``builtins``, ``keras.utils`` no."""
    parts = module.split(".")
    if parts[0] not in ("keras", "tf_keras"):
        return False
    rest = parts[2:] if len(parts) > 1 and parts[1] == "src" else parts[1:]
    if not rest:
        return not function  # ``keras`` itself: Sequential, DTypePolicy
    return rest[0] == "activations" if function else rest[0] in KERAS_PARTS


def _walk(config: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in ``config`` (iterative: a deeply nested file cannot exhaust the stack)."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(v for k, v in node.items() if k not in SKIPPED_KEYS)
        elif isinstance(node, list):
            stack.extend(node)


def _finding(node: dict[str, Any], known: Callable[[str], bool] | None) -> str | None:
    cls = node["class_name"]
    inner = node.get("config") if isinstance(node.get("config"), dict) else {}
    name = inner.get("name", "?")
    if cls == "Lambda":
        return f"Lambda layer '{name}' (Python code)"
    if cls == "__lambda__":
        return "serialized Python function (Python code)"
    if cls in IMPORTING_LAYERS:
        return f"{cls} layer '{name}' ({IMPORTING_LAYERS[cls]})"
    if cls in ("TFOpLambda", "SlicingOpLambda"):
        return f"{cls} layer '{name}' (calls TensorFlow's {str(inner.get('function', '?'))[:80]} by name)"
    if cls in DATA_WRAPPERS:
        return None
    if "module" in node:  # Keras 3 / tf_keras v3 serialization: where the class comes from
        module, registered = node["module"], node.get("registered_name")
        if registered not in (None, cls) or not isinstance(module, str):
            return f"custom object '{str(registered or cls)[:80]}' (not part of Keras)"
        if not _keras_module(module, function=cls == "function"):
            what = f"function {module}.{node.get('config')}" if cls == "function" else f"'{cls}' from module {module}"
            return f"{what[:120]} (outside the Keras layers, initializers and activations)"
        return None
    if known is not None and not known(cls):
        return f"custom class '{cls[:80]}' (Keras does not define it)"
    return None


def config_findings(config: Any, known: Callable[[str], bool] | None = None) -> list[str]:
    """What in a Keras model config would run code; ``known(name)`` says whether Keras defines a class name."""
    found: list[str] = []
    for node in _walk(config):
        if isinstance(node.get("class_name"), str):
            finding = _finding(node, known)
            if finding and finding not in found:
                found.append(finding)
    return found


def keras_class_names(flavour: str) -> Callable[[str], bool]:
    """The class names the given Keras flavour defines (layers, initializers, models, ...)."""
    from .. import _tf

    k = _tf.keras3() if flavour == "keras3" else _tf.tf_keras()
    names = {"Functional", "Sequential", "Model"}
    for part in ("layers", "initializers", "regularizers", "constraints", "models", "mixed_precision", "dtype_policies", "losses", "metrics", "optimizers"):
        names.update(n for n in dir(getattr(k, part, None)) if n[:1].isupper())
    return names.__contains__


def _calls(nodes: Iterable[Any], library: dict[str, Any]) -> Iterator[str]:
    """Names of graph functions that ``nodes`` call (directly, or through attrs such as ``f``/``body``)."""
    for node in nodes:
        if node.op in library:
            yield node.op
        for attr in node.attr.values():
            if attr.HasField("func"):
                yield attr.func.name
            yield from (f.name for f in attr.list.func)


def _closure(roots: Iterable[str], library: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    stack = [r for r in roots if r in library]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(c for c in _calls(library[name].node_def, library) if c in library)
    return seen


def graph_findings(meta_graph: Any) -> list[str]:
    """Ops in a SavedModel meta graph that call Python or touch files, outside tf_keras' own variable saver."""
    graph = meta_graph.graph_def
    library = {f.signature.name: f for f in graph.library.function}
    saver_nodes = {t.split(":")[0] for t in (meta_graph.saver_def.save_tensor_name, meta_graph.saver_def.restore_op_name) if t}
    saver = _closure(_calls((n for n in graph.node if n.name in saver_nodes), library), library)
    other_roots = list(_calls((n for n in graph.node if n.name not in saver_nodes), library))
    other_roots += list(meta_graph.object_graph_def.concrete_functions) + [f for f in library if f not in saver]
    saver_only = saver - _closure(other_roots, library)  # a saver function something else calls is scanned strictly
    found: list[str] = []
    scopes = [("the graph", [n for n in graph.node if n.name not in saver_nodes], frozenset())]
    scopes += [(f"graph function {name[:80]}", f.node_def, SAVER_OPS if name in saver_only else frozenset()) for name, f in library.items()]
    for where, nodes, allowed in scopes:
        for op in sorted({n.op for n in nodes if IO_OPS.search(n.op) and n.op not in allowed}):
            finding = f"TensorFlow op {op} in {where} (calls Python or reads/writes files)"
            if finding not in found:
                found.append(finding)
    return found


def saved_model_findings(path: Path) -> list[str]:
    """Scan a tf_keras SavedModel directory: every Keras metadata node, then its TensorFlow graph."""
    import json

    from .. import _tf

    _tf.tf_keras()
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    metadata, saved = saved_metadata_pb2.SavedMetadata(), saved_model_pb2.SavedModel()
    try:
        metadata.ParseFromString((path / "keras_metadata.pb").read_bytes())
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
        configs = [json.loads(node.metadata) for node in metadata.nodes]
    except (DecodeError, ValueError, RecursionError) as exc:
        raise ModelLoadError(f"{path}: not a readable SavedModel (corrupt keras_metadata.pb or saved_model.pb: {str(exc)[:120]})") from None
    known = keras_class_names("tf_keras")
    found: list[str] = []
    for item in config_findings(configs, known) + [f for mg in saved.meta_graphs for f in graph_findings(mg)]:
        if item not in found:
            found.append(item)
    return found


def refuse(path: Path, findings: list[str]) -> None:
    """Raise :class:`ModelLoadError` naming what was found (nothing was loaded, nothing ran)."""
    if not findings:
        return
    more = f" and {len(findings) - MAX_FINDINGS} more" if len(findings) > MAX_FINDINGS else ""
    raise ModelLoadError(
        f"{path}: refused before loading, it carries code: {'; '.join(findings[:MAX_FINDINGS])}{more}. "
        "lstm-deploy runs no code from model files (nothing was loaded); replace these with built-in Keras layers, "
        "or pass --unsafe (unsafe=True) if you trust this file"
    )
