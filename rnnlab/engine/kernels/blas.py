"""BLAS's matrix product with accumulation, for compiled kernels.

``np.dot`` in Numba always overwrites its output, so adding a product to a gradient took a
temporary and a pass over it. :func:`gemm_into` calls the same BLAS routine that ``np.dot``
calls (through Numba's own helper, so compiled callers stay cacheable) with ``beta``.
"""

from __future__ import annotations

import numba
import numpy as np

from ..config import jit


@jit
def _check_gemm(a, b, c):
    if a.shape[1] != b.shape[0] or c.shape[0] != a.shape[0] or c.shape[1] != b.shape[1]:
        raise ValueError("gemm_into: expected a (M, K), b (K, N) and c (M, N)")


if not numba.config.DISABLE_JIT:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic
    from numba.np import linalg

    @intrinsic
    def _xxgemm(typingctx, a, b, c, beta):
        """``c = a @ b + beta * c``; ``a``, ``b`` C- or F-contiguous, ``c`` C-contiguous,
        no empty dimension."""
        arrays = (a, b, c)
        if not (all(isinstance(t, types.Array) and t.ndim == 2 and t.dtype == c.dtype
                    for t in arrays)
                and c.dtype in (types.float32, types.float64)
                and a.layout in "CF" and b.layout in "CF" and c.layout == "C"):
            return None
        linalg.ensure_blas()
        sig = types.void(a, b, c, beta)

        def codegen(context, builder, signature, args):
            ta, tb, tc, tbeta = signature.args
            arr_a, arr_b, arr_c = (context.make_array(t)(context, builder, v)
                                   for t, v in zip((ta, tb, tc), args[:3]))
            m, k = cgutils.unpack_tuple(builder, arr_a.shape, 2)
            _, n = cgutils.unpack_tuple(builder, arr_b.shape, 2)
            fnty = ir.FunctionType(ir.IntType(32), [
                linalg.ll_char, linalg.ll_char, linalg.ll_char,
                linalg.intp_t, linalg.intp_t, linalg.intp_t,
                linalg.ll_void_p, linalg.ll_void_p, linalg.intp_t,
                linalg.ll_void_p, linalg.intp_t, linalg.ll_void_p,
                linalg.ll_void_p, linalg.intp_t])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
            dtype = tc.dtype
            alpha = linalg.make_constant_slot(context, builder, dtype, 1.0)
            beta_v = context.cast(builder, args[3], tbeta, dtype)
            beta_slot = cgutils.alloca_once_value(builder, beta_v)

            # Column-major BLAS computes c.T = b.T @ a.T: a C-contiguous (M, N) c is a
            # column-major (N, M) one. An operand stored like c needs no transpose.
            def operand(ty, arr, rows, cols):
                c_order = ty.layout == "C"
                trans = ir.Constant(linalg.ll_char, ord("n" if c_order else "t"))
                return trans, cols if c_order else rows, builder.bitcast(arr.data,
                                                                        linalg.ll_void_p)

            trans_b, ld_b, data_b = operand(tb, arr_b, k, n)
            trans_a, ld_a, data_a = operand(ta, arr_a, m, k)
            kind = ir.Constant(linalg.ll_char, ord(linalg.get_blas_kind(dtype)))
            res = builder.call(fn, (kind, trans_b, trans_a, n, m, k,
                                    builder.bitcast(alpha, linalg.ll_void_p), data_b, ld_b,
                                    data_a, ld_a, builder.bitcast(beta_slot, linalg.ll_void_p),
                                    builder.bitcast(arr_c.data, linalg.ll_void_p), n))
            linalg.check_blas_return(context, builder, res)
            return context.get_dummy_value()

        return sig, codegen

    @jit
    def gemm_into(a, b, c, beta):
        """``c (M, N) = a (M, K) @ b (K, N) + beta * c`` in one BLAS call (``beta = 1``:
        accumulate). ``a`` and ``b`` may be transposed views (C- or F-contiguous), ``c`` is
        C-contiguous; ``beta = 0`` ignores what ``c`` held, as BLAS does."""
        _check_gemm(a, b, c)
        M, N = c.shape
        if M == 0 or N == 0:
            return
        if a.shape[1] == 0:
            if beta == 0.0:
                c.fill(0.0)
            else:
                c *= beta
            return
        _xxgemm(a, b, c, beta)

else:

    def gemm_into(a, b, c, beta):
        """``c = a @ b + beta * c`` (NumPy)."""
        _check_gemm(a, b, c)
        prod = np.dot(a, b)
        if beta == 0.0:
            c[...] = prod
        else:
            c *= beta
            c += prod


#: OpenBLAS multiplies matrices of at most this many multiply-adds (``M * N * K``) without
#: packing them (its small-matrix kernels, on CPUs with AVX-512); larger ones are packed.
#: Measured here, a weight gradient ``(128, 64)`` summed over rows: 150-160 GF/s up to
#: 100 rows (819k multiply-adds), about 100 GF/s from 128 rows (1.05M) on.
SMALL_GEMM_MACS = 1_000_000
#: fewest rows per piece in :func:`grad_gemm_into`: below it the calls cost more than the
#: small kernels save (pieces of 16 rows at ``(384, 160)``: 0.98-1.09x the time of one
#: call; of 10 at ``(384, 256)``: 1.26x)
MIN_PIECE_ROWS = 24


@jit
def grad_pieces(n, G, N):
    """How many even pieces of rows :func:`grad_gemm_into` sums ``n`` rows of a ``(G, N)``
    gradient in: the fewest that keep each within :data:`SMALL_GEMM_MACS`, or 1 when those
    would hold fewer than :data:`MIN_PIECE_ROWS` rows (or one piece is enough)."""
    rows = max(1, SMALL_GEMM_MACS // max(1, G * N))
    pieces = (n + rows - 1) // rows
    if pieces <= 1 or n // pieces < MIN_PIECE_ROWS:
        return 1
    return pieces


@jit
def grad_gemm_into(d, s, c, beta):
    """``c (G, N) = d.T @ s + beta * c`` for ``d (n, G)`` and ``s (n, N)`` (C-contiguous): a
    weight gradient summed over ``n`` rows (steps x sequences), in :func:`grad_pieces`
    pieces. An LSTM's gradient at hidden 32, ``(128, 64)``, over 512 rows took 0.62-0.66x
    the time of one call in pieces; ``(512, 64)`` in pieces of 30 rows 0.79-0.82x."""
    n = d.shape[0]
    pieces = grad_pieces(n, d.shape[1], s.shape[1])
    for q in range(pieces):
        r0, r1 = q * n // pieces, (q + 1) * n // pieces
        gemm_into(d[r0:r1].T, s[r0:r1], c, beta if q == 0 else 1.0)
