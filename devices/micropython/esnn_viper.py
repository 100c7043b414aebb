# ruff: noqa: F821  (ptr8 / ptr16 / ptr32 are the viper emitter's own type names)
# @micropython.viper versions of the kernels in esnn_kernels.py (ATTN: its pooling and its apply pass; the
# scores stay in Python ints): same arguments and results, bit for bit.
#
# Written for 32-bit boards and checked on the 64-bit unix port (DESIGN.md 5b):
# * every intermediate stays inside int32 by construction (no 64-bit product: the LIF leak is split in
#   16/8-bit parts), no literal reaches 2**30;
# * ptr8/ptr16 loads are unsigned everywhere: weights and 16-bit states are sign-extended with
#   (v ^ 0x80) - 0x80 / (v ^ 0x8000) - 0x8000;
# * ptr32 loads are unsigned on a 64-bit build and signed on a 32-bit one: values compared or shifted are
#   sign-extended with (v ^ S) - S where S = prm[L_SIGN] holds -2**31 (2**31 when read on 64-bit, a no-op on
#   32-bit); accumulators are only added to and stored, which is exact modulo 2**32 either way;
# * spike words are scanned 16 bits at a time so that a set bit 31 never makes a negative word;
# * the LIF leak product is split so that it is exact for every int32 I and H whose U fits int32 (FORMAT.md
#   section 3), even where I - H does not fit int32 (checked against the int64 formula under 32-bit wrap).
import micropython


@micropython.viper
def conv_bias(acc: ptr32, prm: ptr32):
    o = prm[1]
    cout = prm[6]
    bo = prm[13]
    for _p in range(prm[9] * prm[10]):
        for co in range(cout):
            acc[o + co] = prm[bo + co]
        o += cout


@micropython.viper
def conv_spikes8(sp: ptr32, acc: ptr32, wts: ptr8, prm: ptr32):
    abase = uint(acc)
    wbase = uint(wts)
    nw = prm[3]
    h = prm[4]
    w = prm[5]
    cout = prm[6]
    kw_cout = prm[8] * cout
    khkwc = prm[7] * kw_cout
    wo = prm[10]
    rows = prm[11]
    cols = prm[12]
    rp = rows + h + 1
    cp = cols + w + 1
    ob = prm[1]
    p = prm[0]
    for iy in range(h):
        r0 = prm[rows + iy]
        r1 = prm[rows + iy + 1]
        for ix in range(w):
            c0 = prm[cols + ix]
            c1 = prm[cols + ix + 1]
            for k in range(nw):
                word = sp[p + k]
                if word == 0 or r0 == r1 or c0 == c1:
                    continue
                for half in range(2):
                    bits = (word >> (half << 4)) & 0xFFFF
                    ci = (k << 5) + (half << 4)
                    while bits:
                        if (bits & 0xF) == 0:  # skip a silent nibble
                            bits = bits >> 4
                            ci += 4
                            continue
                        if bits & 1:
                            wci = ci * khkwc
                            a = r0
                            while a < r1:
                                wy = wci + prm[rp + a] * kw_cout
                                oy = prm[rp + a + 1] * wo
                                b = c0
                                while b < c1:
                                    wp = ptr8(wbase + (wy + prm[cp + b] * cout))
                                    ap = ptr32(abase + ((ob + (oy + prm[cp + b + 1]) * cout) << 2))
                                    for co in range(cout):
                                        ap[co] = ap[co] + ((wp[co] ^ 0x80) - 0x80)
                                    b += 2
                                a += 2
                        bits = bits >> 1
                        ci += 1
            p += nw


