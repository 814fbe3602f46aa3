"""rnnlab against PyTorch (and JAX when installed) on the CPU, side by side in one process.

Rows: RNN/LSTM/GRU, input 32, float32, hidden {32, 128, 512} x batch {1, 32} x length
{50, 200}; 2-layer bidirectional variants; and the 2-layer LSTM 256->256, batch 8, length
2000 of PyTorch's CPU performance complaint. For each: inference (a forward under each
library's no-grad mode: ``torch.no_grad``, ``rnnlab.no_grad``) and a training step (forward
+ backward with parameter gradients; the input is data, so none of them computes its
gradient). Rounds interleave the libraries; medians, the ratio peer/rnnlab
(> 1: rnnlab is faster), rnnlab's GFLOP/s and its share of the float32 GEMM peak measured
in the same run are printed and optionally written as Markdown. The
machine's speed may drift within a run, so each round also times a 2048^3 GEMM, and the
share of that (the "local peak" of the row's rounds) is reported too. Within a round the
libraries take turns in short bursts of calls, so a change of the machine's speed falls on
all of them alike. Each burst starts on idle cores: the threads of OpenBLAS, OpenMP and XLA
spin for a while after a call, so the run pauses before each one (and longer after each
GEMM), and then makes one untimed call: every library is timed warm, as in a loop of steps.

    python benchmarks/bench_vs_torch.py [--threads 2] [--quick] [--memory] [--only REGEX]
                                        [--markdown docs/benchmarks.md]

Needs the ``torch`` extra; JAX is optional. Allocator and BLAS settings are those of the
calling environment plus rnnlab's process-wide set-up (made before any timing: numpy's BLAS
on one thread, glibc's malloc keeping freed memory), and are printed: all libraries run
under the same ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@dataclass(frozen=True)
class Row:
    kind: str
    hidden: int
    batch: int
    length: int
    layers: int = 1
    bidirectional: bool = False
    input_size: int = 32

    @property
    def label(self) -> str:
        extra = f" L{self.layers}" + (" bi" if self.bidirectional else "")
        return f"{self.kind} H{self.hidden} B{self.batch} T{self.length}" + \
            (extra if self.layers > 1 or self.bidirectional else "")

    def flops(self, train: bool) -> float:
        """Multiply-adds x 2 of the GEMMs; a training step counts 3x the forward, less the
        first layer's input gradient (the input is data: no library computes it)."""
        G, H, D = GATES[self.kind], self.hidden, 2 if self.bidirectional else 1
        total = 0.0
        for layer in range(self.layers):
            i = self.input_size if layer == 0 else D * H
            total += D * 2.0 * self.length * self.batch * (i + H) * G * H
        if not train:
            return total
        return 3.0 * total - D * 2.0 * self.length * self.batch * self.input_size * G * H


def rows(quick: bool) -> list[Row]:
    out = []
    hidden = (32, 128) if quick else (32, 128, 512)
    lengths = (50,) if quick else (50, 200)
    for kind in ("rnn", "lstm", "gru"):
        for h in hidden:
            for b in (1, 32):
                for t in lengths:
                    out.append(Row(kind, h, b, t))
    for kind in ("rnn", "lstm", "gru"):
        out.append(Row(kind, 128, 32, 50, layers=2, bidirectional=True))
    if not quick:
        out.append(Row("lstm", 256, 8, 2000, layers=2, input_size=256))
    return out


