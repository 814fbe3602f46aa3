"""Packed-weight GEMM against np.dot: shapes around the tile sizes, both dtypes, accumulate
mode, strided views, panel ranges, calls from compiled code, errors, the disk cache; BLAS's
product with accumulation, whole and in pieces of rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from rnnlab.engine.config import jit
from rnnlab.engine.kernels.blas import (
    MIN_PIECE_ROWS,
    SMALL_GEMM_MACS,
    gemm_into,
    grad_gemm_into,
    grad_pieces,
)
from rnnlab.engine.kernels.gemm import (
    PANEL_VECTORS,
    VECTOR_BYTES,
    check_packed,
    empty_packed,
    gemm_packed,
    gemm_packed_parallel,
    gemm_panels,
    pack_b,
    pack_bt,
    pack_bt_units,
    packed_shape,
    panel_width,
)

DTYPES = (np.float32, np.float64)
# Rows around the 4/8/12-row tiles, columns around the 16/32-wide panels.
ROWS = (1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 16, 17, 20, 24, 25, 32, 33, 64, 100)
COLS = (1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 64, 65, 100, 130)
DEPTHS = (1, 3, 16, 33, 64, 128)


def _tol(dtype, k):
    return (1e-6 if dtype == np.float32 else 1e-14) * (k + 4)


def _reference(a, w_t, c0, accumulate):
    """``c0 + a @ w_t`` or ``a @ w_t`` in float64."""
    prod = a.astype(np.float64) @ w_t.astype(np.float64)
    return c0.astype(np.float64) + prod if accumulate else prod


def _assert_close(got, want, dtype, k):
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=0, atol=_tol(dtype, k) * scale)


def test_panel_layout_constants():
    nr = PANEL_VECTORS * VECTOR_BYTES // 4  # float32 columns per panel
    assert panel_width(4) == nr and panel_width(8) == nr // 2
    assert packed_shape(5, nr + 1, 4) == (2, 5, nr)
    assert packed_shape(5, nr, 8) == (2, 5, nr // 2)
    p = empty_packed(7, nr + 8, np.float32)
    assert p.shape == (2, 7, nr) and p.dtype == np.float32
    assert p.ctypes.data % 64 == 0 and p.flags.c_contiguous


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_layout_zero_padded(dtype, rng):
    K, N = 5, 37
    b = rng.standard_normal((K, N)).astype(dtype)
    packed = pack_b(b)
    NP, _, NR = packed.shape
    for p in range(NP):
        for j in range(NR):
            col = p * NR + j
            want = b[:, col] if col < N else np.zeros(K, dtype)
            np.testing.assert_array_equal(packed[p, :, j], want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_b_and_pack_bt_agree_for_every_layout(dtype, rng):
    K, N = 19, 70
    w = rng.standard_normal((N, K)).astype(dtype)
    want = pack_b(np.ascontiguousarray(w.T))
    np.testing.assert_array_equal(pack_bt(w), want)
    np.testing.assert_array_equal(pack_b(w.T), want)
    np.testing.assert_array_equal(pack_bt(np.asfortranarray(w)), want)
    wide = rng.standard_normal((2 * N, K + 3)).astype(dtype)
    view = wide[::2, 1:K + 1]
    np.testing.assert_array_equal(pack_bt(view), pack_b(np.ascontiguousarray(view.T)))


def _packed_reference(b):
    """``b (K, N)`` in the panel layout, by NumPy (see :mod:`rnnlab.engine.kernels.gemm`)."""
    K, N = b.shape
    nr = panel_width(b.itemsize)
    padded = np.zeros((K, -(-N // nr) * nr), b.dtype)
    padded[:, :N] = b
    return padded.reshape(K, -1, nr).transpose(1, 0, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", (1, 3, 8, 16, 19, 33, 64))
@pytest.mark.parametrize("G, H, j0, j1", [(1, 70, 0, 70), (4, 32, 0, 32), (4, 40, 8, 29),
                                           (3, 50, 3, 50), (4, 64, 16, 48), (2, 9, 0, 9)])
def test_pack_bt_units_matches_numpy(dtype, K, G, H, j0, j1, rng):
    """The columns of each gate block's units, whole SIMD blocks (transposed in registers)
    and the rest: a block never takes rows across a gate boundary or past the units."""
    w = rng.standard_normal((G * H, K)).astype(dtype)
    rows = (np.arange(G)[:, None] * H + np.arange(j0, j1)[None, :]).ravel()
    want = _packed_reference(np.ascontiguousarray(w[rows].T))
    np.testing.assert_array_equal(pack_bt_units(w, G, H, j0, j1), want)
    strided = np.asfortranarray(w)  # elements not contiguous: no block path
    np.testing.assert_array_equal(pack_bt_units(strided, G, H, j0, j1), want)
    wide = np.zeros((G * H, K + 5), dtype)
    wide[:, 2:K + 2] = w  # rows further apart than K, starting unaligned
    np.testing.assert_array_equal(pack_bt_units(wide[:, 2:K + 2], G, H, j0, j1), want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_into_out(dtype, rng):
    w = rng.standard_normal((45, 9)).astype(dtype)
    out = empty_packed(9, 45, dtype)
    out[...] = np.nan
    got = pack_bt(w, out)
    assert got is out or np.shares_memory(got, out)
    np.testing.assert_array_equal(out, pack_bt(w))
    with pytest.raises(ValueError):
        pack_bt(w, empty_packed(9, 80, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_gemm_matches_dot_over_shapes(dtype, accumulate, rng):
    for M in ROWS:
        for N in COLS:
            K = DEPTHS[(M + N) % len(DEPTHS)]
            a = rng.standard_normal((M, K)).astype(dtype)
            w = rng.standard_normal((N, K)).astype(dtype)
            c = rng.standard_normal((M, N)).astype(dtype)
            want = _reference(a, w.T, c, accumulate)
            gemm_packed(a, pack_bt(w), c, accumulate)
            _assert_close(c, want, dtype, K)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,K,N", [(32, 512, 2048), (1, 512, 2048), (64, 128, 512),
                                   (37, 300, 1000), (5, 1000, 33)])
def test_gemm_large(dtype, M, K, N, rng):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    c = np.empty((M, N), dtype)
    gemm_packed(a, pack_b(b), c, False)
    _assert_close(c, _reference(a, b, c, False), dtype, K)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_views_are_read_and_written_in_bounds(dtype, accumulate, rng):
    """Row-strided ``a`` and ``c`` inside larger buffers: nothing outside ``c`` changes."""
    for M, K, N in [(13, 20, 45), (3, 7, 17), (26, 33, 64), (9, 16, 1), (1, 20, 130),
                    (2, 9, 70), (1, 5, 3)]:
        a_buf = rng.standard_normal((M + 3, K + 5)).astype(dtype)
        a = a_buf[2:M + 2, 4:K + 4]
        c_buf = rng.standard_normal((M + 4, N + 40)).astype(dtype)
        before = c_buf.copy()
        c = c_buf[1:M + 1, 3:N + 3]
        w = rng.standard_normal((N, K)).astype(dtype)
        gemm_packed(a, pack_bt(w), c, accumulate)
        want = before.astype(np.float64)
        want[1:M + 1, 3:N + 3] = _reference(a, w.T, before[1:M + 1, 3:N + 3], accumulate)
        _assert_close(c_buf, want, dtype, K)
        outside = np.ones(c_buf.shape, bool)
        outside[1:M + 1, 3:N + 3] = False
        np.testing.assert_array_equal(c_buf[outside], before[outside])


@pytest.mark.parametrize("dtype", DTYPES)
def test_panel_ranges_compose(dtype, rng):
    M, K, N = 14, 24, 100
    a = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    packed = pack_bt(w)
    c = np.full((M, N), np.nan, dtype)
    check_packed(a, packed, c)
    NP = packed.shape[0]
    for p0, p1 in [(0, 1), (1, NP - 1), (NP - 1, NP)]:
        gemm_panels(a, packed, c, False, p0, p1)
    want = _reference(a, w.T, c, False)
    _assert_close(c, want, dtype, K)
    gemm_panels(a, packed, c, True, 0, NP)
    _assert_close(c, 2 * want, dtype, K)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_serial_and_parallel_match(dtype, accumulate, rng):
    for M, K, N in [(1, 40, 300), (7, 64, 33), (32, 128, 512), (45, 17, 1000)]:
        a = rng.standard_normal((M, K)).astype(dtype)
        w = rng.standard_normal((N, K)).astype(dtype)
        c0 = rng.standard_normal((M, N)).astype(dtype)
        packed = pack_bt(w)
        want = _reference(a, w.T, c0, accumulate)
        for fn in (gemm_packed, gemm_packed_parallel):
            c = c0.copy()
            fn(a, packed, c, accumulate)
            _assert_close(c, want, dtype, K)
    with pytest.raises(ValueError):
        gemm_packed(a[:, 1:], packed, c, False)


def test_degenerate_sizes(rng):
    a = rng.standard_normal((3, 0)).astype(np.float32)
    c = np.full((3, 5), 7.0, np.float32)
    packed = pack_b(np.empty((0, 5), np.float32))
    gemm_packed(a, packed, c, False)
    np.testing.assert_array_equal(c, 0.0)
    gemm_packed(np.empty((0, 4), np.float32), pack_b(np.ones((4, 5), np.float32)),
                np.empty((0, 5), np.float32), False)


@jit
def _sequence(h0, w, steps, out):
    """A recurrent loop as the sequence kernels run it: pack once, one product per step."""
    packed = pack_bt(w)
    h = h0.copy()
    for _ in range(steps):
        gemm_packed(h, packed, out, False)
        for i in range(h.shape[0]):
            for j in range(h.shape[1]):
                h[i, j] = 0.5 * out[i, j]
        gemm_packed(h, packed, out, True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_callable_from_compiled_code(dtype, rng):
    B, H = 6, 40
    h0 = rng.standard_normal((B, H)).astype(dtype)
    w = (rng.standard_normal((H, H)) / np.sqrt(H)).astype(dtype)
    out = np.empty((B, H), dtype)
    _sequence(h0, w, 3, out)
    h = h0.astype(np.float64)
    w64 = w.astype(np.float64)
    for _ in range(3):
        o = h @ w64.T
        h = 0.5 * o
        o = o + h @ w64.T
    _assert_close(out, o, dtype, 3 * H)


def test_shape_errors(rng):
    a = np.ones((4, 8), np.float32)
    packed = pack_bt(np.ones((40, 8), np.float32))
    with pytest.raises(ValueError):
        gemm_packed(np.ones((4, 9), np.float32), packed, np.empty((4, 40), np.float32), False)
    with pytest.raises(ValueError):
        gemm_packed(a, packed, np.empty((4, 70), np.float32), False)
    with pytest.raises(ValueError):
        gemm_packed(a, packed, np.empty((5, 40), np.float32), False)
    with pytest.raises(ValueError):
        gemm_packed(a, packed, np.empty((40, 4), np.float32).T, False)


_SCRIPT = textwrap.dedent("""
    import json, numpy as np
    from rnnlab.engine.config import jit
    from rnnlab.engine.kernels import gemm

    @jit
    def caller(a, packed, c):
        gemm.gemm_packed_parallel(a, packed, c, False)

    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 20)).astype(np.float32)
    w = rng.standard_normal((500, 20)).astype(np.float32)
    c = np.empty((9, 500), np.float32)
    gemm.gemm_packed(a, gemm.pack_bt(w), c, False)
    err = float(np.abs(c - a @ w.T).max())
    c[...] = np.nan
    caller(a, gemm.pack_bt(w), c)
    err = max(err, float(np.abs(c - a @ w.T).max()))
    misses = 0
    for fn in (gemm.gemm_packed, gemm.pack_bt, caller):
        stats = getattr(fn, "stats", None)
        misses += sum(stats.cache_misses.values()) if stats else -1
    print(json.dumps({"err": err, "misses": misses}))
