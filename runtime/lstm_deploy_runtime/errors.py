"""The runtime's own errors: every artifact, manifest or input it cannot use raises one of these."""

from __future__ import annotations


class RuntimeError_(Exception):
    """An artifact, manifest or input cannot be used (the runtime's own type; no TensorFlow, no lstm_deploy)."""


class ManifestError(RuntimeError_):
    """A manifest is malformed, too large or too deep, out of range, or written for a newer runtime."""


class ArtifactMismatchError(RuntimeError_):
    """The artifact file is not the one its manifest describes (its SHA-256 differs from ``artifact_sha256``)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (native runtimes write pages)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)
