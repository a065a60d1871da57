"""The "did you mean" hint of every unknown-name error (models, datasets, ``convzoo list``)."""
from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(word: str, choices: Iterable[str], *, substrings: bool = False, n: int = 5) -> str:
    """``"; did you mean: a, b?"`` naming up to ``n`` close matches of ``word``, or ``""``.

    Close = difflib's ratio >= 0.5; with ``substrings``, names containing ``word`` (without glob
    stars) are added after them, e.g. "v2" -> "efficientnet_v2_s".
    """
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.5)
    if substrings:
        key = word.strip("*").lower()
        close += [c for c in choices if key and key in c and c not in close]
    return f"; did you mean: {', '.join(close[:n])}?" if close else ""
