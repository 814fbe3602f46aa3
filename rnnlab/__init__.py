"""rnnlab: train and understand recurrent networks on the CPU.

The scripted API mirrors ``torch.nn``::

    import numpy as np
    import rnnlab as rl

    lstm = rl.LSTM(8, 32, num_layers=2, batch_first=True, bidirectional=True, seed=0)
    out, (h_n, c_n) = lstm(x, lengths=lengths)
    dx, (dh0, dc0) = lstm.backward(dout)
"""

from .engine.checkpoint import CheckpointError, load_weights, save_weights
from .engine.clip import clip_grad_norm_, clip_grad_value_
from .engine.config import set_threads
from .engine.grad_mode import is_grad_enabled, no_grad
from .engine.layers import Dropout, Embedding, LastStep, Linear, Sequential
from .engine.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .engine.module import Module, Parameter
from .engine.optim import SGD, Adam, AdamW, CosineAnnealingLR, RMSprop, StepLR
from .engine.recurrent import GRU, LSTM, RNN, Recurrent, layer
from .engine.stepcells import GRUCell, LSTMCell, RNNCell

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SGD",
    "Adam",
    "AdamW",
    "BCEWithLogitsLoss",
    "CheckpointError",
    "CosineAnnealingLR",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "GRUCell",
    "LSTMCell",
    "LastStep",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "RMSprop",
    "RNNCell",
    "Recurrent",
    "Sequential",
    "StepLR",
    "__version__",
    "clip_grad_norm_",
    "clip_grad_value_",
    "is_grad_enabled",
    "layer",
    "load_weights",
    "no_grad",
    "save_weights",
    "set_threads",
]
