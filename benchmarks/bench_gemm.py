"""Packed-weight GEMM against BLAS, per shape, in one process.

For ``c (M, N) = a (M, K) @ w.T`` with ``w (N, K)`` as in the recurrent step: GFLOP/s of
``gemm_packed`` (one thread), of ``gemm_packed_parallel`` (Numba's threads, one parallel
region per call), of ``np.dot(a, w.T, c)`` inside a compiled loop (scipy's OpenBLAS, the path
the sequence kernels used) and of numpy's ``np.matmul`` (numpy's OpenBLAS). Rounds interleave the
variants; medians over rounds are printed with the ratio ours/np.dot. Packing time is shown
per shape (paid once per sequence, not per step).

    python benchmarks/bench_gemm.py [--threads 2] [--blas-threads 1] [--rounds 9]
                                    [--min-time 0.05] [--dtype float32 float64] [--quick]
                                    [--omp-wait-policy passive]

BLAS variables (``OPENBLAS_CORETYPE``, ``OPENBLAS_L2_SIZE``) are those of the calling
environment and are printed. The machine is shared: also printed is the load average, and
every number comes from the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = [  # (M, K, N): batch, hidden (or output) size, gates * hidden
    (32, 512, 2048), (32, 256, 1024), (32, 128, 512), (32, 32, 128),
    (64, 512, 2048), (8, 512, 2048), (1, 512, 2048), (1, 128, 512), (1, 32, 128),
    (13, 200, 600),
]
QUICK = [(32, 512, 2048), (32, 128, 512), (32, 32, 128), (1, 512, 2048)]


def _build():
    from rnnlab.engine.config import jit
    from rnnlab.engine.kernels.gemm import gemm_packed, gemm_packed_parallel

    @jit
    def ours(a, packed, c, reps):
        for _ in range(reps):
            gemm_packed(a, packed, c, False)

    @jit
    def ours2(a, packed, c, reps):
        for _ in range(reps):
            gemm_packed_parallel(a, packed, c, False)

    @jit
    def dot(a, w, c, reps):
        for _ in range(reps):
            np.dot(a, w.T, c)

    def matmul(a, w, c, reps):
        wt = w.T
        for _ in range(reps):
            np.matmul(a, wt, out=c)

    return {"ours": ours, "ours parallel": ours2, "np.dot (njit)": dot, "np.matmul": matmul}


def _time(fn, args, reps):
    t0 = time.perf_counter()
    fn(*args, reps)
    return (time.perf_counter() - t0) / reps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="Numba threads for the parallel variant")
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per timed call group")
    ap.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--omp-wait-policy", choices=["passive", "active"],
                    help="set OMP_WAIT_POLICY for this run (before Numba starts its threads)")
    args = ap.parse_args(argv)
    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy

    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS np.dot uses before limiting)
    from threadpoolctl import threadpool_info, threadpool_limits

    from rnnlab.engine.kernels.gemm import pack_bt

    threadpool_limits(limits=args.blas_threads, user_api="blas")
    numba.set_num_threads(args.threads)
    for lib in threadpool_info():
        print(f"{lib['internal_api']} {lib.get('version')} {lib.get('architecture')} "
              f"threads={lib['num_threads']} {Path(lib['filepath']).name}")
    fns = _build()
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"
          f", {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "OMP_WAIT_POLICY"):
        print(f"{var}={os.environ.get(var, '(unset)')}")
    print(f"BLAS threads {args.blas_threads}, Numba threads {args.threads} (threading layer "
          "printed after the first call)")
    rng = np.random.default_rng(0)
    names = list(fns)
    header = " ".join(f"{n:>14}" for n in names)
    first = True
    for dtype in args.dtype:
        print(f"\n{dtype}: GFLOP/s, median of {args.rounds} rounds")
        print(f"{'M':>4} {'K':>5} {'N':>5} {header} {'ours/dot':>9} {'pack us':>8}")
        for M, K, N in (QUICK if args.quick else SHAPES):
            a = rng.standard_normal((M, K)).astype(dtype)
            w = rng.standard_normal((N, K)).astype(dtype)
            packed = pack_bt(w)
            c = np.empty((M, N), dtype)
            ref = a @ w.T
            inputs = {n: (a, w, c) for n in names if not n.startswith("ours")}
            inputs.update({n: (a, packed, c) for n in names if n.startswith("ours")})
            for n in names:
                c[...] = np.nan
                fns[n](*inputs[n], 1)
                if not np.allclose(c, ref, rtol=1e-3, atol=1e-3 * np.sqrt(K)):
                    raise SystemExit(f"{n} gives a wrong product at {(M, K, N)}")
            if first:
                print(f"(numba threading layer: {numba.threading_layer()})")
                first = False
            flops = 2.0 * M * K * N
            reps = {n: max(1, int(args.min_time / max(_time(fns[n], inputs[n], 1), 1e-7)))
                    for n in names}
            times = {n: [] for n in names}
            pack_times = []
            for r in range(args.rounds):
                order = names if r % 2 == 0 else names[::-1]
                for n in order:
                    times[n].append(_time(fns[n], inputs[n], reps[n]))
                t0 = time.perf_counter()
                pack_bt(w, packed)
                pack_times.append(time.perf_counter() - t0)
            gf = {n: flops / statistics.median(times[n]) / 1e9 for n in names}
            cols = " ".join(f"{gf[n]:14.1f}" for n in names)
            ratio = gf["ours"] / gf["np.dot (njit)"]
            print(f"{M:4d} {K:5d} {N:5d} {cols} {ratio:9.2f} "
                  f"{statistics.median(pack_times) * 1e6:8.0f}", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
