"""Narrow, exact requantizers: the fewest multiplier bits that give the same integer outputs.

A requantizer ``out = clamp((acc*M + B) >> s, 0, top)`` (M >= 0, one shift per layer) is a
non-decreasing step function of ``acc``, so it is fully described by its *thresholds* ``T_k`` (the
least accumulator with ``out >= k``). Two requantizers agree on every accumulator a channel can
reach iff their thresholds inside that range agree. For one channel, (M, B, s) reproduces given
thresholds exactly iff, for every level k reached inside ``[lo, hi]``,

    (T_k - 1)*M + B  <  k*2^s  <=  T_k*M + B,

plus ``lo*M + B >= k0*2^s`` (the level at ``lo`` is reached) when k0 > 0 and
``hi*M + B < (k1+1)*2^s`` (no higher level) when k1 < top: linear constraints on (M, B). For a
fixed s the feasible M form an interval (``max_i L_i(M) - min_j U_j(M)`` is convex), found by
bisection; and a solution at s gives one at s+1 (2M, 2B), so the smallest shift is found by
bisection too. Per layer the shift is the smallest at which every channel has a solution, and each
channel takes the smallest M there: the narrowest exact multiplier. The search is exact integer
arithmetic (int64 with every term below 2^61); where no solution fits that range the caller keeps
its wide requantizer (and says so).

Reachable accumulators: per channel, ``[sum_w min(w*xlo, w*xhi), sum_w max(w*xlo, w*xhi)]`` over
the channel's own weights and the input encoding's range (:func:`reachable`): every accumulator the
hardware can produce lies inside (a proven bound, not a sample).

The hardware also narrows the *other* operand: :func:`operand_range` gives one per-layer interval
[L, H] such that saturating ``acc`` into it changes no channel's output on its reachable range, so
the multiplier sees ``bits(L, H)`` bits instead of the full accumulator (proof in the function).
Whether the hardware saturates (only where it saves a DSP) is a hardware decision:
:func:`bitscale.hw.mul2dsp.requant_operand` (nn/ imports nothing from hw/ or cost_model/, issue #17).

Guaranteed: :func:`narrow` returns (M, B, s) equal, on every reachable accumulator of every channel,
to the requantizer it is given, or that requantizer itself when no narrower one exists in range;
:func:`fit` returns None rather than an inexact answer.
"""

from __future__ import annotations

import numpy as np

from bitscale.nn import ir

_BIG = 1 << 61  # sentinel: no constraint
_CHUNK = 1 << 22  # channels x levels per vectorized block


def reachable(net: ir.QuantizedNetwork, layer: ir.Layer) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel (lo, hi): the least and greatest accumulator its weights can produce."""
    return reachable_w(net.weight(layer), layer.in_bits)


def reachable_w(weight, in_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`reachable` for a weight tensor (output channels first) and the input encoding's bits."""
    w = np.asarray(weight, np.int64).reshape(len(weight), -1)
    xlo, xhi = ir.act_range(in_bits)
    a, b = w * xlo, w * xhi
    return np.minimum(a, b).sum(axis=1), np.maximum(a, b).sum(axis=1)


def apply(mul, add, shift: int, acc, top: int) -> np.ndarray:
    """``clamp((acc*M + B) >> s, 0, top)`` elementwise (channels last); int64."""
    acc = np.asarray(acc, np.int64)
    return np.clip((acc * np.asarray(mul, np.int64) + np.asarray(add, np.int64)) >> shift, 0, top)


