"""One driver for every cell: layers x directions x variable lengths, torch's layer API.

``Recurrent`` runs any :class:`~rnnlab.engine.cell.Cell`; ``RNN``, ``LSTM`` and ``GRU`` are
thin subclasses with torch's constructor arguments, shapes and parameter names.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import buffers
from .cell import Cell
from .config import prepare_runtime
from .grad_mode import is_grad_enabled, missing_forward
from .module import Module, Parameter, as_float_dtype
from .parallel import batch_chunks, run_all, run_launches, unit_threads
from .validate import check_array, check_lengths, describe, positive_int


def _step_weight_bytes(params: dict[str, Parameter]) -> int:
    """Bytes of a built-in cell's weights read at every step when it splits its units over
    threads with several sequences: ``weight_hh``, and ``weight_ih`` too when the input is
    no larger than the state (the step product then takes the input in, see
    :func:`~.cells.step_plan`)."""
    w_ih, w_hh = params["weight_ih"].data, params["weight_hh"].data
    fused = w_ih.shape[1] <= w_hh.shape[1]
    return w_hh.nbytes + (w_ih.nbytes if fused else 0)


class CellContractError(RuntimeError):
    """A cell returned something its contract does not allow (wrong shape or dtype)."""


def _builtin_cells() -> dict[str, type[Cell]]:
    from .cells import BUILTIN_CELLS

    return BUILTIN_CELLS


def builtin_cell(name: str) -> type[Cell]:
    """A built-in cell class, without plugin discovery: torch's layers must not depend on
    plugin folders or on plugins being disabled."""
    return _builtin_cells()[name]


def resolve_cell(cell, **options) -> Cell:
    """A configured cell from a registered name, a :class:`Cell` subclass or an instance."""
    if isinstance(cell, Cell):
        if options:
            raise TypeError("cell options must be given to the cell instance, not the layer")
        return cell
    if isinstance(cell, type) and issubclass(cell, Cell):
        return cell(**options)
    if isinstance(cell, str):
        from .registry import get_cell

        return get_cell(cell)(**options)
    raise TypeError(f"cell: expected a registered name or a Cell, got {describe(cell)}")


class Recurrent(Module):
    """A multi-layer, optionally bidirectional recurrent layer over any cell.

    Shapes (torch's): ``x`` is ``(T, B, I)``, ``(B, T, I)`` with ``batch_first`` or
    unbatched ``(T, I)``; each state is ``(layers*dirs, B, S)`` (unbatched
    ``(layers*dirs, S)``) whatever ``batch_first`` is; ``out`` is ``(..., dirs*H_out)``.
    Cells with one state take and return an array, others a tuple in the order of
    ``cell.states``.
    """

    def __init__(self, cell, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=np.float32, seed: int | None = None,
                 **cell_options):
        super().__init__()
        self.cell = resolve_cell(cell, **cell_options)
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.num_layers = positive_int("num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.number)) \
                or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.dtype = as_float_dtype(dtype)
        self.num_directions = 2 if bidirectional else 1
        self.state_sizes = tuple(int(s) for s in self.cell.state_sizes(self.hidden_size))
        self.output_size = self.state_sizes[0]
        self._rng = np.random.default_rng(seed)
        self._layer_params: list[dict[str, Parameter]] = []
        #: per layer-direction: each parameter's torch name and shape, and the arrays last
        #: found to match them (see :meth:`_param_arrays`)
        self._param_specs: list[list[tuple[str, tuple[int, ...]]]] = []
        self._param_checked: list[tuple] = []
        k = 1.0 / math.sqrt(self.hidden_size)
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.output_size * self.num_directions
            for d in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                params = {}
                for spec in self.cell.param_specs(in_size, self.hidden_size, self.bias):
                    if spec.init == "uniform":
                        data = self._rng.uniform(-k, k, size=spec.shape)
                    elif spec.init in ("zeros", "ones"):
                        data = np.full(spec.shape, 1.0 if spec.init == "ones" else 0.0)
                    else:
                        raise CellContractError(
                            f"cell {self.cell.name!r}: parameter {spec.name!r} has init "
                            f"{spec.init!r}; expected 'uniform', 'zeros' or 'ones'")
                    p = Parameter(data.astype(self.dtype))
                    setattr(self, spec.name + suffix, p)
                    params[spec.name] = p
                self._layer_params.append(params)
                self._param_specs.append([(k + suffix, p.data.shape) for k, p in params.items()])
                self._param_checked.append(())
        #: multiply-adds per sequence and timestep of each layer-direction (~ its weights)
        self._macs = [sum(p.data.size for p in ps.values()) for ps in self._layer_params]
        #: any cell but the built-in ones themselves (not subclasses). Only such a cell has
        #: what it returns checked against the contract, gets fresh default lengths and
        #: states on every call, and is called through its checking ``forward``: the
        #: built-in cells' tests hold them to the contract, and they only read their inputs
        self._check_cell = type(self.cell) not in _builtin_cells().values()
        #: bytes of weight the largest layer-direction reads at every step if the cell can
        #: split its units over threads (see :func:`~.parallel.batch_chunks`), else 0
        self._step_weight_bytes = 0
        if not self._check_cell and self.cell.splits_units():
            self._step_weight_bytes = max(_step_weight_bytes(ps) for ps in self._layer_params)
        self._default_inputs = (None, None, None)
        self._caches = None
        self._kept = True  # whether the last forward kept its caches (not under no_grad)
        self._masks = None
        self._traces = None
        self._layout = None

    # forward ----------------------------------------------------------------------------
    def forward(self, x, hx=None, lengths=None):
        """Returns ``(out, h_n)``; ``h_n`` mirrors ``hx`` (a tuple for multi-state cells)."""
        x = check_array("x", x, dtype=self.dtype, contiguous=False)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            lead = "(T, I)" if x.ndim == 2 else ("(B, T, I)" if self.batch_first else "(T, B, I)")
            raise ValueError(f"x: expected shape {lead} with I = input_size = {self.input_size}, "
                             f"got {x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        keep_caches = is_grad_enabled()
        # an own copy: the caches must not alias the caller's x, and a plugin cell might
        # write into what it is given; the built-in cells only read it
        copy = keep_caches or self._check_cell
        x = np.array(x, order="C") if copy else np.ascontiguousarray(x)
        T, B = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError("x: expected at least one timestep, got a sequence of length 0")
        if B == 0:
            raise ValueError("x: expected at least one sequence, got an empty batch")
        if lengths is None or hx is None:
            full, zeros = self._defaults(T, B)
        lens = full if lengths is None else check_lengths(np.atleast_1d(lengths), B, T)
        states = zeros if hx is None else self._initial_states(hx, B, unbatched)
        checked = self._check_cell
        self.release()
        prepare_runtime()
        L, D = self.num_layers, self.num_directions
        split_bytes = 0  # see batch_chunks: only if the cell would split its units
        if self._step_weight_bytes and unit_threads(self.hidden_size, T, B * self._macs[0]) > 1:
            split_bytes = self._step_weight_bytes
        chunks = batch_chunks(B, D, T * B * self._macs[0] * D, compiled=not checked,
                              weight_bytes=split_bytes)
        # one layer-direction and one chunk: the cell runs inline, and a built-in cell's
        # final states (its own fresh arrays) are returned as they are
        solo = D == 1 and len(chunks) == 1
        if solo and L == 1 and not checked:
            finals = None
        else:
            finals = [np.empty((L * D, B, s), dtype=self.dtype) for s in self.state_sizes]
        caches = []
        masks = []
        inp = x
        for layer in range(L):
            if solo:
                y, stn, cache = self._run_cell(layer, chunks[0], inp, lens, states,
                                               keep_caches)
                if finals is None:
                    finals = [st[None] for st in stn]
                else:
                    for f, st in zip(finals, stn):
                        f[layer] = st
                # the last y is returned, and cached (if caches are kept)
                out = buffers.copy(y) if layer == L - 1 and keep_caches else y
                caches.append([cache])
            else:
                out = self._run_tasks(layer, chunks, inp, lens, states, finals, caches,
                                      keep_caches)
            mask = None
            if self.training and self.dropout > 0.0 and layer < L - 1:
                p_keep = 1.0 - self.dropout
                mask = (self._rng.random(out.shape) < p_keep).astype(self.dtype) / p_keep
                out = out * mask
            masks.append(mask)
            inp = out
        # bookkeeping, not parameters: set past Module.__setattr__ (a call per field)
        self.__dict__.update(_caches=caches if keep_caches else None, _kept=keep_caches,
                             _masks=masks,
                             _chunks=chunks, _traces={}, _grad_sq=None,
                             _layout=(unbatched, T, B))
        out = inp
        if unbatched:
            out = out[:, 0, :]
            finals = [f[:, 0, :] for f in finals]
        elif self.batch_first:
            out = out.transpose(1, 0, 2)
        return out, (finals[0] if len(finals) == 1 else tuple(finals))

    def _run_cell(self, idx: int, sl: slice, x, lens, states, keep: bool = True):
        """The cell's forward for layer-direction ``idx`` over the sequences ``sl`` (``x``
        holds just those), contract-checked unless the cell is a built-in one. ``keep``:
        whether the cache is wanted (other cells are not told: theirs is dropped)."""
        params, lens, st0, reverse = self._cell_inputs(idx, sl, lens, states)
        if not self._check_cell:
            return self.cell._forward(params, x, lens, st0, reverse, keep)
        result = self.cell.forward(params, x, lens, st0, reverse)
        self._check_triple(result, "forward", "(y, final states, cache)")
        self._check_outputs(result[0], result[1], x.shape[0], sl.stop - sl.start)
        return result

    def _cell_inputs(self, idx: int, sl: slice, lens, states) -> tuple:
        """``(params, lengths, initial states, reverse)`` of layer-direction ``idx`` over the
        sequences ``sl``."""
        if sl.stop - sl.start != lens.shape[0]:
            lens = lens[sl]
        st0 = tuple([s[idx, sl] for s in states])  # C-contiguous: sl is a plain range
        return self._param_arrays(idx), lens, st0, idx % self.num_directions == 1

    def _param_arrays(self, idx: int) -> dict[str, np.ndarray]:
        """``{name: array}`` of layer-direction ``idx``. ``.data`` may have been given any
        array since the last call, so each is checked (once per array object): its shape,
        the layer's dtype and a C-contiguous layout, as the kernels read it."""
        arrays = {k: p.data for k, p in self._layer_params[idx].items()}
        last = self._param_checked[idx]
        if len(last) == len(arrays) and all(map(operator.is_, arrays.values(), last)):
            return arrays
        for a, (name, shape) in zip(arrays.values(), self._param_specs[idx]):
            check_array(name, a, shape=shape, dtype=self.dtype, finite=False)
        self._param_checked[idx] = tuple(arrays.values())
        return arrays

    def _run_tasks(self, layer, chunks, inp, lens, states, finals, caches, keep=True):
        """One layer's directions x chunks of sequences as tasks over the threads; fills
        ``finals``, appends the caches (direction-major) and returns the layer's output."""
        T, B = inp.shape[0], inp.shape[1]
        D, H = self.num_directions, self.output_size
        tasks = [(idx, ci) for idx in range(layer * D, layer * D + D)
                 for ci in range(len(chunks))]
        parts = [np.ascontiguousarray(inp[:, c]) for c in chunks]
        work = T * B * self._macs[layer * D] * D
        if self._check_cell:
            results = run_all(lambda t: self._run_cell(t[0], chunks[t[1]], parts[t[1]], lens,
                                                       states), tasks, work)
        else:
            def prepare(task):
                idx, ci = task
                params, lns, st0, reverse = self._cell_inputs(idx, chunks[ci], lens, states)
                return self.cell._launch_forward(params, parts[ci], lns, st0, reverse, keep)

            results = run_launches(prepare, tasks, work)
        out = buffers.empty((T, B, D * H), inp.dtype)
        for (idx, ci), (y, stn, _) in zip(tasks, results):
            sl = chunks[ci]
            for f, st in zip(finals, stn):
                f[idx, sl] = st
            d = idx % D
            out[:, sl, d * H:(d + 1) * H] = y
        n = len(chunks)
        done = [cache for _, _, cache in results]
        caches += [done[d * n:(d + 1) * n] for d in range(D)]
        return out

    def _defaults(self, T: int, B: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Full lengths ``(B,)`` and zero initial states for ``T`` steps of ``B`` sequences.
        Kept between calls of one shape for the built-in cells, which only read them; fresh
        for any other cell, which might write into what it is given."""
        key = (T, B)
        if self._default_inputs[0] != key or self._check_cell:
            lens = np.empty(B, dtype=np.int64)
            lens.fill(T)  # np.full costs twice as much
            zeros = [np.zeros((self.num_layers * self.num_directions, B, s), dtype=self.dtype)
                     for s in self.state_sizes]
            self.__dict__["_default_inputs"] = (key, lens, zeros)
        return self._default_inputs[1], self._default_inputs[2]

    def _initial_states(self, hx, B: int, unbatched: bool) -> list[np.ndarray]:
        LD = self.num_layers * self.num_directions
        names = self.cell.states
        given = (hx,) if len(names) == 1 and isinstance(hx, np.ndarray) else hx
        if not isinstance(given, (tuple, list)) or len(given) != len(names):
            raise TypeError(f"hx: expected {self._state_form()}, got {describe(hx)}")
        out = []
        for name, s, a in zip(names, self.state_sizes, given):
            shape = (LD, s) if unbatched else (LD, B, s)
            a = check_array(f"hx ({name})", a, shape=shape, dtype=self.dtype, contiguous=False)
            out.append(np.array(a[:, None, :] if unbatched else a, order="C"))
        return out

    def _state_form(self) -> str:
        names = self.cell.states
        return "an array" if len(names) == 1 else f"a tuple of {len(names)} arrays {names}"

    def _check_triple(self, result, method: str, items: str) -> None:
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            got = (f"{len(result)} items" if isinstance(result, (tuple, list))
                   else describe(result))
            raise CellContractError(f"cell {self.cell.name!r} {method}: expected a tuple "
                                    f"{items}, got {got}")

    def _check_outputs(self, y, states, T, B):
        name = self.cell.name
        want = (T, B, self.output_size)
        if not isinstance(y, np.ndarray) or y.shape != want or y.dtype != self.dtype:
            raise CellContractError(f"cell {name!r} forward: expected output {want} "
                                    f"{self.dtype}, got {describe(y)}")
        if len(states) != len(self.state_sizes):
            raise CellContractError(f"cell {name!r} forward: expected {len(self.state_sizes)} "
                                    f"final states, got {len(states)}")
        for s, size in zip(states, self.state_sizes):
            if not isinstance(s, np.ndarray) or s.shape != (B, size):
                raise CellContractError(f"cell {name!r} forward: expected final state "
                                        f"{(B, size)}, got {describe(s)}")

    def _check_grads(self, dx, dstate0, dh_sq, cache):
        """The contract of a cell's backward: ``dx`` like its ``x``, states like the
        initial states, ``dh_sq (T, B)`` — checked before anything reads them."""
        name = self.cell.name
        x = cache.arrays.get("x")
        if not isinstance(dx, np.ndarray) or dx.dtype != self.dtype or dx.ndim != 3 or \
                (x is not None and dx.shape != x.shape):
            want = x.shape if isinstance(x, np.ndarray) else "(T, B, I)"
            raise CellContractError(f"cell {name!r} backward: expected dx {want} "
                                    f"{self.dtype}, got {describe(dx)}")
        T, Bc = dx.shape[0], dx.shape[1]
        if len(dstate0) != len(self.state_sizes) or any(
                not isinstance(d, np.ndarray) or d.shape != (Bc, s) or d.dtype != self.dtype
                for d, s in zip(dstate0, self.state_sizes)):
            raise CellContractError(f"cell {name!r} backward: expected initial-state "
                                    f"gradients {[(Bc, s) for s in self.state_sizes]}, got "
                                    f"{[describe(d) for d in dstate0]}")
        if not isinstance(dh_sq, np.ndarray) or dh_sq.shape != (T, Bc):
            raise CellContractError(f"cell {name!r} backward: expected dh_sq {(T, Bc)}, got "
                                    f"{describe(dh_sq)}")

    # backward ---------------------------------------------------------------------------
    def backward(self, dout, dh_n=None, *, input_grad=True):
        """BPTT: returns ``(dx, dhx)`` shaped like ``x`` and ``hx``; adds into ``.grad``.

        ``dout`` is shaped like ``out``; ``dh_n`` like ``h_n`` (``None`` means zeros; for
        multi-state cells a tuple whose items may be ``None``). ``input_grad=False``: ``x``
        needs no gradient (it is data), so ``dx`` is not computed and is ``None``.
        """
        if self._caches is None:
            raise missing_forward("backward()", not self._kept)
        unbatched, T, B = self._layout
        L, D = self.num_layers, self.num_directions
        H = self.output_size
        out_shape = (T, D * H) if unbatched else ((B, T, D * H) if self.batch_first
                                                  else (T, B, D * H))
        dout = check_array("dout", dout, shape=out_shape, dtype=self.dtype, contiguous=False)
        if unbatched:
            dtop = dout[:, None, :]
        elif self.batch_first:
            dtop = dout.transpose(1, 0, 2)
        else:
            dtop = dout
        dtop = np.ascontiguousarray(dtop)
        dfinal = self._final_grads(dh_n, T, B, unbatched)
        chunks = self._chunks
        solo = D == 1 and len(chunks) == 1  # as in forward: the cell runs inline
        if solo and L == 1 and not self._check_cell:
            dinit = None
        else:
            dinit = [np.empty(f.shape, f.dtype) for f in dfinal]
        grad_sq = [[None] * len(chunks) for _ in range(L * D)]
        for layer in range(L - 1, -1, -1):
            mask = self._masks[layer]
            if mask is not None:
                dtop = dtop * mask
            want = layer > 0 or bool(input_grad)
            if not solo:
                dtop = self._backward_tasks(layer, chunks, dtop, dfinal, dinit, grad_sq, want)
                continue
            (dtop, dst0, grad_sq[layer][0]), _ = self._run_cell_backward(layer, 0, dtop, dfinal,
                                                                         want)
            if dinit is None:
                dinit = [st[None] for st in dst0]
            else:
                for a, st in zip(dinit, dst0):
                    a[layer] = st
        self.__dict__.update(_grad_sq=grad_sq)
        for merged in self._traces.values():  # joined from an earlier backward: stale
            merged.pop("grad_h_norm", None)
        if unbatched:
            dx = None if dtop is None else dtop[:, 0, :]
            dinit = [a[:, 0, :] for a in dinit]
        else:
            dx = dtop.transpose(1, 0, 2) if self.batch_first and dtop is not None else dtop
        return dx, (dinit[0] if len(dinit) == 1 else tuple(dinit))

    def _backward_inputs(self, idx: int, ci: int, dfinal) -> tuple:
        """``(params, cache, final-state gradients, gradient buffers)`` of the backward of
        layer-direction ``idx`` over chunk ``ci`` of the sequences. Chunk 0 adds into
        ``.grad``, the others into fresh buffers."""
        sl = self._chunks[ci]
        pmap = self._layer_params[idx]
        grads = {k: p.grad if ci == 0 else np.zeros_like(p.grad) for k, p in pmap.items()}
        dstn = tuple([f[idx, sl] for f in dfinal])  # C-contiguous: sl is a plain range
        return self._param_arrays(idx), self._caches[idx][ci], dstn, grads

    def _run_cell_backward(self, idx: int, ci: int, dy, dfinal, input_grad: bool):
        """The cell's backward for layer-direction ``idx`` over chunk ``ci`` of the sequences
        (``dy`` holds just those): returns its ``(dx, dstate0, dh_sq)`` (``dx`` ``None``
        unless ``input_grad``) and the gradient buffers it added into (see
        :meth:`_backward_inputs`)."""
        params, cache, dstn, grads = self._backward_inputs(idx, ci, dfinal)
        if not self._check_cell:
            return self.cell.backward(params, cache, dy, dstn, grads, input_grad), grads
        result = self.cell.backward(params, cache, dy, dstn, grads)
        self._check_triple(result, "backward", "(dx, initial-state gradients, dh_sq)")
        self._check_grads(*result, cache)
        return (result[0] if input_grad else None, *result[1:]), grads

    def _backward_tasks(self, layer, chunks, dtop, dfinal, dinit, grad_sq, input_grad):
        """One layer's directions x chunks as tasks over the threads (see
        :meth:`_run_tasks`); fills ``dinit`` and ``grad_sq``, returns the layer's ``dx``
        (``None`` unless ``input_grad``)."""
        T, B = dtop.shape[0], dtop.shape[1]
        D, H = self.num_directions, self.output_size
        tasks = [(idx, ci) for idx in range(layer * D, layer * D + D)
                 for ci in range(len(chunks))]

        def dy_of(idx, ci):
            d = idx % D
            return np.ascontiguousarray(dtop[:, chunks[ci], d * H:(d + 1) * H])

        work = T * B * self._macs[layer * D] * D * 2
        if self._check_cell:
            results = run_all(lambda t: self._run_cell_backward(*t, dy_of(*t), dfinal,
                                                                input_grad), tasks, work)
        else:
            buffers = []  # each task's gradient buffers, in task order

            def prepare(task):
                params, cache, dstn, grads = self._backward_inputs(*task, dfinal)
                buffers.append(grads)
                return self.cell._launch_backward(params, cache, dy_of(*task), dstn, grads,
                                                  input_grad)

            results = list(zip(run_launches(prepare, tasks, work), buffers))
        dx = None
        for (idx, ci), ((dxi, dst0, dh_sq), grads) in zip(tasks, results):
            sl = chunks[ci]
            for a, st in zip(dinit, dst0):
                a[idx, sl] = st
            if ci:
                for k, p in self._layer_params[idx].items():
                    p.grad += grads[k]
            grad_sq[idx][ci] = dh_sq
            if dxi is None:
                continue
            if dx is None:
                dx = np.zeros((T, B, dxi.shape[2]), dtype=self.dtype)
            dx[:, sl] += dxi
        return dx

    def _final_grads(self, dh_n, T: int, B: int, unbatched: bool) -> list[np.ndarray]:
        if dh_n is None:  # zeros, read only, as the forward's initial states
            return list(self._defaults(T, B)[1])
        LD = self.num_layers * self.num_directions
        names = self.cell.states
        if len(names) == 1 and isinstance(dh_n, np.ndarray):
            given = (dh_n,)
        else:
            given = dh_n
        if not isinstance(given, (tuple, list)) or len(given) != len(names):
            raise TypeError(f"dh_n: expected None or {self._state_form()}, got {describe(dh_n)}")
        zeros = None
        out = []
        for k, (name, s, a) in enumerate(zip(names, self.state_sizes, given)):
            if a is None:
                if zeros is None:  # read only, as the forward's initial states
                    zeros = self._defaults(T, B)[1]
                out.append(zeros[k])
                continue
            shape = (LD, s) if unbatched else (LD, B, s)
            a = check_array(f"dh_n ({name})", a, shape=shape, dtype=self.dtype,
                            contiguous=False)
            out.append(np.ascontiguousarray(a[:, None, :] if unbatched else a))
        return out

    def release(self) -> None:
        """Drop what the last forward kept for backward and :meth:`trace` (frees memory)."""
        self.__dict__.update(_caches=None, _masks=None, _traces=None, _grad_sq=None)

    # introspection ----------------------------------------------------------------------
    def trace(self, layer: int = 0, direction: int = 0) -> dict[str, np.ndarray]:
        """Per-timestep internals of the last forward (and backward) of one layer/direction.

        Time-major arrays: ``"h"`` ``(T, B, H_out)``, ``"c"`` ``(T, B, H)`` for cells with
        a cell state, ``"gates"`` ``(T, B, G, H)`` in the order of ``cell.gates``, and after
        ``backward`` ``"grad_h_norm"`` ``(T, B)``: ``||dL/dh_t||`` per step and sequence.
        Values past a sequence's length are 0.
        """
        if self._caches is None:
            raise missing_forward("trace()", not self._kept)
        if not 0 <= layer < self.num_layers or not 0 <= direction < self.num_directions:
            raise IndexError(f"trace: expected layer < {self.num_layers} and direction < "
                             f"{self.num_directions}, got layer={layer}, direction={direction}")
        idx = layer * self.num_directions + direction
        merged = self._traces.setdefault(idx, {})
        parts = [c.trace for c in self._caches[idx]]
        for key in parts[0]:
            if key not in merged:
                merged[key] = _joined([p[key] for p in parts])
        if "grad_h_norm" not in merged and self._grad_sq is not None:
            merged["grad_h_norm"] = np.sqrt(_joined(self._grad_sq[idx]))
        return merged

    def extra_repr(self) -> str:
        return (f"{self.cell.name}, {self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """Per-chunk arrays joined along the batch axis, as a read-only view."""
    a = parts[0].view() if len(parts) == 1 else np.concatenate(parts, axis=1)
    a.flags.writeable = False
    return a


class RNN(Recurrent):
    """Elman RNN with torch's arguments; ``nonlinearity`` is ``"tanh"`` or ``"relu"``."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32,
                 seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(builtin_cell("rnn_" + nonlinearity), input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, dtype, seed)


class LSTM(Recurrent):
    """LSTM with torch's arguments (gates i, f, g, o; ``proj_size`` > 0 adds ``weight_hr``)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=np.float32, seed=None):
        if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)):
            raise ValueError(f"proj_size: expected an integer, got {proj_size!r}")
        self.proj_size = int(proj_size)
        super().__init__(builtin_cell("lstm"), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype, seed,
                         proj_size=int(proj_size))


class GRU(Recurrent):
    """GRU with torch's arguments (gates r, z, n; ``n`` uses ``r * (W_hn h + b_hn)``)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None):
        super().__init__(builtin_cell("gru"), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype, seed)


def layer(cell: str, input_size: int, hidden_size: int, **kwargs) -> Recurrent:
    """A recurrent layer over any registered cell, e.g. ``layer("peephole_lstm", 8, 32)``."""
    return Recurrent(cell, input_size, hidden_size, **kwargs)
