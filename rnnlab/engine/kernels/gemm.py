"""Small-``M`` GEMM over a weight packed once: ``c (M, N) (+)= a (M, K) @ b (K, N)``.

The sequence kernels multiply the same recurrent weight by a thin state matrix (``M`` = batch)
at every timestep. A BLAS call re-packs the whole weight each time; here the weight is packed
once into column panels and a register-blocked micro-kernel streams each panel contiguously.

Layouts:

- ``packed (NP, K, NR)``: ``packed[p, k, j] = b[k, p * NR + j]``, zeros past ``N`` in the last
  panel. ``NR`` = :data:`PANEL_VECTORS` SIMD vectors of :data:`VECTOR_BYTES` (with AVX-512:
  32 float32 or 16 float64 columns; with AVX2 half that), ``NP = ceil(N / NR)``.
  :func:`empty_packed` buffers are 64-byte aligned.
``a`` is read in place, rows contiguous: with at most a few dozen rows it sits in L1 or L2,
and packing it measured no faster (0.9-1.3x the time of reading it in place, ``M`` 1 to 32).

The micro-kernel is an ``@intrinsic`` emitting explicit vectors of the CPU's SIMD width and
``llvm.fma`` (plain loops with scalar accumulators do not vectorise): a tile of up to
:data:`TILE_ROWS` rows x ``NR`` columns of accumulators stays in registers for the whole ``K``
loop while the panel streams through. Width and tile follow the CPU Numba compiles for, so the
accumulators never spill: 12 x 32 float32 with AVX-512 (32 registers of 64 bytes), 6 x 16 with
AVX2 (16 of 32 bytes). Numba's cache is kept per CPU, so a cached kernel matches them. Each
tile also prefetches a share of the next panel into L2, so a weight larger than L2 streams
from memory while the current panel is in use. Under ``NUMBA_DISABLE_JIT=1`` the same
functions run as NumPy.

In a sequence kernel (``w_hh (G, P)``, state ``h (B, P)``, ``hw (B, G)``)::

    wp = pack_bt(w_hh)                  # once per call: b = w_hh.T
    for s in range(T):
        gemm_packed(h, wp, hw, False)   # hw = h @ w_hh.T
"""

from __future__ import annotations

import numba
import numpy as np

from ..config import JIT_OPTIONS, jit


def _simd_registers() -> tuple[int, int]:
    """``(bytes, count)`` of the vector registers of the CPU Numba compiles for."""
    features = numba.config.CPU_FEATURES
    if features is None:
        import llvmlite.binding as llvm

        host = llvm.get_host_cpu_features()
        enabled = {name for name, on in host.items() if on}
    else:
        enabled = {f[1:] for f in features.split(",") if f.startswith("+")}
    if "avx512f" in enabled:
        return 64, 32
    if "avx" in enabled:
        return 32, 16
    return 16, 16


#: bytes of one SIMD vector and how many vector registers there are
VECTOR_BYTES, VECTOR_REGISTERS = _simd_registers()

#: vectors per panel row: a panel is ``PANEL_VECTORS * VECTOR_BYTES // itemsize`` columns wide.
PANEL_VECTORS = 2

#: Most rows of ``a`` per micro-kernel call (a tile): as many rows of ``PANEL_VECTORS``
#: accumulators as leave registers for the panel row and a broadcast.
TILE_ROWS = 12 if VECTOR_REGISTERS >= 32 else 6
#: rows of the middle micro-kernel (between 4 and ``TILE_ROWS``)
MID_ROWS = 8 if VECTOR_REGISTERS >= 32 else 5

#: Panels one call of the one-row micro-kernel covers: ``ROW_PANELS * PANEL_VECTORS``
#: independent accumulators, enough to hide the FMA latency: 1.5x faster than one panel
#: over four sets of accumulators at ``K`` 32, ``N`` 128; level once the weight streams from
#: L2 (``K`` 128, ``N`` 512 and up)
ROW_PANELS = 4

