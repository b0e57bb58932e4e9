"""The PyTorch NLP tutorial's character RNNs (rnn01 classifier, rnn02 language model).

Modules, imports in one direction: :mod:`.model` (architecture, sequences, checkpoint format)
<- :mod:`.encoder` (fast inference, the tutorial loop as oracle) and :mod:`.train` (training,
checkpoint cache) <- :mod:`.spec` (the config option: load or train).
"""

from lookup.encoders.char_rnn.encoder import CharRNNEncoder, load_pretrained, reference_encode
from lookup.encoders.char_rnn.model import (
    POOLINGS,
    STATE_KEYS,
    TASKS,
    CharRNN,
    CharRNNConfig,
    ElmanRNN,
    resolve_device,
)
from lookup.encoders.char_rnn.spec import CharRNNSpec, load_or_train

__all__ = [
    "POOLINGS",
    "STATE_KEYS",
    "TASKS",
    "CharRNN",
    "CharRNNConfig",
    "CharRNNEncoder",
    "CharRNNSpec",
    "ElmanRNN",
    "load_or_train",
    "load_pretrained",
    "reference_encode",
    "resolve_device",
]
