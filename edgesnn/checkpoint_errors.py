"""Why a file is not a loadable checkpoint, in one line a user can act on.

Checked in two steps: ``precheck`` looks at the file itself before torch reads it (missing, a folder,
empty, an exported ``.esnn``, not a PyTorch file at all); ``describe_load_failure`` turns what
``torch.load`` raised into a sentence without PyTorch's internals (its ``weights_only=False`` advice
does not apply: edgesnn never runs code from a checkpoint), ANSI colour codes or a message cut short.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from edgesnn.format.layout import MAGIC as ESNN_MAGIC

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format
PICKLE_MAGIC = b"\x80"  # torch.save's legacy format: a pickle (protocol 2+)
WHERE_FROM = "checkpoints are the .pt files that `edgesnn train` and `edgesnn finetune` write (OUT/best.pt)"

CUT_SHORT = "its zip directory, written last, is missing"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def precheck(path: Path) -> str | None:
    """What makes ``path`` not a checkpoint, judged from the file alone; None when torch may try it."""
    if path.is_dir():
        return f"is a folder, not a checkpoint file; give the file, e.g. {path / 'best.pt'}"
    if not path.exists():
        return "no such checkpoint file"
    with path.open("rb") as f:
        head = f.read(8)
    if not head:
        return (
            "the file is empty (0 bytes), cut short by an interrupted copy, download or save: "
            "copy it again or write it again"
        )
    if head.startswith(ESNN_MAGIC):
        return (
            "this is an exported .esnn model, not a checkpoint: give the .pt checkpoint it was exported "
            "from, e.g. the OUT/best.pt of `edgesnn train`; `edgesnn inspect` shows an .esnn model"
        )
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC)):
        return f"not a PyTorch file (it starts with bytes {head[:4].hex(' ')}); {WHERE_FROM}"
    if head.startswith(ZIP_MAGIC) and not zipfile.is_zipfile(path):  # the zip's directory is at its end
        return f"the file is damaged or cut short ({CUT_SHORT}): copy it again or write it again"
    return None


def first_sentence(text: str) -> str:
    """The first sentence of an error message, whole, without colour codes or surrounding space."""
    lines = [ln.strip() for ln in _ANSI.sub("", text).splitlines() if ln.strip()]
    if not lines:
        return ""
    return _SENTENCE_END.split(lines[0], maxsplit=1)[0].rstrip(".:")


def describe_load_failure(exc: BaseException) -> str:
    """What ``torch.load(..., weights_only=True)`` raising ``exc`` means for the user."""
    text = _ANSI.sub("", str(exc))
    refused = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if refused:  # a pickle that names classes or functions: not something edgesnn wrote
        return (
            f"it holds Python objects other than tensors and plain data ({first_sentence(refused[1])}), "
            f"and edgesnn never runs code from a checkpoint; {WHERE_FROM}"
        )
    reason = first_sentence(text) or "no detail given"
    if isinstance(exc, EOFError) or "zip archive" in text or "central directory" in text:
        return f"the file is damaged or cut short ({reason}): copy it again or write it again"
    return f"not a readable checkpoint ({type(exc).__name__}: {reason}); {WHERE_FROM}"
