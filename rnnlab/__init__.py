"""rnnlab: train and understand recurrent networks on the CPU.

The scripted API mirrors ``torch.nn``::

    import numpy as np
    import rnnlab as rl

    lstm = rl.LSTM(8, 32, num_layers=2, batch_first=True, bidirectional=True, seed=0)
    out, (h_n, c_n) = lstm(x, lengths=lengths)
    dx, (dh0, dc0) = lstm.backward(dout)
"""

from .engine.config import set_threads
from .engine.module import Module, Parameter
from .engine.recurrent import GRU, LSTM, RNN, Recurrent, layer
from .engine.stepcells import GRUCell, LSTMCell, RNNCell

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "Module",
    "Parameter",
    "RNNCell",
    "Recurrent",
    "__version__",
    "layer",
    "set_threads",
]
