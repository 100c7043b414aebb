# The op kernels of export/FORMAT.md in plain MicroPython (the readable, portable versions; the
# @micropython.viper ones in esnn_viper.py are drop-ins with the same signatures and results).
#
# Memory layout (this runtime's own, FORMAT.md leaves it to the runtime):
#   u8 input   bytes, [C][H][W] per frame, as input.bin
#   CURRENT    array('i'), channels last: [H][W][C] per step
#   SPIKES     array('I'), channels last and bit-packed: NW = ceil(C / 32) words per pixel, channel c is
#              bit c % 32 of word c // 32; unused high bits of the last word stay 0
#   LIF state  array('i') (32-bit) or array('h') (16-bit), [H][W][C]
# Each kernel gets its parameters in one array('i') `prm` (viper functions take at most 4 arguments);
# prm[0] and prm[1] are the per-step base offsets the model writes before each call, the rest is fixed
# at init (index constants below, tables appended after them).

# CONV prm
C_IN = 0  # input base: byte index (u8) or word index (spikes) of this step's frame
C_OUT = 1  # output base (element index into the CURRENT array)
C_CIN = 2
C_NW = 3
C_H = 4
C_W = 5
C_COUT = 6
C_KH = 7
C_KW = 8
C_HO = 9
C_WO = 10
C_ROWS = 11  # prm index of the row tap table: H + 1 starts, then (ky, oy) pairs
C_COLS = 12  # prm index of the column tap table: W + 1 starts, then (kx, ox) pairs
C_BIAS = 13  # prm index of the COUT biases
C_FIXED = 14

# LIF prm
L_IN = 0  # CURRENT base
L_OUT = 1  # spike word base
L_C = 2
L_NPIX = 3
L_NW = 4
L_LEAK = 5
L_SIGN = 6  # -2**31 (viper: sign-extends a ptr32 read on a 64-bit build, a no-op on 32-bit)
L_S16 = 7  # 1: 16-bit state (array('h'), clamped), 0: 32-bit (array('i'))
L_THR = 8  # prm index of the C thresholds
L_FIXED = 9

# MAXPOOL prm
M_IN = 0
M_OUT = 1
M_NW = 2
M_H = 3
M_W = 4
M_HO = 5
M_WO = 6
M_K = 7
M_STRIDE = 8
M_PAD = 9

# LOGIC prm: a base, b base, out base, words, mode
# READOUT prm: spike base, pixels, words per pixel, classes


