"""The model a task is trained with: [Embedding] -> Recurrent -> [last valid step] -> Linear.

Built from a :class:`~rnnlab.engine.task.TaskSpec`; batch-first. Parameter names are dotted
torch-style: ``embedding.weight``, ``rnn.weight_ih_l0``, ``head.weight``.
"""

from __future__ import annotations

import numpy as np

from .layers import Embedding, LastStep, Linear
from .module import Module
from .recurrent import Recurrent
from .task import TaskSpec


class SequenceModel(Module):
    """``forward(x, lengths) -> pred``: ``(N, O)`` from the last valid step, or ``(N, T, O)``
    when ``spec.per_step``. ``x`` is ``(N, T, I)`` floats or ``(N, T)`` token ids.

    ``init_scale`` multiplies the recurrent layer's initial weights (for exploding-gradient
    lessons); ``cell_options`` go to the cell (e.g. ``proj_size``).
    """

    def __init__(self, spec: TaskSpec, cell: str = "lstm", hidden_size: int = 32,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 embedding_dim: int = 16, init_scale: float | None = None,
                 dtype=np.float32, seed: int = 0, cell_options: dict | None = None):
        super().__init__()
        self.spec = spec
        seeds = np.random.SeedSequence(seed).generate_state(3)
        in_size = spec.input_size
        if spec.vocab_size:
            self.embedding = Embedding(spec.vocab_size, embedding_dim,
                                       padding_idx=spec.padding_idx, dtype=dtype,
                                       seed=int(seeds[0]))
            in_size = embedding_dim
        else:
            self.embedding = None
        self.rnn = Recurrent(cell, in_size, hidden_size, num_layers=num_layers,
                             batch_first=True, dropout=dropout, bidirectional=bidirectional,
                             dtype=dtype, seed=int(seeds[1]), **(cell_options or {}))
        if init_scale is not None:
            for p in self.rnn.parameters():
                p.data *= init_scale
        D = self.rnn.num_directions
        self.last = None if spec.per_step else LastStep(batch_first=True, num_directions=D)
        self.head = Linear(D * self.rnn.output_size, spec.output_size, dtype=dtype,
                           seed=int(seeds[2]))

    def forward(self, x, lengths=None):
        h = self.embedding(x) if self.embedding is not None else x
        out, _ = self.rnn(h, lengths=lengths)
        if self.last is not None:
            out = self.last(out, lengths)
        return self.head(out)

    def backward(self, grad, *, input_grad=True):
        """``grad``: dL/dpred. Accumulates every parameter gradient; returns dL/dx (floats),
        or ``None`` with ``input_grad=False`` (then dL/dx is not computed)."""
        d = self.head.backward(grad)
        if self.last is not None:
            d = self.last.backward(d)
        dx, _ = self.rnn.backward(d, input_grad=input_grad or self.embedding is not None)
        if self.embedding is not None:
            self.embedding.backward(dx)
            return None
        return dx
