"""What a README shell example says it prints: its ``# → …`` comments as patterns (ids, times
and sizes vary from run to run), for the checks of tests/test_readme_examples.py."""

from __future__ import annotations

import re


def promised_output(block: str) -> list[re.Pattern]:
    """One pattern per output line the block's ``# → `` comments show (a comment continued on the
    next ``#     `` lines is one line each)."""
    lines, following = [], False
    for line in block.splitlines():
        if line.startswith("# → "):
            lines.append(line[4:])
            following = True
        elif following and line.startswith("#   "):
            lines.append(line[4:])
        else:
            following = False
    return [re.compile(_pattern(line)) for line in lines]


_VARIES = {  # what varies in a line of output, as the README writes it → what it may be
    r"[0-9a-f]+…": r"[0-9a-f]{24}",  # an id (6b10…)
    r"in [0-9.]+ s": r"in [0-9.]+ (s|min)",
    r"[0-9.]+ (?:B|KB|MB)\b": r"[0-9.]+ (B|KB|MB)",
}


def _pattern(line: str) -> str:
    """``line`` as a pattern: its literal text escaped, what varies (``_VARIES``) as a pattern."""
    pieces = re.split("(" + "|".join(_VARIES) + ")", line)
    return "".join(next((_VARIES[v] for v in _VARIES if re.fullmatch(v, piece)), None) or re.escape(piece)
                   if i % 2 else re.escape(piece) for i, piece in enumerate(pieces))
