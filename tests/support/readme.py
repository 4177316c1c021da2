"""The README's shell examples, run as written: a section's ```sh blocks, and the output their
``# → …`` comments promise, as patterns (ids, times and sizes vary from run to run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def sh_blocks(section: str) -> list[str]:
    """The ```sh blocks of the section whose heading is ``section`` (up to the next heading of its level)."""
    text = README.read_text(encoding="utf-8")
    level = section.split(" ", 1)[0]
    start = text.index(f"\n{section}\n")
    end = text.find(f"\n{level} ", start + len(section) + 2)
    return re.findall(r"```sh\n(.*?)```", text[start:end if end != -1 else None], re.S)


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


def run_block(block: str, cwd: Path, env: dict[str, str], replace: dict[str, str]) -> subprocess.CompletedProcess:
    """``block`` in bash (``-e``: it stops at the first command that fails), ``replace`` applied
    first (the README's placeholders: the key, a photo's path)."""
    for placeholder, value in replace.items():
        assert placeholder in block, f"the README's example no longer has {placeholder!r}"
        block = block.replace(placeholder, value)
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
