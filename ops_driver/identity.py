"""Who a name means: names of people are compared after Unicode NFKC, case folding and trimming, so that
``Tanaka``, ``ｔａｎａｋａ`` (full-width) and `` tanaka `` are the same person (issue #24, item 3).
"""

from __future__ import annotations

import unicodedata


def normalise(name: str) -> str:
    """``name`` as compared: NFKC (full-width letters to their ASCII forms), case folded, surrounding space trimmed."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def same_person(a: str, b: str) -> bool:
    """Whether two names are the same person after :func:`normalise`."""
    return normalise(a) == normalise(b)