@micropython.viper
def conv_spikes16(sp: ptr32, acc: ptr32, wts: ptr16, prm: ptr32):
    abase = uint(acc)
    wbase = uint(wts)
    nw = prm[3]
    h = prm[4]
    w = prm[5]
    cout = prm[6]
    kw_cout = prm[8] * cout
    khkwc = prm[7] * kw_cout
    wo = prm[10]
    rows = prm[11]
    cols = prm[12]
    rp = rows + h + 1
    cp = cols + w + 1
    ob = prm[1]
    p = prm[0]
    for iy in range(h):
        r0 = prm[rows + iy]
        r1 = prm[rows + iy + 1]
        for ix in range(w):
            c0 = prm[cols + ix]
            c1 = prm[cols + ix + 1]
            for k in range(nw):
                word = sp[p + k]
                if word == 0 or r0 == r1 or c0 == c1:
                    continue
                for half in range(2):
                    bits = (word >> (half << 4)) & 0xFFFF
                    ci = (k << 5) + (half << 4)
                    while bits:
                        if (bits & 0xF) == 0:  # skip a silent nibble
                            bits = bits >> 4
                            ci += 4
                            continue
                        if bits & 1:
                            wci = ci * khkwc
                            a = r0
                            while a < r1:
                                wy = wci + prm[rp + a] * kw_cout
                                oy = prm[rp + a + 1] * wo
                                b = c0
                                while b < c1:
                                    wp = ptr16(wbase + ((wy + prm[cp + b] * cout) << 1))
                                    ap = ptr32(abase + ((ob + (oy + prm[cp + b + 1]) * cout) << 2))
                                    for co in range(cout):
                                        ap[co] = ap[co] + ((wp[co] ^ 0x8000) - 0x8000)
                                    b += 2
                                a += 2
                        bits = bits >> 1
                        ci += 1
            p += nw


@micropython.viper
def conv_u8_8(inp: ptr8, acc: ptr32, wts: ptr8, prm: ptr32):
    h = prm[4]
    w = prm[5]
    cout = prm[6]
    kw_cout = prm[8] * cout
    khkwc = prm[7] * kw_cout
    wo = prm[10]
    rows = prm[11]
    cols = prm[12]
    rp = rows + h + 1
    cp = cols + w + 1
    ob = prm[1]
    i = prm[0]
    for ci in range(prm[2]):
        wci = ci * khkwc
        for iy in range(h):
            r0 = prm[rows + iy]
            r1 = prm[rows + iy + 1]
            for ix in range(w):
                v = int(inp[i])
                i += 1
                if v == 0:
                    continue
                c0 = prm[cols + ix]
                c1 = prm[cols + ix + 1]
                a = r0
                while a < r1:
                    wy = wci + prm[rp + a] * kw_cout
                    oy = prm[rp + a + 1] * wo
                    b = c0
                    while b < c1:
                        wb = wy + prm[cp + b] * cout
                        o = ob + (oy + prm[cp + b + 1]) * cout
                        for co in range(cout):
                            acc[o + co] = acc[o + co] + v * ((wts[wb + co] ^ 0x80) - 0x80)
                        b += 2
                    a += 2


@micropython.viper
def conv_u8_16(inp: ptr8, acc: ptr32, wts: ptr16, prm: ptr32):
    h = prm[4]
    w = prm[5]
    cout = prm[6]
    kw_cout = prm[8] * cout
    khkwc = prm[7] * kw_cout
    wo = prm[10]
    rows = prm[11]
    cols = prm[12]
    rp = rows + h + 1
    cp = cols + w + 1
    ob = prm[1]
    i = prm[0]
    for ci in range(prm[2]):
        wci = ci * khkwc
        for iy in range(h):
            r0 = prm[rows + iy]
            r1 = prm[rows + iy + 1]
            for ix in range(w):
                v = int(inp[i])
                i += 1
                if v == 0:
                    continue
                c0 = prm[cols + ix]
                c1 = prm[cols + ix + 1]
                a = r0
                while a < r1:
                    wy = wci + prm[rp + a] * kw_cout
                    oy = prm[rp + a + 1] * wo
                    b = c0
                    while b < c1:
                        wb = wy + prm[cp + b] * cout
                        o = ob + (oy + prm[cp + b + 1]) * cout
                        for co in range(cout):
                            acc[o + co] = acc[o + co] + v * ((wts[wb + co] ^ 0x8000) - 0x8000)
                        b += 2
                    a += 2


