"""Built-in cells: Elman RNN (tanh, relu), LSTM (with optional projection) and GRU.

Each binds a pair of sequence kernels from :mod:`rnnlab.engine.kernels` to the
:class:`~rnnlab.engine.cell.Cell` contract, with torch's parameter names and gate order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import buffers
from .cell import Cache, Cell, ParamSpec
from .config import L2_BYTES
from .kernels.gru import gru_backward, gru_forward
from .kernels.lstm import lstm_backward, lstm_forward
from .kernels.rnn import rnn_backward, rnn_forward
from .kernels.sync import new_sync
from .parallel import Launch, unit_ranges, unit_threads


def torch_param_specs(gate_rows: int, input_size: int, hidden_size: int, out_size: int,
                      bias: bool) -> list[ParamSpec]:
    """torch's ``weight_ih (G, I)``, ``weight_hh (G, out)`` and, with ``bias``, ``bias_ih``
    and ``bias_hh (G,)``, for a cell with ``G = gate_rows`` pre-activations."""
    specs = [ParamSpec("weight_ih", (gate_rows, input_size)),
             ParamSpec("weight_hh", (gate_rows, out_size))]
    if bias:
        specs += [ParamSpec("bias_ih", (gate_rows,)), ParamSpec("bias_hh", (gate_rows,))]
    return specs


#: a one-sequence step product goes through BLAS's matrix-vector product from this many
#: weight elements per thread: it streams a large weight ~2x faster than the packed tiles
#: (hidden 512 LSTM), while the tiles win on small ones (0.65x the time at K 128, N 512)
DENSE_MIN_ELEMENTS = 131072
#: from this many bytes of weight per thread (a core's L2 cache) to twice as many, the
#: one-sequence product goes in two halves, their order flipped every step (see
#: :func:`~.kernels.common.operand_product`): read in one order, a weight as large as L2
#: streamed from L3 at every step. A half as large as L2 would not stay there either
DENSE_HALVES_MIN_BYTES = L2_BYTES
#: several sequences take each step's input and recurrent parts from one product when the
#: input is at most 1/FUSE_RATIO of the state: no separate projection GEMM and no pass over
#: its (T, B, G*H) output (14% faster at LSTM hidden 512, batch 16)
FUSE_RATIO = 8
#: from this many sequences, also when the input is at most as large as the state. One
#: thread, 100 steps, input 32-128, hidden 32-128, batch 8-32: LSTM inference 0.90-0.97x
#: the time, training 0.96-1.00x; Elman RNN 0.95-0.99x and 0.98-1.01x. With 2-4 sequences
#: and input 128 the fused product was slower (1.06-1.16x): the ratio alone decides there
FUSE_MIN_BATCH = 8


#: rows (steps x sequences) of the chunks in which a backward keeps its pre-activation
#: gradients and adds them to the weight gradients: the GEMMs stay large while the memory
#: no longer grows with the sequence length (a (T, B, G) buffer before)
CHUNK_ROWS = 512


#: a backward adds a chunk's input and recurrent weight gradients with one product over the
#: inputs and states side by side when the two weights hold at most this many elements
#: (each thread then keeps a buffer of that size, added into the gradients at its end).
#: One thread, a 512-row chunk: 0.86x the time of the two products at LSTM hidden 32,
#: 0.90x at hidden 128, 0.92x at hidden 512 (0.78x for 200 rows at hidden 32). On large
#: weights the buffer (4.4 MB a thread at LSTM hidden 512) and its final pass would take
#: back much of that and raise a training step's memory above PyTorch's at batch 1
MERGE_MAX_ELEMENTS = 262_144


def merged_grads(gate_rows: int, input_size: int, state: int) -> bool:
    """Whether a backward with ``gate_rows x (input_size + state)`` weights merges its
    weight-gradient products (see :data:`MERGE_MAX_ELEMENTS`)."""
    return gate_rows * (input_size + state) <= MERGE_MAX_ELEMENTS


def chunk_buffers(steps: int, batch: int, width: int, dtype) -> np.ndarray:
    """The chunk buffers ``(2, C, B, width)`` of a backward over ``steps`` steps of ``batch``
    sequences (see :func:`~.kernels.common.chunk_slot`); one when a chunk holds every step."""
    C = max(1, min(steps, CHUNK_ROWS // batch))
    return np.empty((1 if C == steps else 2, C, batch, width), dtype=dtype)


#: the ``sync`` of every one-thread call: its barriers return at once and never touch it
_SOLO_SYNC = new_sync()


class StepPlan(NamedTuple):
    """How a built-in kernel runs one call: on ``n`` threads (unit ranges ``ranges``, one
    ``sync``), ``fused`` input and recurrent products, and ``dense``: 0 for the packed
    product, else one-row products by BLAS in that many parts (1 or 2)."""

    n: int
    ranges: list[tuple[int, int]]
    sync: np.ndarray
    fused: bool
    dense: int

    def tail(self, k: int) -> tuple:
        """The last kernel arguments of thread ``k``: ``j0, j1, sync, nthreads``."""
        return (*self.ranges[k], self.sync, self.n)


def dense_parts(weight_bytes: int) -> int:
    """Parts of a one-sequence step product by BLAS over ``weight_bytes`` of weight per
    thread: 2 from :data:`DENSE_HALVES_MIN_BYTES` to twice that, else 1."""
    return 2 if DENSE_HALVES_MIN_BYTES <= weight_bytes < 2 * DENSE_HALVES_MIN_BYTES else 1


def step_plan(batch: int, steps: int, input_size: int, hidden: int, state: int,
              gates: int, itemsize: int, fusable: bool = True,
              splittable: bool = True) -> StepPlan:
    """The :class:`StepPlan` of a call over ``batch`` sequences of ``steps`` steps, with
    ``gates`` blocks of ``hidden`` units fed by a state of size ``state``, elements of
    ``itemsize`` bytes."""
    n = unit_threads(hidden, steps, batch * gates * hidden * state) if splittable else 1
    ranges = unit_ranges(hidden, n)
    fused = fusable and batch > 1 and (FUSE_RATIO * input_size <= state or (
        batch >= FUSE_MIN_BATCH and input_size <= state))
    dense = 0
    elements = gates * (ranges[0][1] - ranges[0][0]) * state
    if batch == 1 and elements >= DENSE_MIN_ELEMENTS:
        dense = dense_parts(elements * itemsize)
    return StepPlan(n, ranges, new_sync() if n > 1 else _SOLO_SYNC, fused, dense)


def input_grad_buffer(x: np.ndarray, wanted: bool) -> np.ndarray:
    """The ``dx`` a backward kernel fills: zeros like ``x (T, B, I)``, or 0 steps when the
    input gradient is not wanted (the kernels then skip it)."""
    if wanted:
        return buffers.zeros(x.shape, x.dtype)
    return np.empty((0, *x.shape[1:]), x.dtype)


def summed_bias(params: dict[str, np.ndarray], rows: int, dtype) -> np.ndarray:
    """``bias_ih + bias_hh`` (zeros without bias): what the input projection adds."""
    if "bias_ih" in params:
        return params["bias_ih"] + params["bias_hh"]
    return np.zeros(rows, dtype=dtype)


def thread_grads(grads: dict[str, np.ndarray], names: tuple[str, ...],
                 extra: dict[str, int], dtype, n: int) -> list[dict[str, np.ndarray]]:
    """Gradient buffers for ``n`` threads that split a backward's steps: thread 0 adds into
    ``grads[name]`` for ``names`` and into fresh zero vectors of the ``extra`` sizes; the
    others into zeroed copies, summed by :func:`sum_parts`."""
    first = {k: grads[k] for k in names}
    first.update({k: np.zeros(size, dtype=dtype) for k, size in extra.items()})
    return [first] + [{k: np.zeros_like(v) for k, v in first.items()} for _ in range(n - 1)]


def total_sq(dh_sq: np.ndarray) -> np.ndarray:
    """The squared norms ``(T, B)`` from the threads' partial sums ``dh_sq (n, T, B)``."""
    return dh_sq[0] if dh_sq.shape[0] == 1 else dh_sq.sum(axis=0)