#: Panels per chunk of work in :func:`gemm_packed_parallel`.
PARALLEL_PANELS = 8

_LINE = 64


@jit
def panel_width(itemsize):
    """Columns per panel (``NR``) for elements of ``itemsize`` bytes."""
    return PANEL_VECTORS * VECTOR_BYTES // itemsize


@jit
def packed_shape(k, n, itemsize):
    """Shape ``(NP, K, NR)`` of the packed form of ``b (K, N)``."""
    nr = panel_width(itemsize)
    return ((n + nr - 1) // nr, k, nr)


@jit
def kernel_rows(rows):
    """Rows of the micro-kernel that serves a tile of ``rows`` rows (it computes that many
    and stores ``rows``): ``_gemm_core`` picks the kernel by it."""
    if rows <= 2:
        return rows
    if rows <= 4:
        return 4
    return MID_ROWS if rows <= MID_ROWS else TILE_ROWS


@jit
def empty_packed(k, n, dtype):
    """Uninitialised, 64-byte aligned ``packed (NP, K, NR)`` for ``b (K, N)``."""
    itemsize = np.empty(0, dtype=dtype).itemsize
    NP, K, NR = packed_shape(k, n, itemsize)
    size = NP * K * NR
    buf = np.empty(size + _LINE // itemsize, dtype=dtype)
    off = (-buf.ctypes.data % _LINE) // itemsize
    return buf[off:off + size].reshape((NP, K, NR))


@jit
def check_packed(a, packed, c):
    """Raise ``ValueError`` unless ``a (M, K)``, ``packed (NP, K, NR)`` and ``c (M, N)`` fit
    :func:`gemm_packed`."""
    M, K = a.shape
    N = c.shape[1]
    NP, Kp, NR = packed.shape
    if c.shape[0] != M or Kp != K:
        raise ValueError("gemm_packed: shapes of a, packed and c do not match")
    if NR != panel_width(packed.itemsize) or NP != (N + NR - 1) // NR:
        raise ValueError("gemm_packed: packed does not have the panel layout for c")
    if ((a.size > 0 and a.strides[1] != a.itemsize)
            or (c.size > 0 and c.strides[1] != c.itemsize)
            or (packed.size > 0 and (packed.strides[2] != packed.itemsize
                                     or packed.strides[1] != NR * packed.itemsize
                                     or packed.strides[0] != K * NR * packed.itemsize))):
        raise ValueError("gemm_packed: rows of a and c, and packed, must be contiguous")


@jit
def _check_shape(buf, shape, what):
    if buf.shape != shape:
        raise ValueError(what)


if not numba.config.DISABLE_JIT:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    # A cached function that calls a parallel one does not start Numba's thread pool when it
    # is loaded from the cache and can crash (numba issues 8578 and 9938): start it here.
    try:
        from numba.np.ufunc.parallel import _launch_threads
    except ImportError:  # pragma: no cover
        pass
    else:
        _launch_threads()

    def _splat(builder, value, vec_type):
        """``vec_type`` vector with every lane equal to the scalar ``value``."""
        i32 = ir.IntType(32)
        v = builder.insert_element(ir.Constant(vec_type, ir.Undefined), value,
                                   ir.Constant(i32, 0))
        return builder.shuffle_vector(v, ir.Constant(vec_type, ir.Undefined),
                                      ir.Constant(ir.VectorType(i32, vec_type.count),
                                                  [0] * vec_type.count))

    def _make_tile(mr, ks, panels=1):
        """Micro-kernel for up to ``mr`` rows over ``panels`` adjacent panels, ``ks``
        accumulator sets.

        ``tile(a_ptr, lda, packed, c_ptr, ldc, rows, p, nr, accumulate, pf_off, pf_n)``:
        ``rows`` rows of ``a`` (``1 <= rows <= mr``), given by the address of the first and
        the row stride ``lda`` in bytes (elements contiguous), times panels ``p : p +
        panels`` of ``packed``. Sets (or adds to) those rows of ``c``,
        given by the address of its first row and its row stride ``ldc`` in bytes, in the
        columns ``p * NR : p * NR + nr`` (``1 <= nr <= panels * NR``). Rows ``rows..mr`` are
        computed from row ``rows - 1`` and never stored, so nothing past ``a`` is read.
        ``ks > 1`` splits ``K`` over independent accumulators, as do several panels (for
        few rows, where one chain per accumulator would wait on the FMA latency). With
        ``ks == 1`` it also prefetches ``pf_n`` cache lines (at most ``2 * K``) from
        ``pf_off`` bytes into ``packed`` to L2.
        """
        nv = PANEL_VECTORS
        cols = panels * nv  # accumulator vectors per row

        @intrinsic
        def tile(typingctx, a_ptr, lda, packed, c_ptr, ldc, rows, p, nr, accumulate, pf_off,
                 pf_n):
            if not (isinstance(packed, types.Array) and packed.ndim == 3
                    and packed.dtype in (types.float32, types.float64)):
                return None
            sig = types.void(types.intp, types.intp, packed, types.intp, types.intp,
                             types.intp, types.intp, types.intp, types.boolean, types.intp,
                             types.intp)

            def codegen(context, builder, signature, args):
                p_arr = context.make_array(signature.args[2])(context, builder, args[2])
                a0, lda_v, _, c0, ldc_v, rows_v, p_v, nr_v, acc_flag, pf_off_v, pf_n_v = args

                elt = context.get_data_type(signature.args[2].dtype)
                size = context.get_abi_sizeof(elt)
                width = VECTOR_BYTES // size
                vec = ir.VectorType(elt, width)
                intp = context.get_value_type(types.intp)
                i8p = ir.IntType(8).as_pointer()
                i32 = ir.IntType(32)
                mod = builder.module
                vname = f"v{width}f{8 * size}"
                mask_t = ir.VectorType(ir.IntType(1), width)
                fma = cgutils.get_or_insert_function(
                    mod, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.{vname}")
                masked_load = cgutils.get_or_insert_function(
                    mod, ir.FunctionType(vec, [vec.as_pointer(), i32, mask_t, vec]),
                    f"llvm.masked.load.{vname}.p0")
                masked_store = cgutils.get_or_insert_function(
                    mod, ir.FunctionType(ir.VoidType(), [vec, vec.as_pointer(), i32, mask_t]),
                    f"llvm.masked.store.{vname}.p0")
                prefetch = cgutils.get_or_insert_function(
                    mod, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
                invariant = mod.add_metadata([])

                def const(x):
                    return ir.Constant(intp, x)

                def at(base, offset):
                    """``i8*`` pointer ``offset`` bytes past ``base``."""
                    return builder.gep(builder.bitcast(base, i8p), [offset], inbounds=True)

                def load(ptr, ty, fixed=True):
                    """A load; ``fixed`` marks memory that never changes (the packed
                    weight; not ``a``, which a sequence kernel rewrites every step)."""
                    value = builder.load(builder.bitcast(ptr, ty.as_pointer()), align=size)
                    if fixed:
                        value.set_metadata("invariant.load", invariant)
                    return value

                p_s0 = cgutils.unpack_tuple(builder, p_arr.strides, 3)[0]
                k_len = cgutils.unpack_tuple(builder, p_arr.shape, 3)[1]
                last = builder.sub(rows_v, const(1))
                a_rows = [at(builder.inttoptr(a0, i8p), builder.mul(
                    builder.select(builder.icmp_signed("<", const(i), rows_v), const(i), last),
                    lda_v)) for i in range(mr)]
                bases = [at(p_arr.data, builder.mul(builder.add(p_v, const(q)), p_s0))
                         for q in range(panels)]
                zero = ir.Constant(vec, [ir.Constant(elt, 0.0)] * width)
                accs = [[[cgutils.alloca_once_value(builder, zero) for _ in range(cols)]
                         for _ in range(mr)] for _ in range(ks)]

                def step(k, s):
                    """Accumulate row ``k`` of the panels into accumulator set ``s``."""
                    off = builder.mul(k, const(nv * VECTOR_BYTES))
                    bvs = [load(at(bases[j // nv], builder.add(off, const(
                        (j % nv) * VECTOR_BYTES))), vec) for j in range(cols)]
                    ak = builder.mul(k, const(size))
                    for i in range(mr):
                        sv = _splat(builder, load(at(a_rows[i], ak), elt, False), vec)
                        for j in range(cols):
                            slot = accs[s][i][j]
                            builder.store(builder.call(fma, [sv, bvs[j], builder.load(slot)]),
                                          slot)

                if ks == 1 and panels == 1:
                    pf_base = builder.gep(builder.bitcast(p_arr.data, i8p), [pf_off_v])
                    with cgutils.for_range(builder, k_len) as loop:
                        k = loop.index
                        for second in (False, True):
                            line = builder.add(k, k_len) if second else k
                            with builder.if_then(builder.icmp_signed("<", line, pf_n_v),
                                                 likely=not second):
                                builder.call(prefetch, [
                                    builder.gep(pf_base, [builder.mul(line, const(_LINE))]),
                                    ir.Constant(i32, 0), ir.Constant(i32, 2),
                                    ir.Constant(i32, 1)])
                        step(k, 0)
                else:
                    blocks = builder.sdiv(k_len, const(ks))
                    with cgutils.for_range(builder, blocks) as loop:
                        k0 = builder.mul(loop.index, const(ks))
                        for s in range(ks):
                            step(builder.add(k0, const(s)), s)
                    with cgutils.for_range(builder, k_len,
                                           start=builder.mul(blocks, const(ks))) as loop:
                        step(loop.index, 0)

                # Lanes at or past ``nr`` are neither read nor written (the edge panel). Full
                # panels use plain loads and stores: masked ones are microcoded on some CPUs.
                lanes = ir.Constant(ir.VectorType(intp, width), [const(q) for q in range(width)])
                masks = [builder.icmp_signed("<", lanes, _splat(
                    builder, builder.sub(nr_v, const(j * width)), lanes.type))
                    for j in range(cols)]
                align = ir.Constant(i32, size)
                c_base = builder.inttoptr(c0, i8p)
                col0 = builder.mul(builder.mul(p_v, const(nv * width)), const(size))
                for i in range(mr):
                    for j in range(cols):
                        total = builder.load(accs[0][i][j])
                        for s in range(1, ks):
                            total = builder.fadd(total, builder.load(accs[s][i][j]))
                        builder.store(total, accs[0][i][j])

                def write(masked):
                    for i in range(mr):
                        valid = builder.icmp_signed("<", const(i), rows_v)
                        with builder.if_then(valid, likely=True):
                            crow = at(c_base, builder.add(builder.mul(const(i), ldc_v), col0))
                            for j in range(cols):
                                ptr = builder.bitcast(at(crow, const(j * VECTOR_BYTES)),
                                                      vec.as_pointer())
                                total = builder.load(accs[0][i][j])
                                with builder.if_then(acc_flag):
                                    old = (builder.call(masked_load, [ptr, align, masks[j], zero])
                                           if masked else builder.load(ptr, align=size))
                                    builder.store(builder.fadd(old, total), accs[0][i][j])
                                total = builder.load(accs[0][i][j])
                                if masked:
                                    builder.call(masked_store, [total, ptr, align, masks[j]])
                                else:
                                    builder.store(total, ptr, align=size)

                full = builder.icmp_signed("==", nr_v, const(cols * width))
                with builder.if_else(full, likely=True) as (whole, edge):
                    with whole:
                        write(False)
                    with edge:
                        write(True)
                return context.get_dummy_value()

            return sig, codegen

        return tile

    @intrinsic
    def _transpose_block(typingctx, like, src, src_stride, dst, dst_stride):
        """Transpose a square block of ``W`` x ``W`` elements, ``W`` the elements of one SIMD
        vector of ``like``'s dtype: ``W`` vectors load from the address ``src`` on (rows
        ``src_stride`` bytes apart, elements contiguous), and their columns store from ``dst``
        on as rows ``dst_stride`` bytes apart. The shuffles swap one bit of the row index
        with the same bit of the column index at a time (``log2 W`` rounds)."""
        if not (isinstance(like, types.Array) and like.dtype in (types.float32, types.float64)):
            return None
        sig = types.void(like, types.intp, types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            elt = context.get_data_type(signature.args[0].dtype)
            size = context.get_abi_sizeof(elt)
            width = VECTOR_BYTES // size
            vec = ir.VectorType(elt, width)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            _, src_v, ss, dst_v, ds = args
            intp = context.get_value_type(types.intp)

            def row(base, stride, i):
                ptr = builder.gep(builder.inttoptr(base, i8p),
                                  [builder.mul(stride, ir.Constant(intp, i))])
                return builder.bitcast(ptr, vec.as_pointer())

            rows = [builder.load(row(src_v, ss, i), align=size) for i in range(width)]
            bit = 1
            while bit < width:
                lo = [c if not c & bit else width + c - bit for c in range(width)]
                hi = [c + bit if not c & bit else width + c for c in range(width)]
                out = list(rows)
                for r in range(width):
                    if not r & bit:
                        a, b = rows[r], rows[r | bit]
                        out[r] = builder.shuffle_vector(a, b, ir.Constant(
                            ir.VectorType(i32, width), lo))
                        out[r | bit] = builder.shuffle_vector(a, b, ir.Constant(
                            ir.VectorType(i32, width), hi))
                rows = out
                bit <<= 1
            for i, v in enumerate(rows):
                builder.store(v, row(dst_v, ds, i), align=size)
            return context.get_dummy_value()

        return sig, codegen

    _row = _make_tile(1, 1, ROW_PANELS)
    _tile1 = _make_tile(1, 4)
    _tile2 = _make_tile(2, 2)
    _tile4 = _make_tile(4, 1)
    _tile_mid = _make_tile(MID_ROWS, 1)
    _tile_max = _make_tile(TILE_ROWS, 1)

    @jit
    def _gemm_core(a_ptr, lda, M, packed, c_ptr, ldc, N, accumulate, p0, p1):
        """Panels ``p0 <= p < p1`` of ``c (M, N) (+)= a @ b``; ``a`` and ``c`` given by the
        address of their first element and their row strides in bytes (compiled once per
        dtype)."""
        if M <= 0 or p1 <= p0:
            return
        NR = packed.shape[2]
        if M == 1:
            p = p0
            while p + ROW_PANELS <= p1:
                nr = min(ROW_PANELS * NR, N - p * NR)
                _row(a_ptr, lda, packed, c_ptr, ldc, 1, p, nr, accumulate, 0, 0)
                p += ROW_PANELS
            for q in range(p, p1):
                _tile1(a_ptr, lda, packed, c_ptr, ldc, 1, q, min(NR, N - q * NR), accumulate,
                       0, 0)
            return
        tiles = (M + TILE_ROWS - 1) // TILE_ROWS
        panel_bytes = packed.strides[0]
        lines = panel_bytes // _LINE
        share = (lines + tiles - 1) // tiles
        for p in range(p0, p1):
            nr = min(NR, N - p * NR)
            for t in range(tiles):
                i0 = t * TILE_ROWS
                rows = min(TILE_ROWS, M - i0)
                pf_n = 0
                if p + 1 < p1:
                    pf_n = max(0, min(share, lines - t * share))
                pf_off = (p + 1) * panel_bytes + t * share * _LINE
                a_t = a_ptr + i0 * lda
                c_t = c_ptr + i0 * ldc
                used = kernel_rows(rows)
                if used == TILE_ROWS:
                    _tile_max(a_t, lda, packed, c_t, ldc, rows, p, nr, accumulate, pf_off, pf_n)
                elif used == MID_ROWS:
                    _tile_mid(a_t, lda, packed, c_t, ldc, rows, p, nr, accumulate, pf_off, pf_n)
                elif used == 4:
                    _tile4(a_t, lda, packed, c_t, ldc, rows, p, nr, accumulate, pf_off, pf_n)
                elif used == 2:
                    _tile2(a_t, lda, packed, c_t, ldc, rows, p, nr, accumulate, pf_off, pf_n)
                else:
                    _tile1(a_t, lda, packed, c_t, ldc, rows, p, nr, accumulate, pf_off, pf_n)

    @jit
    def gemm_panels(a, packed, c, accumulate, p0, p1):
        """Panels ``p0 <= p < p1`` (columns ``p0 * NR`` to ``min(p1 * NR, N)``) of
        ``c (M, N) (+)= a (M, K) @ b``: for callers that split the panels across threads
        (disjoint ranges). No checks (see :func:`check_packed`).
        in: a (M, K), packed (NP, K, NR); in-out: c (M, N); rows of a and c contiguous
        """
        _gemm_core(np.int64(a.ctypes.data), a.strides[0], a.shape[0], packed,
                   np.int64(c.ctypes.data), c.strides[0], c.shape[1], bool(accumulate),
                   int(p0), int(p1))

    @jit
    def pack_b(b, out=None):
        """Pack ``b (K, N)`` (any strides); returns ``packed (NP, K, NR)``.

        out: optional ``packed`` from :func:`empty_packed` to fill (and return).
        """
        K, N = b.shape
        packed = empty_packed(K, N, b.dtype) if out is None else out
        _check_shape(packed, packed_shape(K, N, b.itemsize),
                     "pack_b: out does not have the shape packed_shape(K, N)")
        NP, _, NR = packed.shape
        for p in range(NP):
            j0 = p * NR
            w = min(NR, N - j0)
            for k in range(K):
                src = b[k]
                dst = packed[p, k]
                for j in range(w):
                    dst[j] = src[j0 + j]
                for j in range(w, NR):
                    dst[j] = 0.0
        return packed

    @jit
    def pack_bt_units(w, G, H, j0, j1, out=None):
        """Pack ``b = w[rows].T`` for ``w (G * H, K)`` (any strides), ``rows`` = unit
        ``j0 <= j < j1`` of each of the ``G`` gate blocks, gate-major: what ``h @ w.T`` is
        for a thread that owns those units. Returns ``packed (NP, K, NR)`` for
        ``N = G * (j1 - j0)`` columns. out: as in :func:`pack_b`.
        """
        K = w.shape[1]
        U = j1 - j0
        N = G * U
        packed = empty_packed(K, N, w.dtype) if out is None else out
        _check_shape(packed, packed_shape(K, N, w.itemsize),
                     "pack_bt: out does not have the shape packed_shape(K, N)")
        NP, _, NR = packed.shape
        W = VECTOR_BYTES // w.itemsize
        # whole W x W blocks of W consecutive rows transpose in registers (3-4x faster than
        # element by element here: 1.0 us against 2.8 for 128 x 32 float32, 0.20 ms against
        # 0.66 for 2048 x 512); the rest of the rows and columns go one by one
        K_blocks = K - K % W if w.strides[1] == w.itemsize else 0
        step = W * w.itemsize
        rs = packed.strides[1]
        for p in range(NP):
            j0p = p * NR
            wd = min(NR, N - j0p)
            panel = packed[p]
            for jb in range(0, wd, W):
                n = j0p + jb
                r0 = (n // U) * H + j0 + n % U
                k_done = 0
                if jb + W <= wd and n % U + W <= U:
                    src_at = w[r0:].ctypes.data
                    dst_at = panel[:, jb:].ctypes.data
                    for blk in range(K_blocks // W):
                        _transpose_block(w, src_at + blk * step, w.strides[0],
                                         dst_at + blk * W * rs, rs)
                    k_done = K_blocks
                for j in range(jb, min(jb + W, wd)):
                    n = j0p + j
                    src = w[(n // U) * H + j0 + n % U]
                    for k in range(k_done, K):
                        panel[k, j] = src[k]
            for k in range(K):
                for j in range(wd, NR):
                    panel[k, j] = 0.0
        return packed

    @jit
    def pack_bt(w, out=None):
        """Pack ``b = w.T`` for ``w (N, K)`` (any strides); returns ``packed (NP, K, NR)``.

        ``pack_bt(w_hh)`` serves ``h @ w_hh.T``. out: as in :func:`pack_b`.
        """
        N = w.shape[0]
        return pack_bt_units(w, 1, N, 0, N, out)

else:

    def gemm_panels(a, packed, c, accumulate, p0, p1):
        """Panels ``p0 <= p < p1`` of ``c (+)= a @ b`` (NumPy)."""
        _, K, NR = packed.shape
        lo, hi = p0 * NR, min(p1 * NR, c.shape[1])
        if hi <= lo:
            return
        b = packed[p0:p1].transpose(1, 0, 2).reshape(K, (p1 - p0) * NR)[:, :hi - lo]
        if accumulate:
            c[:, lo:hi] += a @ b
        else:
            c[:, lo:hi] = a @ b

    def pack_b(b, out=None):
        """Pack ``b (K, N)`` (any strides); returns ``packed (NP, K, NR)`` (NumPy)."""
        K, N = b.shape
        packed = empty_packed(K, N, b.dtype) if out is None else out
        _check_shape(packed, packed_shape(K, N, b.itemsize),
                     "pack_b: out does not have the shape packed_shape(K, N)")
        NP, _, NR = packed.shape
        for p in range(NP):
            w = min(NR, N - p * NR)
            packed[p, :, :w] = b[:, p * NR:p * NR + w]
            packed[p, :, w:] = 0.0
        return packed

    def pack_bt_units(w, G, H, j0, j1, out=None):
        """Pack ``b = w[rows].T``, rows ``j0:j1`` of each gate block (NumPy)."""
        rows = (np.arange(G)[:, None] * H + np.arange(j0, j1)[None, :]).ravel()
        return pack_b(w[rows].T, out)

    def pack_bt(w, out=None):
        """Pack ``b = w.T`` for ``w (N, K)``; returns ``packed (NP, K, NR)`` (NumPy)."""
        return pack_b(w.T, out)


@jit
def gemm_packed(a, packed, c, accumulate):
    """``c = a @ b`` (``c += a @ b`` when ``accumulate``), ``b`` packed by :func:`pack_b` or
    :func:`pack_bt`.

    in:     a (M, K) rows contiguous, packed (NP, K, NR), accumulate bool
    out:    c (M, N) rows contiguous (in-out when ``accumulate``)
    """
    check_packed(a, packed, c)
    gemm_panels(a, packed, c, accumulate, 0, packed.shape[0])


@numba.njit(parallel=True, **JIT_OPTIONS)
def gemm_packed_parallel(a, packed, c, accumulate):
    """:func:`gemm_packed` with the panels split over Numba's threads.

    Panels go in chunks of :data:`PARALLEL_PANELS` (so the next-panel prefetch keeps working)
    and Numba hands each thread a contiguous run of chunks; one chunk runs without a parallel
    region. A region waits for all its threads: with OpenMP's default spin-waiting and another
    busy process on the cores it can take milliseconds (``OMP_WAIT_POLICY=passive`` avoids it).
    """
    check_packed(a, packed, c)
    NP = packed.shape[0]
    chunks = (NP + PARALLEL_PANELS - 1) // PARALLEL_PANELS
    if chunks <= 1:
        gemm_panels(a, packed, c, accumulate, 0, NP)
        return
    for t in numba.prange(chunks):
        p0 = t * PARALLEL_PANELS
        gemm_panels(a, packed, c, accumulate, p0, min(NP, p0 + PARALLEL_PANELS))