@micropython.viper
def lif32(cur: ptr32, state: ptr32, spk: ptr32, prm: ptr32) -> int:
    c = prm[2]
    nw = prm[4]
    leak = prm[5]
    sgn = prm[6]
    thr = prm[8]
    ib = prm[0]
    o = prm[1]
    i = 0
    n = 0
    for _p in range(prm[3]):
        ch = 0
        for k in range(nw):
            word = 0
            bit = 1
            top = ch + 32
            if top > c:
                top = c
            while ch < top:
                hh = (state[i] ^ sgn) - sgn
                x = (cur[ib + i] ^ sgn) - sgn
                # U = H + ((x - H) * leak) >> 16 with x - H = hi * 2^16 + lo, 0 <= lo < 2^16: the high part
                # only multiplies and adds (exact modulo 2^32, and U fits int32), the low part is shifted
                # exactly in 8-bit pieces. No 64-bit product, no shift of a wrapped value.
                hi = (x >> 16) - (hh >> 16)
                lo = (x & 0xFFFF) - (hh & 0xFFFF)
                if lo < 0:
                    lo += 65536
                    hi -= 1
                u = hh + hi * leak + (((lo >> 8) * leak + (((lo & 0xFF) * leak) >> 8)) >> 8)
                if u >= prm[thr + ch]:
                    word |= bit
                    state[i] = 0
                    n += 1
                else:
                    state[i] = u
                i += 1
                ch += 1
                bit = bit << 1
            spk[o + k] = word
        o += nw
    return n


@micropython.viper
def lif16(cur: ptr32, state: ptr16, spk: ptr32, prm: ptr32) -> int:
    c = prm[2]
    nw = prm[4]
    leak = prm[5]
    sgn = prm[6]
    thr = prm[8]
    ib = prm[0]
    o = prm[1]
    i = 0
    n = 0
    for _p in range(prm[3]):
        ch = 0
        for k in range(nw):
            word = 0
            bit = 1
            top = ch + 32
            if top > c:
                top = c
            while ch < top:
                hh = (state[i] ^ 0x8000) - 0x8000
                x = (cur[ib + i] ^ sgn) - sgn
                hi = (x >> 16) - (hh >> 16)  # as in lif32
                lo = (x & 0xFFFF) - (hh & 0xFFFF)
                if lo < 0:
                    lo += 65536
                    hi -= 1
                u = hh + hi * leak + (((lo >> 8) * leak + (((lo & 0xFF) * leak) >> 8)) >> 8)
                if u >= prm[thr + ch]:
                    word |= bit
                    state[i] = 0
                    n += 1
                else:
                    if u < -32768:
                        u = -32768
                    elif u > 32767:
                        u = 32767
                    state[i] = u
                i += 1
                ch += 1
                bit = bit << 1
            spk[o + k] = word
        o += nw
    return n


@micropython.viper
def readout8(sp: ptr32, acc: ptr32, wts: ptr8, prm: ptr32):
    p = prm[0]
    nw = prm[2]
    classes = prm[3]
    for _q in range(prm[1]):
        for k in range(nw):
            word = sp[p + k]
            if word == 0:
                continue
            for half in range(2):
                bits = (word >> (half << 4)) & 0xFFFF
                c = (k << 5) + (half << 4)
                while bits:
                    if bits & 1:
                        wb = c * classes
                        for j in range(classes):
                            acc[j] = acc[j] + ((wts[wb + j] ^ 0x80) - 0x80)
                    bits = bits >> 1
                    c += 1
        p += nw


@micropython.viper
def readout16(sp: ptr32, acc: ptr32, wts: ptr16, prm: ptr32):
    p = prm[0]
    nw = prm[2]
    classes = prm[3]
    for _q in range(prm[1]):
        for k in range(nw):
            word = sp[p + k]
            if word == 0:
                continue
            for half in range(2):
                bits = (word >> (half << 4)) & 0xFFFF
                c = (k << 5) + (half << 4)
                while bits:
                    if bits & 1:
                        wb = c * classes
                        for j in range(classes):
                            acc[j] = acc[j] + ((wts[wb + j] ^ 0x8000) - 0x8000)
                    bits = bits >> 1
                    c += 1
        p += nw


