"""rnnlab against PyTorch on the CPU, side by side in one process.

For RNN/LSTM/GRU (input 32, float32) over hidden {32, 128, 512} x batch {1, 32} x length
{50, 200}: inference (forward) and a training step (forward + backward with parameter
gradients). Rounds interleave the two libraries; medians and the ratio torch/rnnlab are
printed (> 1 means rnnlab is faster) and written as a Markdown table.

    python benchmarks/bench_vs_torch.py [--threads 2] [--quick] [--markdown docs/benchmarks.md]

Needs the ``torch`` extra. Allocator and BLAS settings are those of the calling environment
and are printed; both libraries run under the same ones.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np


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


def _cases(quick: bool):
    hidden = (32, 128) if quick else (32, 128, 512)
    lengths = (50,) if quick else (50, 200)
    for kind in ("rnn", "lstm", "gru"):
        for h in hidden:
            for b in (1, 32):
                for t in lengths:
                    yield kind, h, b, t


def _pair(kind, hidden, batch, length, input_size=32):
    import torch

    import rnnlab as rl

    cls = {"rnn": (rl.RNN, torch.nn.RNN), "lstm": (rl.LSTM, torch.nn.LSTM),
           "gru": (rl.GRU, torch.nn.GRU)}[kind]
    tm = cls[1](input_size, hidden)
    ours = cls[0](input_size, hidden, seed=0)
    ours.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((length, batch, input_size)).astype(np.float32)
    dout = rng.standard_normal((length, batch, hidden)).astype(np.float32)
    xt = torch.from_numpy(x)
    dt = torch.from_numpy(dout)

    def torch_infer():
        with torch.no_grad():
            tm(xt)

    def torch_train():
        tm.zero_grad(set_to_none=False)
        out, _ = tm(xt)
        out.backward(dt)

    def ours_infer():
        ours(x)

    def ours_train():
        ours.zero_grad()
        ours(x)
        ours.backward(dout)

    return (torch_infer, ours_infer), (torch_train, ours_train)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per row")
    ap.add_argument("--min-time", type=float, default=0.15, help="seconds per measurement")
    ap.add_argument("--quick", action="store_true", help="hidden <= 128, length 50 only")
    ap.add_argument("--markdown", help="write the table to this file")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("this benchmark needs PyTorch: pip install 'rnnlab[torch]'", file=sys.stderr)
        return 2
    import rnnlab as rl

    torch.set_num_threads(args.threads)
    rl.set_threads(args.threads)
    env = {k: os.environ.get(k, "") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                              "MALLOC_MMAP_THRESHOLD_")}
    head = (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"python {platform.python_version()}, numpy {np.__version__}, torch "
            f"{torch.__version__}, rnnlab {rl.__version__}; threads {args.threads}; env {env}")
    print(head)
    rows = []
    fmt = "{:<5} {:>4} {:>3} {:>4} | {:>10} {:>10} {:>6} | {:>10} {:>10} {:>6}"
    print(fmt.format("cell", "H", "B", "T", "torch inf", "rnnlab inf", "ratio",
                     "torch trn", "rnnlab trn", "ratio"))
    for kind, h, b, t in _cases(args.quick):
        (ti, oi), (tt, ot) = _pair(kind, h, b, t)
        res = {"ti": [], "oi": [], "tt": [], "ot": []}
        for _ in range(args.rounds):
            res["ti"].append(_timeit(ti, args.min_time))
            res["oi"].append(_timeit(oi, args.min_time))
            res["tt"].append(_timeit(tt, args.min_time))
            res["ot"].append(_timeit(ot, args.min_time))
        m = {k: statistics.median(v) * 1e3 for k, v in res.items()}
        row = (kind, h, b, t, m["ti"], m["oi"], m["ti"] / m["oi"], m["tt"], m["ot"],
               m["tt"] / m["ot"])
        rows.append(row)
        print(fmt.format(kind, h, b, t, f"{m['ti']:.3f}", f"{m['oi']:.3f}",
                         f"{row[6]:.2f}", f"{m['tt']:.3f}", f"{m['ot']:.3f}", f"{row[9]:.2f}"),
              flush=True)
    if args.markdown:
        lines = [head, "", "| cell | hidden | batch | length | torch inference ms | rnnlab "
                 "inference ms | torch/rnnlab | torch train ms | rnnlab train ms | "
                 "torch/rnnlab |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]:.3f} | "
                         f"{r[6]:.2f} | {r[7]:.3f} | {r[8]:.3f} | {r[9]:.2f} |")
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