def _timeit(fn, min_time: float, max_reps: int = 200) -> float:
    """Median seconds per call over repetitions filling about ``min_time``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    reps = int(max(3, min(max_reps, min_time / max(once, 1e-6))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _inputs(row: Row):
    rng = np.random.default_rng(0)
    D = 2 if row.bidirectional else 1
    x = rng.standard_normal((row.length, row.batch, row.input_size)).astype(np.float32)
    dout = rng.standard_normal((row.length, row.batch, D * row.hidden)).astype(np.float32)
    return x, dout


def make_callables(row: Row, jax_ok: bool) -> dict[str, tuple]:
    """``{library: (infer, train)}`` for the row, all with the same weights and inputs."""
    import torch

    import rnnlab as rl

    classes = {"rnn": (rl.RNN, torch.nn.RNN), "lstm": (rl.LSTM, torch.nn.LSTM),
               "gru": (rl.GRU, torch.nn.GRU)}[row.kind]
    kw = dict(num_layers=row.layers, bidirectional=row.bidirectional)
    tm = classes[1](row.input_size, row.hidden, **kw)
    ours = classes[0](row.input_size, row.hidden, seed=0, **kw)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    ours.load_state_dict(sd)
    x, dout = _inputs(row)
    xt, dt = torch.from_numpy(x), torch.from_numpy(dout)

    def torch_infer():
        with torch.no_grad():
            tm(xt)

    def torch_train():
        tm.zero_grad(set_to_none=False)
        out, _ = tm(xt)
        out.backward(dt)

    def ours_infer():
        with rl.no_grad():
            ours(x)

    def ours_train():
        ours.zero_grad()
        ours(x)
        ours.backward(dout, input_grad=False)

    out = {"rnnlab": (ours_infer, ours_train), "torch": (torch_infer, torch_train)}
    if jax_ok and row.layers == 1 and not row.bidirectional:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import jax_peer

        out["jax"] = jax_peer.make(row.kind, sd, x, dout)
    return out


def gemm_peak(threads: int) -> tuple[float, dict[int, float]]:
    """float32 GFLOP/s of numpy's matmul: the best of 2048^3 and 4096^3 (the machine's
    practical GEMM peak; on some machines BLAS splits 2048^3 over two threads poorly), and
    each size's figure."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    sizes = {}
    for n in (2048, 4096):
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = a.copy()
        with threadpool_limits(threads, user_api="blas"):
            t = _timeit(lambda a=a, b=b: a @ b, 1.0, 20)
        sizes[n] = 2 * n ** 3 / t / 1e9
    _let_blas_rest()
    return max(sizes.values()), sizes