""")


def _run(env, script):
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="the suite already runs without the JIT")
def test_numpy_path_without_jit(tmp_path):
    script = tmp_path / "gemm_script.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    assert _run(env, script)["err"] < 1e-4


@pytest.mark.slow
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="needs the JIT")
def test_second_process_loads_from_cache(tmp_path):
    """Nothing recompiles in a second process, and a cached caller of the parallel variant
    runs from the cache."""
    script = tmp_path / "gemm_script.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("NUMBA_DISABLE_JIT", None)
    first = _run(env, script)
    second = _run(env, script)
    assert first["err"] < 1e-4 and second["err"] < 1e-4
    assert first["misses"] > 0
    assert second["misses"] == 0


_TARGET_SCRIPT = textwrap.dedent("""
    import json, numpy as np
    from rnnlab.engine.kernels import gemm

    rng = np.random.default_rng(2)
    err = 0.0
    for M in range(1, 2 * gemm.TILE_ROWS + 2):
        for N in (1, 5, 8, 17, 40):
            a = rng.standard_normal((M, 33)).astype(np.float32)
            w = rng.standard_normal((N, 33)).astype(np.float32)
            c = rng.standard_normal((M, N)).astype(np.float32)
            want = c + a @ w.T
            gemm.gemm_packed(a, gemm.pack_bt(w), c, True)
            err = max(err, float(np.abs(c - want).max()))
    print(json.dumps({"err": err, "vector": gemm.VECTOR_BYTES, "rows": gemm.TILE_ROWS}))
