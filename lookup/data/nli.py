"""SNLI sentence pairs for training sentence encoders with the NLI objective.

Reads the official SNLI 1.0 files (``snli_1.0_*.jsonl`` or ``snli_1.0_*.txt``) and the
Hugging Face TSV export (``*.tsv``, header ``premise hypothesis label``, labels 0/1/2).
Labels: 0 entailment, 1 neutral, 2 contradiction; pairs without a gold label are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookup.errors import BadInput
from lookup.io import check_input_file, read_bounded

log = logging.getLogger(__name__)

LABELS = ("entailment", "neutral", "contradiction")
_LABEL_ID = {name: i for i, name in enumerate(LABELS)}


@dataclass(frozen=True)
class NLIPairs:
    """Premise/hypothesis pairs with labels (n,) int64 in 0..2 and a content fingerprint."""

    premises: list[str]
    hypotheses: list[str]
    labels: np.ndarray  # (n,) int64
    fingerprint: str

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int | None) -> NLIPairs:
        """The first ``n`` pairs (all when n is None)."""
        if n is None or n >= len(self):
            return self
        fp = hashlib.sha256(f"{self.fingerprint}:head{n}".encode()).hexdigest()[:16]
        return NLIPairs(self.premises[:n], self.hypotheses[:n], self.labels[:n], fp)


def load_nli(path: str | Path) -> NLIPairs:
    """Load SNLI pairs from ``.jsonl``, ``.txt`` (official) or ``.tsv`` (HF export).

    MissingFile for a missing file, BadPath for one that is not a regular file (never read);
    BadInput (one line) for another format.
    """
    path = check_input_file(
        None,
        Path(path),
        valid="an SNLI .jsonl, .txt or .tsv file (snli_1.0.zip from "
        "https://nlp.stanford.edu/projects/snli/; README: Data)",
    )
    raw = read_bounded(None, path)
    premises: list[str] = []
    hypotheses: list[str] = []
    labels: list[int] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"NLI file {str(path)!r} is not UTF-8 text ({exc.reason})") from None
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(
                    f"NLI file {str(path)!r} line {number} is not JSON ({exc.msg}); valid: one "
                    "SNLI JSON object per line"
                ) from None
            if obj.get("gold_label") in _LABEL_ID:
                premises.append(obj["sentence1"])
                hypotheses.append(obj["sentence2"])
                labels.append(_LABEL_ID[obj["gold_label"]])
    elif path.suffix in (".txt", ".tsv"):
        rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, [])
        if {"gold_label", "sentence1", "sentence2"} <= set(header):
            cols = [header.index(c) for c in ("sentence1", "sentence2", "gold_label")]
            to_label = _LABEL_ID.get
        elif {"premise", "hypothesis", "label"} <= set(header):
            cols = [header.index(c) for c in ("premise", "hypothesis", "label")]

            def to_label(v: str) -> int | None:
                return int(v) if v in ("0", "1", "2") else None
        else:
            raise BadInput(
                f"NLI file {str(path)!r} has header {header[:4]}; valid: SNLI .txt "
                "(gold_label ... sentence1 sentence2) or TSV (premise hypothesis label)"
            )
        for row in rows:
            if len(row) <= max(cols):
                continue
            label = to_label(row[cols[2]])
            if label is not None:
                premises.append(row[cols[0]])
                hypotheses.append(row[cols[1]])
                labels.append(label)
    else:
        raise BadInput(
            f"NLI file {str(path)!r} has extension {path.suffix!r}; valid: .jsonl, .txt, .tsv"
        )
    fp = hashlib.sha256(raw).hexdigest()[:16]
    log.info("loaded %d NLI pairs from %s", len(labels), path)
    return NLIPairs(premises, hypotheses, np.asarray(labels, dtype=np.int64), fp)
