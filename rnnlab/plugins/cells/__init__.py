"""Built-in cell plugins: peephole LSTM, layer-normalised LSTM and IndRNN.

Each module holds its Numba forward/backward kernel pair and its
:class:`~rnnlab.engine.cell.Cell` subclass. Importing this package compiles nothing;
kernels compile (or load from the cache) on first use.
"""

from .indrnn import IndRNNKernel
from .layernorm_lstm import LayerNormLSTMKernel
from .peephole_lstm import PeepholeLSTMKernel

PLUGIN_CELLS = (PeepholeLSTMKernel, LayerNormLSTMKernel, IndRNNKernel)

__all__ = ["PLUGIN_CELLS", "IndRNNKernel", "LayerNormLSTMKernel", "PeepholeLSTMKernel"]