@micropython.viper
def maxpool(src: ptr32, dst: ptr32, prm: ptr32):
    ib = prm[0]
    o = prm[1]
    nw = prm[2]
    h = prm[3]
    w = prm[4]
    k = prm[7]
    s = prm[8]
    pad = prm[9]
    for oy in range(prm[5]):
        y0 = oy * s - pad
        for ox in range(prm[6]):
            x0 = ox * s - pad
            for j in range(nw):
                word = 0
                for ky in range(k):
                    y = y0 + ky
                    if y >= 0 and y < h:
                        for kx in range(k):
                            x = x0 + kx
                            if x >= 0 and x < w:
                                word = word | src[ib + (y * w + x) * nw + j]
                dst[o + j] = word
            o += nw


@micropython.viper
def logic(a: ptr32, b: ptr32, dst: ptr32, prm: ptr32):
    ab = prm[0]
    bb = prm[1]
    ob = prm[2]
    n = prm[3]
    mode = prm[4]
    if mode == 0:
        for i in range(n):
            dst[ob + i] = a[ab + i] | b[bb + i]
    elif mode == 1:
        for i in range(n):
            dst[ob + i] = a[ab + i] & b[bb + i]
    else:  # IAND: (~a) & b
        for i in range(n):
            dst[ob + i] = (a[ab + i] ^ -1) & b[bb + i]


@micropython.viper
def zero(buf: ptr8, nbytes: int):
    for i in range(nbytes):
        buf[i] = 0


@micropython.viper
def attn_pool_rows(x: ptr32, acc: ptr32, prm: ptr32):
    # ATTN pooling over the (t, pixel) rows [prm[0], prm[1]) (esnn_kernels.attn_pool_chunked): per score group
    # g, acc[3 g] += x >> 16 and acc[3 g + 1] += x & 0xFFFF with the carry folded at 2^16 (both stay inside
    # int32 for up to 2^15 elements: the caller folds them into Python ints), acc[3 g + 2] = max.
    c = prm[2]
    npix = prm[3]
    dim = prm[4]
    sgn = prm[5]
    t = prm[6]
    p = prm[7]
    i = prm[0] * c
    for _q in range(prm[1] - prm[0]):
        for ch in range(c):
            v = (x[i] ^ sgn) - sgn
            i += 1
            g = t
            if dim == 1:
                g = ch
            elif dim == 2:
                g = p
            g = g * 3
            lo = acc[g + 1] + (v & 0xFFFF)
            acc[g] = acc[g] + (v >> 16) + (lo >> 16)
            acc[g + 1] = lo & 0xFFFF
            if v > (acc[g + 2] ^ sgn) - sgn:
                acc[g + 2] = v
        p += 1
        if p == npix:
            p = 0
            t += 1


@micropython.viper
def attn_apply(x: ptr32, out: ptr32, gain: ptr32, prm: ptr32):
    # out = max(0, (m * x) >> 15), m = gain[g] in 0..65535, without a 64-bit product: 0 when x <= 0, else
    # x = xh * 2^16 + xl and (m * x) >> 15 = 2 m xh + (m xl) >> 15, the last from 8-bit pieces of xl
    # (the sum wraps modulo 2^32 on a board but the output fits int32: FORMAT.md section 3).
    c = prm[2]
    npix = prm[3]
    dim = prm[4]
    sgn = prm[5]
    t = prm[6]
    p = prm[7]
    i = prm[0] * c
    for _q in range(prm[1] - prm[0]):
        for ch in range(c):
            v = (x[i] ^ sgn) - sgn
            if v <= 0:
                out[i] = 0
            else:
                g = t
                if dim == 1:
                    g = ch
                elif dim == 2:
                    g = p
                m = gain[g]
                xl = v & 0xFFFF
                out[i] = 2 * m * (v >> 16) + ((m * (xl >> 8) + ((m * (xl & 0xFF)) >> 8)) >> 7)
            i += 1
        p += 1
        if p == npix:
            p = 0
            t += 1