def sum_parts(parts: list[dict[str, np.ndarray]]) -> None:
    """Add the partial gradients of threads ``1..`` (``parts[1:]``) into thread 0's buffers
    ``parts[0]`` (which may be the layer's own ``.grad`` arrays)."""
    for extra in parts[1:]:
        for k, v in extra.items():
            parts[0][k] += v


def add_bias_grads(grads: dict[str, np.ndarray], db: np.ndarray, db_hh=None) -> None:
    """Add ``db`` to both bias gradients (``db_hh`` to ``bias_hh`` when they differ)."""
    if "bias_ih" in grads:
        grads["bias_ih"] += db
        grads["bias_hh"] += db if db_hh is None else db_hh



class _BuiltinCell(Cell):
    """A built-in cell: :meth:`forward` checks its inputs and runs :meth:`_forward`, which
    trusts them. The layer calls :meth:`_forward` directly, having built ``x``, the lengths
    and the states itself and checked the parameters (see ``Recurrent._param_arrays``).

    Each direction of the pass is prepared as a :class:`~.parallel.Launch` (its kernel, the
    arguments, the thread plan and what builds the result) and then run; the layer may
    instead run a layer's prepared calls together (:func:`~.parallel.run_launches`)."""

    def forward(self, params, x, lengths, state0, reverse):
        self.check_inputs(params, x, lengths, state0)
        return self._forward(params, x, lengths, state0, reverse)

    def splits_units(self) -> bool:
        """Whether the kernels can split the hidden units over threads."""
        return True

    def _forward(self, params, x, lengths, state0, reverse, keep=True):
        return self._launch_forward(params, x, lengths, state0, reverse, keep).run()

    def backward(self, params, cache, dy, dstate_n, grads, input_grad=True):
        """As :meth:`Cell.backward`; with ``input_grad=False`` the kernel skips ``dx`` and
        ``None`` stands in its place."""
        return self._launch_backward(params, cache, dy, dstate_n, grads, input_grad).run()

    def _launch_forward(self, params, x, lengths, state0, reverse, keep=True) -> Launch:
        """The forward's kernel call, prepared (the plan made with the calling thread's
        budget); its ``finish`` returns what :meth:`forward` does. ``keep=False``
        (inference): the kernel keeps nothing for a backward, and the cache is empty."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _launch_backward(self, params, cache, dy, dstate_n, grads, input_grad=True) -> Launch:
        """The backward's kernel call, prepared; its ``finish`` returns what
        :meth:`backward` does."""
        raise NotImplementedError  # pragma: no cover - abstract


class _ElmanBase(_BuiltinCell):
    gates = ()
    states = ("h",)
    relu = False

    def param_specs(self, input_size, hidden_size, bias):
        return torch_param_specs(hidden_size, input_size, hidden_size, hidden_size, bias)

    def _launch_forward(self, params, x, lengths, state0, reverse, keep=True):
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[0]
        plan = step_plan(B, T, x.shape[2], H, H, 1, x.itemsize)
        y = buffers.empty((T, B, H), x.dtype)
        pre = buffers.empty((0 if plan.fused else T, B, H), x.dtype)
        hbuf = np.empty((2, B, H), dtype=x.dtype)
        hbuf[0] = state0[0]
        bias = summed_bias(params, H, x.dtype)

        def finish():
            if not keep:
                return y, (hbuf[T % 2].copy(),), Cache({}, {})
            arrays = dict(x=x, lengths=lengths, h0=state0[0], y=y, reverse=reverse)
            return y, (hbuf[T % 2].copy(),), Cache(arrays, {"h": y})

        return Launch(rnn_forward, lambda k: (
            x, lengths, reverse, w_ih, w_hh, bias, self.relu, y, pre, hbuf, plan.fused,
            plan.dense, *plan.tail(k)), plan, finish)

    def _launch_backward(self, params, cache, dy, dstate_n, grads, input_grad=True):
        a = cache.arrays
        x, y = a["x"], a["y"]
        T, B, _ = x.shape
        H = y.shape[2]
        dx = input_grad_buffer(x, input_grad)
        dh0 = np.empty((B, H), dtype=x.dtype)
        dg = chunk_buffers(T, B, H, x.dtype)
        plan = step_plan(B, T, x.shape[2], H, H, 1, x.itemsize, fusable=False)
        merged = merged_grads(H, x.shape[2], H)
        dh_sq = np.zeros((plan.n, T, B), dtype=x.dtype)
        parts = thread_grads(grads, ("weight_ih", "weight_hh"), {"bias": H}, x.dtype, plan.n)

        def finish():
            sum_parts(parts)
            add_bias_grads(grads, parts[0]["bias"])
            return (dx if input_grad else None), (dh0,), total_sq(dh_sq)

        return Launch(rnn_backward, lambda k: (
            x, a["lengths"], a["reverse"], params["weight_ih"], params["weight_hh"], self.relu,
            a["h0"], y, dy, dstate_n[0], dx, dh0, parts[k]["weight_ih"], parts[k]["weight_hh"],
            parts[k]["bias"], dh_sq[k], dg, plan.dense, merged, *plan.tail(k), k), plan,
            finish)


class RNNTanhKernel(_ElmanBase):
    name = "rnn_tanh"
    description = "Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)"


class RNNReLUKernel(_ElmanBase):
    name = "rnn_relu"
    description = "Elman RNN with ReLU, h_t = max(0, W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)"
    relu = True


class LSTMKernel(_BuiltinCell):
    name = "lstm"
    description = "Long short-term memory (gates i, f, g, o), optional output projection"
    gates = ("i", "f", "g", "o")
    states = ("h", "c")
    options = {"proj_size": 0}

    def _proj(self, hidden_size: int) -> int:
        p = int(self.config["proj_size"])
        if p < 0 or p >= hidden_size:
            raise ValueError(f"proj_size: expected 0 <= proj_size < hidden_size={hidden_size}, "
                             f"got {p}")
        return p

    def param_specs(self, input_size, hidden_size, bias):
        p = self._proj(hidden_size)
        specs = torch_param_specs(4 * hidden_size, input_size, hidden_size, p or hidden_size, bias)
        if p:
            specs.append(ParamSpec("weight_hr", (p, hidden_size)))
        return specs

    def state_sizes(self, hidden_size):
        return (self._proj(hidden_size) or hidden_size, hidden_size)

    def splits_units(self):
        return not self.config["proj_size"]  # the projection needs every unit each step

    def _launch_forward(self, params, x, lengths, state0, reverse, keep=True):
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[0] // 4
        P = w_hh.shape[1]
        has_proj = "weight_hr" in params
        w_hr = params["weight_hr"] if has_proj else np.empty((0, 0), dtype=x.dtype)
        plan = step_plan(B, T, x.shape[2], H, P, 4, x.itemsize, splittable=self.splits_units())
        y = buffers.empty((T, B, P), x.dtype)
        gates = buffers.empty((T if keep or not plan.fused else 0, B, 4 * H), x.dtype)
        cs = buffers.empty((T if keep else 0, B, H), x.dtype)
        ms = buffers.empty((T, B, H) if has_proj and keep else (0, 0, 0), x.dtype)
        cn = np.empty((B, H), dtype=x.dtype)
        h0, c0 = state0
        hbuf = np.empty((2, B, P), dtype=x.dtype)
        hbuf[0] = h0
        bias = summed_bias(params, 4 * H, x.dtype)

        def finish():
            if not keep:
                return y, (hbuf[T % 2].copy(), cn), Cache({}, {})
            arrays = dict(x=x, lengths=lengths, reverse=reverse, h0=h0, c0=c0, y=y,
                          gates=gates, cs=cs, ms=ms, w_hr=w_hr, has_proj=has_proj)
            trace = {"h": y, "c": cs, "gates": gates.reshape(T, B, 4, H)}
            return y, (hbuf[T % 2].copy(), cn), Cache(arrays, trace)

        return Launch(lstm_forward, lambda k: (
            x, lengths, reverse, w_ih, w_hh, bias, w_hr, has_proj, c0, y, gates, cs, ms, hbuf,
            cn, plan.fused, plan.dense, *plan.tail(k)), plan, finish)

    def _launch_backward(self, params, cache, dy, dstate_n, grads, input_grad=True):
        a = cache.arrays
        x, y, cs = a["x"], a["y"], a["cs"]
        T, B, _ = x.shape
        H, P = cs.shape[2], y.shape[2]
        has_proj = a["has_proj"]
        dx = input_grad_buffer(x, input_grad)
        dh0 = np.empty((B, P), dtype=x.dtype)
        dc0 = np.empty((B, H), dtype=x.dtype)
        dg = chunk_buffers(T, B, 4 * H, x.dtype)
        dht = chunk_buffers(T, B, P if has_proj else 0, x.dtype)
        plan = step_plan(B, T, x.shape[2], H, P, 4, x.itemsize, fusable=False,
                         splittable=self.splits_units())
        merged = merged_grads(4 * H, x.shape[2], P)
        dh_sq = np.zeros((plan.n, T, B), dtype=x.dtype)
        parts = thread_grads(grads, ("weight_ih", "weight_hh"), {"bias": 4 * H}, x.dtype,
                             plan.n)
        dw_hr = grads["weight_hr"] if has_proj else np.empty((0, 0), dtype=x.dtype)

        def finish():
            sum_parts(parts)
            add_bias_grads(grads, parts[0]["bias"])
            return (dx if input_grad else None), (dh0, dc0), total_sq(dh_sq)

        return Launch(lstm_backward, lambda k: (
            x, a["lengths"], a["reverse"], params["weight_ih"], params["weight_hh"], a["w_hr"],
            has_proj, a["h0"], a["c0"], y, a["gates"], cs, a["ms"], dy, dstate_n[0],
            dstate_n[1], dx, dh0, dc0, parts[k]["weight_ih"], parts[k]["weight_hh"],
            parts[k]["bias"], dw_hr, dh_sq[k], dg, dht, plan.dense, merged, *plan.tail(k), k),
            plan, finish)


class GRUKernel(_BuiltinCell):
    name = "gru"
    description = "Gated recurrent unit (gates r, z, n), torch's formulation"
    gates = ("r", "z", "n")
    states = ("h",)

    def param_specs(self, input_size, hidden_size, bias):
        return torch_param_specs(3 * hidden_size, input_size, hidden_size, hidden_size, bias)

    def _launch_forward(self, params, x, lengths, state0, reverse, keep=True):
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        T, B, _ = x.shape
        H = w_hh.shape[1]
        if "bias_ih" in params:
            bias_x = params["bias_ih"].copy()
            bias_x[:2 * H] += params["bias_hh"][:2 * H]
            b_hn = np.ascontiguousarray(params["bias_hh"][2 * H:])
        else:
            bias_x = np.zeros(3 * H, dtype=x.dtype)
            b_hn = np.zeros(H, dtype=x.dtype)
        plan = step_plan(B, T, x.shape[2], H, H, 3, x.itemsize)
        y = buffers.empty((T, B, H), x.dtype)
        gates = buffers.empty((T if keep or not plan.fused else 0, B, 3 * H), x.dtype)
        hlin = buffers.empty((T if keep else 0, B, H), x.dtype)
        hbuf = np.empty((2, B, H), dtype=x.dtype)
        hbuf[0] = state0[0]

        def finish():
            if not keep:
                return y, (hbuf[T % 2].copy(),), Cache({}, {})
            arrays = dict(x=x, lengths=lengths, reverse=reverse, h0=state0[0], y=y,
                          gates=gates, hlin=hlin)
            trace = {"h": y, "gates": gates.reshape(T, B, 3, H)}
            return y, (hbuf[T % 2].copy(),), Cache(arrays, trace)

        return Launch(gru_forward, lambda k: (
            x, lengths, reverse, w_ih, w_hh, bias_x, b_hn, y, gates, hlin, hbuf, plan.fused,
            plan.dense, *plan.tail(k)), plan, finish)

    def _launch_backward(self, params, cache, dy, dstate_n, grads, input_grad=True):
        a = cache.arrays
        x, y = a["x"], a["y"]
        T, B, _ = x.shape
        H = y.shape[2]
        dx = input_grad_buffer(x, input_grad)
        dh0 = np.empty((B, H), dtype=x.dtype)
        dg = chunk_buffers(T, B, 3 * H, x.dtype)
        dgbuf = np.empty((2, B, 3 * H), dtype=x.dtype)
        plan = step_plan(B, T, x.shape[2], H, H, 3, x.itemsize, fusable=False)
        dh_sq = np.zeros((plan.n, T, B), dtype=x.dtype)
        parts = thread_grads(grads, ("weight_ih", "weight_hh"),
                             {"bias_ih": 3 * H, "bias_hh": 3 * H}, x.dtype, plan.n)

        def finish():
            sum_parts(parts)
            add_bias_grads(grads, parts[0]["bias_ih"], parts[0]["bias_hh"])
            return (dx if input_grad else None), (dh0,), total_sq(dh_sq)

        return Launch(gru_backward, lambda k: (
            x, a["lengths"], a["reverse"], params["weight_ih"], params["weight_hh"], a["h0"],
            y, a["gates"], a["hlin"], dy, dstate_n[0], dx, dh0, parts[k]["weight_ih"],
            parts[k]["weight_hh"], parts[k]["bias_ih"], parts[k]["bias_hh"], dh_sq[k], dg,
            dgbuf, plan.dense, *plan.tail(k), k), plan, finish)


BUILTIN_CELLS: dict[str, type[Cell]] = {
    c.name: c for c in (RNNTanhKernel, RNNReLUKernel, LSTMKernel, GRUKernel)
}