def thresholds_of(mul, add, shift: int, lo, hi, top: int):
    """(k0, k1, kmin, T): the levels at lo and hi per channel, and T[c, j] = least acc in (lo, hi]
    reaching level kmin + j (rows only meaningful for k0 < kmin + j <= k1)."""
    mul, add = np.asarray(mul, np.int64), np.asarray(add, np.int64)
    lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    k0, k1 = apply(mul, add, shift, lo, top), apply(mul, add, shift, hi, top)
    kmin = int(k0.min(initial=0)) + 1
    kmax = max(int(k1.max(initial=0)), kmin - 1)
    k = np.arange(kmin, kmax + 1, dtype=np.int64)[None, :]
    live = (k > k0[:, None]) & (k <= k1[:, None]) & (mul[:, None] > 0)
    # k*2^s <= hi*M + B for every live k, so num = k*2^s - B <= hi*M: no int64 overflow
    num = np.where(live, (k << shift) - add[:, None], 0)
    m = np.maximum(mul, 1)[:, None]
    t = np.where(live, -((-num) // m), 0)
    return k0, k1, kmin, t


def _points(k0, k1, kmin, T, lo, hi, top):
    """The constraints as point sets, padded per channel: lower points (k, x) mean B >= k*2^s - x*M,
    upper points B <= k*2^s - x*M - 1. Returns (KL, XL, ML, KU, XU, MU) (ML/MU: live masks)."""
    C, n = T.shape
    k = np.broadcast_to(np.arange(kmin, kmin + n, dtype=np.int64)[None, :], (C, n))
    live = (k > k0[:, None]) & (k <= k1[:, None])
    KL = np.concatenate([k, k0[:, None]], axis=1)
    XL = np.concatenate([T, lo[:, None]], axis=1)
    ML = np.concatenate([live, (k0 > 0)[:, None]], axis=1)
    KU = np.concatenate([k, (k1 + 1)[:, None]], axis=1)
    XU = np.concatenate([T - 1, hi[:, None]], axis=1)
    MU = np.concatenate([live, (k1 < top)[:, None]], axis=1)
    return KL, XL, ML, KU, XU, MU


def _hull_reduce(P):
    """Keep per channel only the convex-hull vertices of each point set (a linear functional's max/min
    over a set is attained there); the result is re-checked against every point by the caller."""
    from scipy.spatial import ConvexHull, QhullError

    out = []
    for K, X, Mk in ((P[0], P[1], P[2]), (P[3], P[4], P[5])):
        keep = []
        for c in range(K.shape[0]):
            idx = np.flatnonzero(Mk[c])
            if len(idx) > 8:
                pts = np.stack([X[c, idx], K[c, idx]], axis=1).astype(np.float64)
                try:
                    idx = idx[ConvexHull(pts).vertices]
                except (QhullError, ValueError):
                    pass
            keep.append(idx)
        w = max(1, max(len(i) for i in keep))
        K2 = np.zeros((K.shape[0], w), np.int64)
        X2 = np.zeros((K.shape[0], w), np.int64)
        M2 = np.zeros((K.shape[0], w), bool)
        for c, idx in enumerate(keep):
            K2[c, : len(idx)], X2[c, : len(idx)], M2[c, : len(idx)] = K[c, idx], X[c, idx], True
        out += [K2, X2, M2]
    return tuple(out)


def _bounds(P, s, M):
    """(Lb, Ub): B must satisfy Lb <= B <= Ub for multiplier M (arrays over channels) at shift s."""
    KL, XL, ML, KU, XU, MU = P
    Mc = M[:, None]
    low = np.where(ML, (KL << s) - XL * Mc, -_BIG).max(axis=1, initial=-_BIG)
    up = np.where(MU, (KU << s) - XU * Mc - 1, _BIG).min(axis=1, initial=_BIG)
    return low, up


def _h(P, s, M):
    low, up = _bounds(P, s, M)
    return low - up


def _solve_at(P, s: int, mcap: int):
    """Smallest feasible M per channel at shift s (or -1), by bisection on the convex h(M) = Lb - Ub."""
    C = P[0].shape[0]
    a = np.zeros(C, np.int64)
    b = np.full(C, mcap, np.int64)
    while np.any(a < b):  # least M with h(M+1) - h(M) >= 0: a minimizer of h
        mid = (a + b) // 2
        up = _h(P, s, np.minimum(mid + 1, mcap)) - _h(P, s, mid) >= 0
        act = a < b
        a, b = np.where(act & ~up, mid + 1, a), np.where(act & up, mid, b)
    best = a
    ok = _h(P, s, best) <= 0
    a = np.zeros(C, np.int64)
    b = best.copy()
    while np.any(a < b):  # least M in [0, best] with h(M) <= 0 (h falls until best)
        mid = (a + b) // 2
        good = _h(P, s, mid) <= 0
        act = a < b
        a, b = np.where(act & ~good, mid + 1, a), np.where(act & good, mid, b)
    return np.where(ok, a, -1)


def _fit_points(P, smax: int, mcap: int):
    C = P[0].shape[0]
    step = max(1, _CHUNK // max(P[0].shape[1] + P[3].shape[1], 1))
    chunks = [slice(i, i + step) for i in range(0, C, step)]

    def part(sl):
        return tuple(a[sl] for a in P)

    def feasible(s):
        return all(np.all(_solve_at(part(sl), s, mcap) >= 0) for sl in chunks)

    # feasible shifts form an interval [s_min, s_cap] (a solution at s doubles to one at s + 1 until M
    # reaches mcap): find a feasible s in steps of 8 (then every s if the interval is narrower), then
    # bisect down to s_min
    b = next((s for s in range(0, smax + 1, 8) if feasible(s)), None)
    if b is None:
        b = next((s for s in range(smax + 1) if s % 8 and feasible(s)), None)
    if b is None:
        return None
    a = max(0, b - 7)
    while a < b:
        mid = (a + b) // 2
        if feasible(mid):
            b = mid
        else:
            a = mid + 1
    return np.concatenate([_solve_at(part(sl), a, mcap) for sl in chunks]), a


def fit(k0, k1, kmin, T, lo, hi, top: int):
    """Narrowest (M, B, s) reproducing the per-channel levels (k0 at lo, thresholds T, k1 at hi) on
    [lo, hi] exactly, one shift for all channels; None if none exists with every term below 2^61."""
    k0, k1 = np.asarray(k0, np.int64), np.asarray(k1, np.int64)
    lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    T = np.asarray(T, np.int64)
    if T.ndim != 2:
        T = T.reshape(len(k0), -1)
    C = len(k0)
    if C == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    tbits = max(ir._signed_bits(int(lo.min())), ir._signed_bits(int(hi.max())))
    kbits = int(top + 1).bit_length()
    smax = 59 - kbits
    mcap = (1 << max(59 - tbits, 0)) - 1
    if smax < 0 or mcap < 1:
        return None
    P = _points(k0, k1, kmin, T, lo, hi, top)
    got = _fit_points(_hull_reduce(P), smax, mcap) if T.shape[1] > 32 else None
    if got is not None:  # the hull is floating point: check against every point
        low, up = _bounds(P, got[1], got[0])
        if not np.all(low <= up):
            got = None
    if got is None:
        got = _fit_points(P, smax, mcap)
    if got is None:
        return None
    M, s = got
    low, up = _bounds(P, s, M)
    # a channel with no lower constraint (level 0 at lo) may take any B <= Ub: take min(Ub, 0)
    B = np.where(low <= -_BIG, np.minimum(up, 0), low)
    return M, B, s


def narrow(mul, add, shift: int, lo, hi, top: int):
    """The narrowest requantizer equal to (mul, add, shift) on every acc in [lo, hi] per channel,
    or (mul, add, shift) itself if no narrower one is found."""
    k0, k1, kmin, T = thresholds_of(mul, add, shift, lo, hi, top)
    got = fit(k0, k1, kmin, T, lo, hi, top)
    if got is None:
        return np.asarray(mul, np.int64), np.asarray(add, np.int64), int(shift)
    M, B, s = got
    if int(M.max(initial=0)).bit_length() > int(np.asarray(mul).max(initial=0)).bit_length():
        return np.asarray(mul, np.int64), np.asarray(add, np.int64), int(shift)
    return M, B, s


def operand_range(net: ir.QuantizedNetwork, layer: ir.Layer) -> tuple[int, int]:
    """[L, H]: saturating the accumulator into it leaves every channel's requantizer output unchanged.

    Per channel c with reachable [lo, hi]: the output is constant on [lo, next_c - 1] (next_c: the
    first acc above lo with a higher level) and on [last_c, hi] (last_c: the first acc with hi's
    level). With L = min_c min(next_c - 1, hi_c) and H = max_c max(last_c, lo_c): an acc < L lies
    with L in [lo_c, next_c - 1], an acc > H lies with H in [last_c, hi_c], so clamp(acc) and acc
    give the same output. (If every channel is constant, L > H may happen; then H lies in every
    [lo_c, hi_c] and L = H works.)
    """
    mul, add, shift = net.requant(layer)
    lo, hi = reachable(net, layer)
    top = (1 << layer.out_bits) - 1
    k0, k1, kmin, T = thresholds_of(mul, add, shift, lo, hi, top)
    rows = np.arange(len(k0))
    const = (k0 == k1) | (np.asarray(mul) == 0)
    j_next = np.clip(k0 + 1 - kmin, 0, max(T.shape[1] - 1, 0))
    j_last = np.clip(k1 - kmin, 0, max(T.shape[1] - 1, 0))
    nxt = np.where(const, hi + 1, T[rows, j_next] if T.size else hi + 1)
    last = np.where(const, lo, T[rows, j_last] if T.size else lo)
    L = int(np.minimum(nxt - 1, hi).min())
    H = int(np.maximum(last, lo).max())
    return min(L, H), H


def sum_bits(operand_bits: int, mul_bits: int, add_bits: int) -> int:
    """Signed width of ``operand*M + B`` (operand signed, M unsigned ``mul_bits``, B signed ``add_bits``):
    exact, the product fits operand_bits + mul_bits + 1 and the sum one bit more than the wider term."""
    return max(operand_bits + mul_bits + 1, add_bits) + 1
