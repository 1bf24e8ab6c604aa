"""Word error rate in any language (tests and bench/languages.py).

Words are compared case-folded, without accents (Whisper's "coheté" for "cohete" is a small
slip, not a wrong word), numbers as written digits, punctuation dropped.
"""

from __future__ import annotations

import re
import unicodedata


def words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.findall(r"\w+", plain.replace("'", " ").replace("-", " "))


def wer(reference: str, hypothesis: str) -> float:
    """Word-level edit distance / reference length."""
    return edit_rate(words(reference), words(hypothesis))


def edit_rate(ref: list[str], hyp: list[str]) -> float:
    """Edits (substitutions, insertions, deletions) turning ``ref`` into ``hyp``, per word of ``ref``."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))