""")


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="needs the JIT")
@pytest.mark.skipif(numba.config.CPU_NAME is not None or
                    os.uname().machine not in ("x86_64", "AMD64"), reason="x86-64 targets")
def test_micro_kernel_follows_the_target_registers(tmp_path):
    """Compiled for plain x86-64 (SSE2: 16 registers of 16 bytes), the tiles shrink to fit
    and the products stay right, whatever the host's own vector width."""
    script = tmp_path / "target_script.py"
    script.write_text(_TARGET_SCRIPT)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_CPU_NAME="x86-64",
               NUMBA_CPU_FEATURES="+sse,+sse2,+cx8,+fxsr,+mmx")
    env.pop("NUMBA_DISABLE_JIT", None)
    got = _run(env, script)
    assert got["vector"] == 16 and got["rows"] == 6
    assert got["err"] < 1e-4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5])
def test_gemm_into_adds_a_product_to_any_layout(dtype, beta, rng):
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 4)).astype(dtype)
    c0 = rng.standard_normal((7, 4)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for left in (a, np.asfortranarray(a), np.ascontiguousarray(a.T).T):
        for right in (b, np.asfortranarray(b)):
            c = c0.copy()
            gemm_into(left, right, c, beta)
            np.testing.assert_allclose(c, a @ b + beta * c0, rtol=tol, atol=tol)


def test_gemm_into_beta_zero_ignores_what_c_held(rng):
    a = rng.standard_normal((3, 2)).astype(np.float32)
    b = rng.standard_normal((2, 5)).astype(np.float32)
    c = np.full((3, 5), np.nan, dtype=np.float32)
    gemm_into(a, b, c, 0.0)
    np.testing.assert_allclose(c, a @ b, rtol=1e-6)
    gemm_into(a[:, :0], b[:0], c, 0.0)
    assert not c.any()


def test_gemm_into_rejects_mismatched_shapes(rng):
    a = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"a \(M, K\), b \(K, N\) and c \(M, N\)"):
        gemm_into(a, a, np.zeros((3, 2), dtype=np.float32), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("G, N, n", [
    (128, 64, 300),   # pieces of 122 rows at most: 3 pieces of 100
    (128, 64, 123),   # just past one piece: 2 pieces
    (128, 64, 122),   # one piece's worth: one call
    (384, 160, 200),  # pieces would be thinner than MIN_PIECE_ROWS: one call
    (4, 3, 5),
])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_grad_gemm_into_sums_over_rows_in_pieces(dtype, G, N, n, beta, rng):
    """Whole or in pieces, ``c = d.T @ s + beta * c``; with ``beta = 0`` what ``c`` held
    (NaN here) is ignored, so only the first piece may set and every later one must add."""
    d = rng.standard_normal((n, G)).astype(dtype)
    s = rng.standard_normal((n, N)).astype(dtype)
    c0 = rng.standard_normal((G, N)).astype(dtype)
    c = np.full((G, N), np.nan, dtype=dtype) if beta == 0.0 else c0.copy()
    grad_gemm_into(d, s, c, beta)
    want = d.T.astype(np.float64) @ s + (beta * c0 if beta else 0.0)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(c, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("G, N", [(128, 64), (256, 128), (512, 64), (384, 160), (4, 3),
                                  (2048, 1024)])
@pytest.mark.parametrize("n", [1, 23, 24, 48, 100, 122, 123, 200, 513, 5000])
def test_grad_pieces_keep_within_the_small_kernels(G, N, n):
    """Every piece within SMALL_GEMM_MACS and at least MIN_PIECE_ROWS rows whenever the rows
    are split; one piece when a split would leave thinner ones."""
    pieces = grad_pieces(n, G, N)
    sizes = [(q + 1) * n // pieces - q * n // pieces for q in range(pieces)]
    assert sum(sizes) == n
    if pieces > 1:
        assert max(sizes) * G * N <= SMALL_GEMM_MACS
        assert min(sizes) >= MIN_PIECE_ROWS
    else:  # one call: one piece is enough, or the pieces would be too thin
        rows = SMALL_GEMM_MACS // (G * N)
        fewest = -(-n // rows) if rows else n
        assert fewest <= 1 or n // fewest < MIN_PIECE_ROWS