def gemm_probe(threads: int) -> Callable[[], float]:
    """A function timing one 2048^3 float32 GEMM (median of 3) and returning its GFLOP/s:
    the machine's speed at this moment, taken between a row's measurements."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(1).standard_normal((2048, 2048)).astype(np.float32)

    def probe() -> float:
        with threadpool_limits(threads, user_api="blas"):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                a @ a
                times.append(time.perf_counter() - t0)
        _let_blas_rest()
        return 2 * 2048 ** 3 / statistics.median(times) / 1e9

    return probe


def _let_blas_rest() -> None:
    """Wait until OpenBLAS's threads stop spinning after a large product (they busy-wait
    ~0.1 s for more work): the row measured next would share the cores with them (a
    two-thread LSTM forward at hidden 512, batch 1 took 2x as long)."""
    time.sleep(0.5)


#: pause before each burst of calls: the threads of the library timed before (OpenMP's,
#: XLA's) spin after their last call (up to ~10 ms of CPU time measured here), and would slow
#: whichever library comes next
SETTLE_SECONDS = 0.03
#: seconds of calls in one library's turn: this VM's speed swings 1.5-2x from one fraction of
#: a second to the next, so turns this short spread its fast and slow spells over every
#: library (8 rounds of LSTM hidden 32, batch 1 inference: PyTorch/rnnlab 2.2-4.6x with
#: 0.2 s per library, 2.4-3.6x in turns; hidden 512, batch 32: 0.83-0.97x, 0.87-0.97x)
BURST_SECONDS = 0.03


#: each turn starts with one untimed call: the first call after the pause ran slower than
#: the next ones for every library, 1.05-1.3x for calls of milliseconds and up to 5x for
#: the shortest (rnnlab's Elman RNN hidden 512, batch 32 training 16.4 against 13.8 ms,
#: PyTorch's LSTM hidden 32, batch 1 inference 1.6 against 0.3 ms), even after a pause
#: alone: cores idle for tens of milliseconds come back slow on this VM. A loop of steps
#: never pauses so, and with calls as long as the burst, that first call was half of a
#: turn's samples.


def _timeit_turns(fns: dict[str, Callable[[], object]], min_time: float) -> dict[str, float]:
    """Median seconds per call of each function, the functions taking turns: a pause, one
    untimed call, then timed calls for about :data:`BURST_SECONDS`, until each has run for
    ``min_time`` and 3 calls.

    Each cycle of turns takes the next order of the functions (all their permutations in
    turn), so each follows each other one about as often: what a library leaves behind can
    outlast the pause (with a fixed order, rnnlab's turns came right after JAX's training
    step, and its two-thread forward at LSTM hidden 512, batch 1 measured 3.2-4.5 ms there
    against 2.0-2.2 ms after PyTorch's)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    orders = itertools.cycle(itertools.permutations(fns))
    while any(sum(t) < min_time or len(t) < 3 for t in times.values()):
        for key in next(orders):
            fn = fns[key]
            time.sleep(SETTLE_SECONDS)
            fn()  # the untimed call
            start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                times[key].append(t1 - t0)
                if t1 - start >= BURST_SECONDS:
                    break
    return {k: statistics.median(t) for k, t in times.items()}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _tiny(row: Row) -> Row:
    """The row with one sequence of two steps: same layers and kernels, little memory."""
    return Row(row.kind, row.hidden, 1, 2, row.layers, row.bidirectional, row.input_size)


def memory_child(lib: str, row: dict) -> None:
    """Print how far training steps of ``lib`` raise the resident set (MiB) above where it
    stands once the library's code is loaded: after one training step of a two-step,
    one-sequence problem with the same layers, so what it costs is what any step of this
    size needs, including memory a library keeps from one step to the next (a level taken
    after steps of the full size would credit that to it). Linux only (resets VmHWM)."""
    import gc

    r = Row(**row)
    train = make_callables(r, jax_ok=False)[lib][1]
    make_callables(_tiny(r), jax_ok=False)[lib][1]()
    if lib == "rnnlab":
        _load_threaded_code(r)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    for _ in range(3):
        train()
    print(json.dumps({"mib": (_status_kib("VmHWM") - before) / 1024}))


def _load_threaded_code(row: Row) -> None:
    """One training step of rnnlab's threaded path on 8 sequences of two steps (forced, as
    so little work would run on one thread): its compiled task drivers, ~12 MiB of code for
    an LSTM's pair, are then loaded before the memory is measured, as all other code is."""
    from rnnlab.engine import parallel

    saved = parallel.MIN_DRIVER_WORK, parallel.L2_BYTES
    # chunks of sequences even for a weight beyond L2 (which would split the units)
    parallel.MIN_DRIVER_WORK, parallel.L2_BYTES = 0, 0
    try:
        tiny = Row(row.kind, row.hidden, 2 * parallel.MIN_ROWS, 2, row.layers,
                   row.bidirectional, row.input_size)
        make_callables(tiny, jax_ok=False)["rnnlab"][1]()
    finally:
        parallel.MIN_DRIVER_WORK, parallel.L2_BYTES = saved


def peak_memory(lib: str, row: Row) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", lib,
           json.dumps(row.__dict__)]
    # freed memory goes back to the system at once, so the resident set follows live bytes
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "0", "MALLOC_TRIM_THRESHOLD_": "0",
           "MALLOC_TOP_PAD_": "0"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"memory measurement of {lib} on {row.label} failed:\n"
                           f"{res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])["mib"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per row")
    ap.add_argument("--min-time", type=float, default=0.2,
                    help="seconds of calls per library, mode and round")
    ap.add_argument("--quick", action="store_true", help="hidden <= 128, length 50 only")
    ap.add_argument("--memory", action="store_true", help="also peak memory of a train step")
    ap.add_argument("--only", help="run only the rows whose label matches this regex")
    ap.add_argument("--markdown", help="write the table to this file")
    ap.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("this benchmark needs PyTorch: pip install 'rnnlab[bench]'", file=sys.stderr)
        return 2
    import rnnlab as rl

    torch.set_num_threads(args.threads)
    rl.set_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child[0], json.loads(args.memory_child[1]))
        return 0
    try:
        import jax

        jax_ok = True
        jax_version = jax.__version__
    except ImportError:
        jax_ok, jax_version = False, "not installed"
    env = {k: os.environ.get(k, "") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                              "MALLOC_MMAP_THRESHOLD_")}
    # rnnlab's one-time set-up (BLAS threads, malloc keeping freed memory) is process-wide:
    # done before any timing, every library runs under it
    from rnnlab.engine.config import keep_freed_memory, prepare_runtime

    prepare_runtime()
    env["malloc keeps freed memory"] = keep_freed_memory()  # the decision prepare_runtime made
    peak, peaks = gemm_peak(args.threads)
    probe = gemm_probe(args.threads)
    head = (f"machine: {platform.machine()}, {os.cpu_count()} cores; python "
            f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
            f"jax {jax_version}, rnnlab {rl.__version__}; threads {args.threads}; env {env}; "
            f"float32 GEMM peak (numpy, best of " +
            ", ".join(f"{n}^3 {v:.0f}" for n, v in peaks.items()) + f") {peak:.0f} GFLOP/s")
    print(head, flush=True)
    libs = ["torch", "jax"] if jax_ok else ["torch"]
    table = []
    for row in rows(args.quick):
        if args.only and not re.search(args.only, row.label):
            continue
        fns = make_callables(row, jax_ok)
        res: dict[tuple[str, str], list[float]] = {}
        local = []
        for _ in range(args.rounds):
            for m, mode in enumerate(("inf", "trn")):
                turns = _timeit_turns({lib: pair[m] for lib, pair in fns.items()},
                                      args.min_time)
                for lib, t in turns.items():
                    res.setdefault((lib, mode), []).append(t)
            local.append(probe())
        med = {k: statistics.median(v) for k, v in res.items()}
        entry = {"row": row, "ms": {k: v * 1e3 for k, v in med.items()},
                 "local_peak": statistics.median(local)}
        for mode, train in (("inf", False), ("trn", True)):
            gf = row.flops(train) / med[("rnnlab", mode)] / 1e9
            entry[f"gflops_{mode}"] = gf
            entry[f"peak_{mode}"] = 100 * gf / peak
            entry[f"local_{mode}"] = 100 * gf / entry["local_peak"]
        if args.memory:
            entry["mem"] = {lib: peak_memory(lib, row) for lib in ("rnnlab", "torch")}
        table.append(entry)
        parts = [f"{row.label:<26}"]
        for mode in ("inf", "trn"):
            ours = med[("rnnlab", mode)] * 1e3
            ratios = " ".join(f"{lib} {med[(lib, mode)] / med[('rnnlab', mode)]:5.2f}x"
                              for lib in libs if (lib, mode) in med)
            parts.append(f"{mode} {ours:8.3f} ms {entry[f'gflops_{mode}']:6.1f} GF/s "
                         f"({entry[f'peak_{mode}']:4.1f}%, local {entry[f'local_{mode}']:4.1f}%)"
                         f" vs {ratios}")
        parts.append(f"GEMM {entry['local_peak']:.0f} GF/s")
        if args.memory:
            parts.append("mem MiB rnnlab {rnnlab:.1f} torch {torch:.1f}".format(**entry["mem"]))
        print(" | ".join(parts), flush=True)
    if args.markdown:
        write_markdown(args.markdown, head, table, libs, args.memory)
    return 0


