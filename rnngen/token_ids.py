"""How token ids are stored: the smallest unsigned integer type that holds a vocabulary.

Shared by every tokenizer (``tokenizers``, ``bpe``) and the data pipeline, so none of
them has to import another for it.
"""

from __future__ import annotations

import numpy as np


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds every id: keeps big corpora compact
    (one byte per character for most alphabets)."""
    if vocab_size <= 256:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.uint32)
