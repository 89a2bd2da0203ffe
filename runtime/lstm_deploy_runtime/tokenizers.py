"""The fixed set of named tokenizer patterns a manifest may choose from (never a regex read from a file).

Each is one character class repeated, which ``re`` matches in time linear in the text. A
manifest names one (``tokenizer.pattern``); a manifest written by lstm-deploy 0.2.0 carries the
regex text instead (``tokenizer.token_pattern``) and loads when that text is one of these.

Example:
    >>> tokenizer_pattern({"pattern": "words"}).findall("it's GOOD".lower())
    ["it's", 'good']
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ManifestError

#: name -> regex; every one a single repeated character class (linear time, no backtracking).
NAMED_PATTERNS: dict[str, str] = {
    "words": r"[a-z0-9']+",       # lowercase ASCII words and numbers, apostrophes kept (lstm-deploy's text vocabularies)
    "unicode_words": r"[\w']+",   # letters and digits of any script
    "non_space": r"\S+",          # anything between whitespace
}
DEFAULT_PATTERN = "words"

_COMPILED = {name: re.compile(text) for name, text in NAMED_PATTERNS.items()}
_BY_TEXT = {text: name for name, text in NAMED_PATTERNS.items()}


def pattern_name(tok: dict[str, Any]) -> str:
    """The named pattern a manifest ``tokenizer`` uses, or :class:`ManifestError` for anything else."""
    known = ", ".join(NAMED_PATTERNS)
    if "pattern" in tok:
        name = tok["pattern"]
        if name not in NAMED_PATTERNS:
            raise ManifestError(f"preprocessing.tokenizer.pattern is {str(name)[:60]!r}; expected one of the named patterns {known}")
        if "token_pattern" in tok and tok["token_pattern"] != NAMED_PATTERNS[name]:
            raise ManifestError(f"preprocessing.tokenizer: token_pattern {str(tok['token_pattern'])[:60]!r} is not pattern {name!r} "
                                f"({NAMED_PATTERNS[name]}); re-export the model")
        return str(name)
    text = tok.get("token_pattern", NAMED_PATTERNS[DEFAULT_PATTERN])
    if text not in _BY_TEXT:
        raise ManifestError(f"preprocessing.tokenizer.token_pattern {str(text)[:60]!r} is not one of the named patterns "
                            f"({'; '.join(f'{n}: {t}' for n, t in NAMED_PATTERNS.items())}); the runtime never compiles a "
                            "regex from a manifest -- re-export the model or set tokenizer.pattern to one of the names")
    return _BY_TEXT[text]


def tokenizer_pattern(tok: dict[str, Any]) -> re.Pattern[str]:
    """The compiled named pattern of a manifest ``tokenizer``."""
    return _COMPILED[pattern_name(tok)]