def write_markdown(path: str, head: str, table: list[dict], libs: list[str],
                   memory: bool) -> None:
    cols = ["row"]
    for name in ("inference", "training step"):
        cols += [f"rnnlab {name} ms"] + [f"{lib} ms" for lib in libs] + \
                [f"{lib}/rnnlab" for lib in libs] + ["GF/s", "% peak", "% local peak"]
    cols.append("local GEMM GF/s")
    if memory:
        cols += ["rnnlab MiB", "torch MiB"]
    lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for e in table:
        ms = e["ms"]
        cells = [e["row"].label]
        for mode in ("inf", "trn"):
            cells.append(f"{ms[('rnnlab', mode)]:.3f}")
            cells += [f"{ms[(lib, mode)]:.3f}" if (lib, mode) in ms else "-" for lib in libs]
            cells += [f"{ms[(lib, mode)] / ms[('rnnlab', mode)]:.2f}" if (lib, mode) in ms
                      else "-" for lib in libs]
            cells += [f"{e[f'gflops_{mode}']:.1f}", f"{e[f'peak_{mode}']:.1f}",
                      f"{e[f'local_{mode}']:.1f}"]
        cells.append(f"{e['local_peak']:.0f}")
        if memory:
            cells += [f"{e['mem']['rnnlab']:.1f}", f"{e['mem']['torch']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