def tap_table(size, k, stride, pad, osize):
    """For every input position i: the (tap, output position) pairs it feeds. Returns (starts, pairs) with
    starts[i]..starts[i+1] indexing pairs (flattened)."""
    starts = [0]
    pairs = []
    for i in range(size):
        for t in range(k):
            num = i + pad - t
            if num >= 0 and num % stride == 0 and num // stride < osize:
                pairs.append(t)
                pairs.append(num // stride)
        starts.append(len(pairs))
    return starts, pairs


def conv_bias(acc, prm):
    """Fill this step's output with the biases."""
    ob = prm[C_OUT]
    cout = prm[C_COUT]
    bo = prm[C_BIAS]
    for p in range(prm[C_HO] * prm[C_WO]):
        base = ob + p * cout
        for co in range(cout):
            acc[base + co] = prm[bo + co]


def _scatter(acc, wts, prm, ci, iy, ix, v):
    # acc[oy, ox, :] += v * w[ci, ky, kx, :] for every tap (ky, kx) that input pixel (iy, ix) feeds.
    cout = prm[C_COUT]
    kw_cout = prm[C_KW] * cout
    wo = prm[C_WO]
    ob = prm[C_OUT]
    rows = prm[C_ROWS]
    cols = prm[C_COLS]
    h = prm[C_H]
    w = prm[C_W]
    r0 = prm[rows + iy]
    r1 = prm[rows + iy + 1]
    c0 = prm[cols + ix]
    c1 = prm[cols + ix + 1]
    wci = ci * prm[C_KH] * kw_cout
    a = r0
    while a < r1:
        ky = prm[rows + h + 1 + a]
        oy = prm[rows + h + 2 + a]
        b = c0
        while b < c1:
            kx = prm[cols + w + 1 + b]
            ox = prm[cols + w + 2 + b]
            wb = wci + ky * kw_cout + kx * cout
            o = ob + (oy * wo + ox) * cout
            if v == 1:
                for co in range(cout):
                    acc[o + co] += wts[wb + co]
            else:
                for co in range(cout):
                    acc[o + co] += v * wts[wb + co]
            b += 2
        a += 2


def conv_spikes(sp, acc, wts, prm):
    """Accumulate-only spike conv: for every set bit, add the weight rows of its taps (event driven).
    The output must hold the biases (conv_bias) before the call."""
    nw = prm[C_NW]
    h = prm[C_H]
    w = prm[C_W]
    sb = prm[C_IN]
    for iy in range(h):
        for ix in range(w):
            p = sb + (iy * w + ix) * nw
            for k in range(nw):
                word = sp[p + k]
                ci = k * 32
                while word:
                    if word & 1:
                        _scatter(acc, wts, prm, ci, iy, ix, 1)
                    word >>= 1
                    ci += 1


def conv_u8(inp, acc, wts, prm):
    """Dense u8 conv, scattered from each non-zero input value. Output pre-filled with biases."""
    h = prm[C_H]
    w = prm[C_W]
    ib = prm[C_IN]
    for ci in range(prm[C_CIN]):
        for iy in range(h):
            row = ib + (ci * h + iy) * w
            for ix in range(w):
                v = inp[row + ix]
                if v:
                    _scatter(acc, wts, prm, ci, iy, ix, v)


def lif(cur, state, spk, prm):
    """One LIF step over all neurons; writes the packed spikes, returns the number of spikes.
    state is array('h') for 16-bit states (prm[L_S16] = 1, clamped here) or array('i')."""
    c = prm[L_C]
    nw = prm[L_NW]
    leak = prm[L_LEAK]
    thr = prm[L_THR]
    sixteen = prm[L_S16]
    ib = prm[L_IN]
    ob = prm[L_OUT]
    i = 0
    n = 0
    for p in range(prm[L_NPIX]):
        for k in range(nw):
            word = 0
            ch = k * 32
            top = min(c, ch + 32)
            bit = 1
            while ch < top:
                h = state[i]
                u = h + (((cur[ib + i] - h) * leak) >> 16)
                if u >= prm[thr + ch]:
                    word |= bit
                    state[i] = 0
                    n += 1
                elif sixteen:
                    state[i] = -32768 if u < -32768 else 32767 if u > 32767 else u
                else:
                    state[i] = u
                i += 1
                ch += 1
                bit <<= 1
            spk[ob + p * nw + k] = word
    return n


def maxpool(src, dst, prm):
    """OR of the packed words over each window (outside the frame counts as 0)."""
    nw = prm[M_NW]
    h = prm[M_H]
    w = prm[M_W]
    k = prm[M_K]
    s = prm[M_STRIDE]
    pad = prm[M_PAD]
    ib = prm[M_IN]
    o = prm[M_OUT]
    for oy in range(prm[M_HO]):
        for ox in range(prm[M_WO]):
            for j in range(nw):
                word = 0
                for ky in range(k):
                    y = oy * s + ky - pad
                    if 0 <= y < h:
                        for kx in range(k):
                            x = ox * s + kx - pad
                            if 0 <= x < w:
                                word |= src[ib + (y * w + x) * nw + j]
                dst[o + j] = word
            o += nw


def logic(a, b, dst, prm):
    """OR, AND or IAND ((~a) & b) word by word."""
    ab = prm[0]
    bb = prm[1]
    ob = prm[2]
    mode = prm[4]
    for i in range(prm[3]):
        x = a[ab + i]
        y = b[bb + i]
        if mode == 0:
            dst[ob + i] = x | y
        elif mode == 1:
            dst[ob + i] = x & y
        else:
            dst[ob + i] = y & ~x


def readout(sp, acc, wts, prm):
    """acc[k] += w[c][k] for every spike of channel c (acc: array('i') of the classes)."""
    sb = prm[0]
    nw = prm[2]
    classes = prm[3]
    for p in range(prm[1]):
        for k in range(nw):
            word = sp[sb + p * nw + k]
            c = k * 32
            while word:
                if word & 1:
                    wb = c * classes
                    for j in range(classes):
                        acc[j] += wts[wb + j]
                word >>= 1
                c += 1


# ---- ATTN (plain only: it runs once per sample over all T steps; Python ints give the exact int64 math)


def _bottleneck(op, v):
    # z(v)[i] = sum_j w2[i][j] * max(0, (sum_k w1[j][k] * v[k]) >> shift)
    n = op.n
    hid = op.hidden
    w1 = op.w1
    w2 = op.w2
    hidden = []
    for j in range(hid):
        s = 0
        for k in range(n):
            s += w1[j * n + k] * v[k]
        s >>= op.shift
        hidden.append(s if s > 0 else 0)
    z = []
    for i in range(n):
        s = 0
        for j in range(hid):
            s += w2[i * hid + j] * hidden[j]
        z.append(s)
    return z


def _group(dim, t, p, ch):
    return t if dim == 0 else ch if dim == 1 else p


def attn_pool(op, x, T, c, h, w):
    """Per score group (T: each step, C: each channel, S: each pixel) the exact sum and the max of x
    (array('i') [T][H][W][C]), as Python ints."""
    npix = h * w
    groups = T if op.dim == 0 else c if op.dim == 1 else npix
    sums = [0] * groups
    maxs = [None] * groups
    i = 0
    for t in range(T):
        for p in range(npix):
            for ch in range(c):
                g = _group(op.dim, t, p, ch)
                v = x[i]
                sums[g] += v
                if maxs[g] is None or v > maxs[g]:
                    maxs[g] = v
                i += 1
    return sums, maxs


# attn_pool_chunked / attn_apply prm: 0 first (t, pixel) row, 1 end row, 2 C, 3 pixels, 4 dim, 5 -2**31,
# 6 and 7: t and pixel of the first row.
POOL_ROWS = 32768  # elements per pool-kernel call at most: its 16-bit partial sums stay inside int32


def _rows(prm, q0, q1, npix):
    prm[0] = q0
    prm[1] = q1
    prm[6] = q0 // npix
    prm[7] = q0 % npix


def attn_pool_chunked(op, x, T, c, h, w, kernel, acc, prm):
    """attn_pool through `kernel` (esnn_viper.attn_pool_rows: for the (t, pixel) rows [prm[0], prm[1]) it
    adds each element's x >> 16 to acc[3 g], its x & 0xFFFF to acc[3 g + 1] (carried into acc[3 g] at 2^16)
    and keeps the max in acc[3 g + 2]) in chunks of at most POOL_ROWS elements, folding the partial sums
    into exact Python ints after each chunk."""
    npix = h * w
    groups = len(acc) // 3
    sums = [0] * groups
    maxs = [None] * groups
    rows = T * npix
    per = max(1, POOL_ROWS // c)
    q = 0
    while q < rows:
        for g in range(groups):
            acc[3 * g] = 0
            acc[3 * g + 1] = 0
            acc[3 * g + 2] = -(1 << 31)
        _rows(prm, q, min(rows, q + per), npix)
        kernel(x, acc, prm)
        for g in range(groups):
            sums[g] += acc[3 * g] * 65536 + acc[3 * g + 1]
            m = acc[3 * g + 2]
            if maxs[g] is None or m > maxs[g]:
                maxs[g] = m
        q = prm[1]
    return sums, maxs


def attn_scores(op, sums, maxs, T, c, h, w):
    """The scores of FORMAT.md's ATTN from the pooled sums and maxes."""
    npix = h * w
    if op.dim == 2:  # S: a k x k conv of [sum; max] with zero padding
        k = op.n
        r = k // 2
        nn = T * c
        w1 = op.w1
        scores = []
        for y in range(h):
            for xx in range(w):
                s = 0
                for ky in range(k):
                    yy = y + ky - r
                    if 0 <= yy < h:
                        for kx in range(k):
                            x2 = xx + kx - r
                            if 0 <= x2 < w:
                                q = yy * w + x2
                                s += w1[ky * k + kx] * sums[q] + nn * w1[k * k + ky * k + kx] * maxs[q]
                scores.append(s)
        return scores
    count = npix * c if op.dim == 0 else T * npix
    zs = _bottleneck(op, sums)
    zm = _bottleneck(op, maxs)
    return [zs[i] + count * zm[i] for i in range(len(zs))]


def attn_gains(op, scores, gain):
    """gain[g] = the Q15 level of score g (MA), or 32768 / 0 for an open / closed gate (IA)."""
    table = op.table
    for g in range(len(scores)):
        s = scores[g]
        if op.kind == 0:
            lo = 0
            hi = len(table)
            while lo < hi:  # number of breakpoints b with s >= b (bisect right)
                mid = (lo + hi) >> 1
                if s >= table[mid]:
                    lo = mid + 1
                else:
                    hi = mid
            gain[g] = op.levels[lo]
        else:
            gain[g] = 32768 if s >= table[0 if op.dim == 2 else g] else 0


def attn_apply(x, out, gain, prm):
    """out = max(0, (m * x) >> 15) with m = gain[group] (IA gains 32768 / 0 give max(0, x) / 0)."""
    c = prm[2]
    npix = prm[3]
    dim = prm[4]
    for q in range(prm[0], prm[1]):
        t = q // npix
        p = q - t * npix
        for ch in range(c):
            i = q * c + ch
            v = (gain[_group(dim, t, p, ch)] * x[i]) >> 15
            out[i] = v if v > 0 else 0


def attn(op, x, out, T, c, h, w, gain, prm, pool=None, acc=None, apply=attn_apply):
    """ATTN over the whole sequence x -> out (array('i') [T][H][W][C]). `gain` (array('i'), one per score
    group) and `prm` are preallocated; `pool` (with its `acc`) pools in chunks (viper), else Python loops."""
    if pool is None:
        sums, maxs = attn_pool(op, x, T, c, h, w)
    else:
        sums, maxs = attn_pool_chunked(op, x, T, c, h, w, pool, acc, prm)
    attn_gains(op, attn_scores(op, sums, maxs, T, c, h, w), gain)
    _rows(prm, 0, T * h * w, h * w)
    apply(x, out, gain, prm)
