# ruff: noqa: UP031  (%-formatting: every MicroPython port has it, f-strings are optional)
# The graph interpreter: a validated .esnn model with every buffer allocated at init.
#
#   m = Model(blob)                 # parse + validate + allocate (viper kernels when available)
#   logits, predicted, counts, states = m.run(frames)   # one sample: T frames (or 1 with STATIC_INPUT)
#   m.reset(); m.step(frame) ...    # time-major streaming, causal graphs only (no LAYER_MAJOR flag)
#
# Model() picks the kernels: the C runtime as the dynamic native module `esnn_native` (native/, one .mpy per
# architecture) when it imports, else viper, else plain Python; all three give the same results. A native
# model keeps the final LIF states only with final_state=True (the C runtime's ESNN_OPT_FINAL_STATE: more
# arena); without it run() returns None for them, as run(states=False) does.
#
# Causal graphs run time-major (every op for step 1, then step 2, ...) with one step per buffer.
# LAYER_MAJOR graphs (ATTN) run in segments: the ops between two ATTN ops time-major, each ATTN once over
# all T steps of its input; only the buffers that cross a segment boundary hold all T steps (FORMAT.md:
# layer-major "at least around each ATTN op"). A STATIC conv is computed once per sample. Nothing is
# allocated per step (ATTN, once per sample, builds small score lists).
from array import array

import esnn_blob as B
import esnn_kernels as K

RUNTIME_VERSION = "0.1.0"
FORMATS = ((1, 0),)

try:
    import esnn_viper as V
except Exception:  # no viper emitter on this port (or CPython): plain kernels only
    V = None

try:
    import esnn_native as N
except ImportError:  # no esnn_native.mpy for this architecture on the path
    N = None


def Model(blob, viper=True, native=True, final_state=True):
    """The model on the fastest kernels here: NativeModel (C runtime) when `native` and esnn_native
    imports, else PyModel (viper when `viper` and the emitter exists, else plain)."""
    if native and N is not None:
        return NativeModel(blob, final_state)
    return PyModel(blob, viper)


def _zeros(code, n):
    return array(code, bytes(n * (1 if code in "bB" else 2 if code in "hH" else 4)))


class _Step:
    # One op with its kernel, parameter array and buffers, prepared at init.
    pass


class NativeModel:
    """The C runtime (esnn_native): the blob is validated by the C loader (BlobError, a ValueError, with its
    status and field) and read in place; the arena is one bytearray; a run allocates only the result lists."""

    viper = False
    kernels = "native"

    def __init__(self, blob, final_state=True):
        try:
            self.native = N.Model(blob, N.OPT_FINAL_STATE if final_state else 0)
        except ValueError as exc:
            raise B.BlobError(str(exc)) from exc
        self.data = blob  # the C context reads it in place: keep it alive and unchanged
        info = self.native.info()
        self.T, self.num_classes, n, self.frame_size, self.frames, flags, self.arena_bytes = info
        self.layer_major = bool(flags & 1)
        self.keep_states = bool(final_state)
        self.num_lif = n
        self.logits = _zeros("i", self.num_classes)
        self.counts = _zeros("I", n)
        self.predicted = 0
        self.t = 0

    def reset(self):
        self.native.reset()
        self.t = 0

    def step(self, frame):
        """One time step of a causal graph: `frame` is one u8 [C][H][W] frame (bytes-like)."""
        if self.layer_major:
            raise ValueError("step: this graph is LAYER_MAJOR (ATTN): use run(sequence)")
        if self.t >= self.T:
            raise ValueError("step: all %d steps done; reset() first" % self.T)
        if len(frame) != self.frame_size:
            raise ValueError("step: frame of %d bytes, expected %d" % (len(frame), self.frame_size))
        self.native.step(frame)
        self.t += 1

    def run(self, seq, states=True):
        """One sample (as PyModel.run); final_states None with states=False or without final_state."""
        n = len(seq)
        if n != self.frames * self.frame_size and n != self.T * self.frame_size:
            raise ValueError(
                "input: %d bytes, expected %d frame(s) of %d" % (n, self.frames, self.frame_size)
            )
        if n != self.frames * self.frame_size:  # T frames of a STATIC_INPUT model: the first is the input
            seq = memoryview(seq)[: self.frame_size]
        self.predicted = self.native.run(seq, self.logits, self.counts)
        self.t = self.T
        return self._out(states)

    def results(self, states=True):
        """(logits, predicted, spike_counts, final_states or None) of the sample so far."""
        self.predicted = self.native.results(self.logits, self.counts)
        return self._out(states)

    def _out(self, states):
        final = None
        if states and self.keep_states:
            final = [self.final_state(i) for i in range(len(self.counts))]
        return list(self.logits), self.predicted, list(self.counts), final

    def final_state(self, i):
        """The i-th LIF op's state H as array('i') in [C][H][W] order (needs final_state=True)."""
        out = _zeros("i", self.native.state_size(i))
        self.native.final_state(i, out)
        return out


class PyModel:
    def __init__(self, blob, viper=True):
        m = B.parse(blob)
        self.blob = m
        self.T = m.T
        self.num_classes = m.num_classes
        self.viper = bool(viper and V is not None)
        self.kernels = "viper" if self.viper else "plain"
        self.layer_major = m.layer_major
        bufs = m.buffers
        self.frame_size = bufs[0].size
        self.frames = 1 if m.static_input else m.T
        # Segments: the runs of ops between ATTN ops execute time-major; an ATTN op runs once over all T.
        # A buffer holds all T steps only when a later segment reads it (an ATTN's input, its output, a
        # shortcut around it); every other buffer holds one step. A STATIC conv's output holds one step
        # (it is computed once per sample) unless an ATTN reads it directly.
        seg = []
        k = 0
        for op in m.ops:
            if op.opcode == B.ATTN:
                k += 1
                seg.append(k)
                k += 1
            else:
                seg.append(k)
        made = {}
        read = {}
        for i in range(len(m.ops)):
            op = m.ops[i]
            if op.opcode != B.READOUT:
                made[op.out] = seg[i]
            for b in (op.in0, op.in1) if op.opcode == B.LOGIC else (op.in0,):
                read.setdefault(b, []).append((seg[i], op.opcode))
        once = set(op.out for op in m.ops if op.opcode == B.CONV and op.static)
        self.slots = [1] * len(bufs)
        self.store = [None] * len(bufs)
        for i in range(1, len(bufs)):
            b = bufs[i]
            full = False
            for sg, code in read.get(i, ()):
                if sg != made[i] and (i not in once or code == B.ATTN):
                    full = True
            n = m.T if full else 1
            self.slots[i] = n
            if b.kind == B.SPIKES:
                self.store[i] = _zeros("I", n * b.h * b.w * b.nw)
            else:
                self.store[i] = _zeros("i", n * b.size)
        self.steps = []
        self.lifs = []
        for op in m.ops:
            s = _Step()
            s.op = op
            s.code = op.opcode
            s.once = False
            getattr(self, "_prep_" + B.OP_NAMES[op.opcode].lower())(s, op, bufs)
            self.steps.append(s)
        self.segments = []  # (ATTN step or None, steps run time-major)
        for i in range(len(self.steps)):
            if self.steps[i].code == B.ATTN:
                self.segments.append((self.steps[i], None))
            elif i == 0 or seg[i] != seg[i - 1]:
                self.segments.append((None, [self.steps[i]]))
            else:
                self.segments[-1][1].append(self.steps[i])
        self.counts = [0] * len(self.lifs)
        self.num_lif = len(self.lifs)
        self._x = None
        self.reset()

    # ---- preparation (init only)

    def _prep_conv(self, s, op, bufs):
        src = bufs[op.in0]
        dst = bufs[op.out]
        rs, rp = K.tap_table(src.h, op.kh, op.stride, op.pad, dst.h)
        cs, cp = K.tap_table(src.w, op.kw, op.stride, op.pad, dst.w)
        fixed = [0, 0, op.cin, src.nw, src.h, src.w, op.cout, op.kh, op.kw, dst.h, dst.w, 0, 0, 0]
        fixed[K.C_ROWS] = len(fixed)
        fixed += rs + rp
        fixed[K.C_COLS] = len(fixed)
        fixed += cs + cp
        fixed[K.C_BIAS] = len(fixed)
        fixed += list(op.bias)
        s.prm = array("i", fixed)
        s.once = op.static and self.slots[op.out] == 1
        s.size = dst.size
        s.weights = op.weights
        spikes = op.in0 != 0
        w16 = op.weight_bits == 16
        if self.viper:
            if spikes:
                s.fn = V.conv_spikes16 if w16 else V.conv_spikes8
            else:
                s.fn = V.conv_u8_16 if w16 else V.conv_u8_8
            s.bias = V.conv_bias
        else:
            s.fn = K.conv_spikes if spikes else K.conv_u8
            s.bias = K.conv_bias
        s.in_step = src.h * src.w * src.nw if spikes else src.size

    def _prep_lif(self, s, op, bufs):
        b = bufs[op.out]
        npix = b.h * b.w
        s16 = 1 if op.state_bits == 16 else 0
        fixed = [0, 0, op.channels, npix, b.nw, op.leak_mul, -(1 << 31), s16, K.L_FIXED]
        s.prm = array("i", fixed + list(op.thresholds))
        s.state = _zeros("h" if op.state_bits == 16 else "i", b.size)
        s.state_bytes = op.state_bits // 8
        s.lif = len(self.lifs)
        s.in_step = b.size
        s.out_step = npix * b.nw
        s.shape = (b.c, b.h, b.w)
        if self.viper:
            s.fn = V.lif16 if op.state_bits == 16 else V.lif32
        else:
            s.fn = K.lif
        self.lifs.append(s)

    def _prep_attn(self, s, op, bufs):
        b = bufs[op.in0]
        s.shape = (b.c, b.h, b.w)
        npix = b.h * b.w
        groups = self.T if op.dim == B.DIM_T else b.c if op.dim == B.DIM_C else npix
        s.gain = _zeros("i", groups)
        s.prm = array("i", [0, 0, b.c, npix, op.dim, -(1 << 31), 0, 0])
        if self.viper:
            s.acc = _zeros("i", 3 * groups)
            s.pool = V.attn_pool_rows
            s.fn = V.attn_apply
        else:
            s.acc = None
            s.pool = None
            s.fn = K.attn_apply

    def _prep_maxpool(self, s, op, bufs):
        src = bufs[op.in0]
        dst = bufs[op.out]
        s.prm = array("i", [0, 0, src.nw, src.h, src.w, dst.h, dst.w, op.kernel, op.stride, op.pad])
        s.in_step = src.h * src.w * src.nw
        s.out_step = dst.h * dst.w * dst.nw
        s.fn = V.maxpool if self.viper else K.maxpool

    def _prep_logic(self, s, op, bufs):
        b = bufs[op.out]
        s.out_step = b.h * b.w * b.nw
        s.prm = array("i", [0, 0, 0, s.out_step, op.mode])
        s.fn = V.logic if self.viper else K.logic

    def _prep_readout(self, s, op, bufs):
        b = bufs[op.in0]
        s.prm = array("i", [0, b.h * b.w, b.nw, op.classes])
        s.in_step = b.h * b.w * b.nw
        s.weights = op.weights
        if self.viper:
            s.fn = V.readout16 if op.weight_bits == 16 else V.readout8
        else:
            s.fn = K.readout
        self.logits = _zeros("i", op.classes)
        self.readout = s

    # ---- running

    def reset(self):
        """Start a new sample: states 0, logits at their bias, spike counts 0."""
        for s in self.lifs:
            st = s.state
            if self.viper:
                V.zero(st, len(st) * s.state_bytes)
            else:
                for i in range(len(st)):
                    st[i] = 0
        bias = self.readout.op.bias
        for k in range(len(bias)):
            self.logits[k] = bias[k]
        for i in range(len(self.counts)):
            self.counts[i] = 0
        self.t = 0

    def _slot(self, b, t):
        return t if self.slots[b] > 1 else 0

    def _op(self, s, t, xbase):
        code = s.code
        op = s.op
        if code == B.CONV:
            if s.once and t > 0:
                return
            prm = s.prm
            if op.in0 == 0:
                src = self._x
                prm[0] = xbase
            else:
                src = self.store[op.in0]
                prm[0] = self._slot(op.in0, t) * s.in_step
            acc = self.store[op.out]
            prm[1] = self._slot(op.out, t) * s.size
            s.bias(acc, prm)
            s.fn(src, acc, s.weights, prm)
        elif code == B.LIF:
            prm = s.prm
            prm[0] = self._slot(op.in0, t) * s.in_step
            prm[1] = self._slot(op.out, t) * s.out_step
            self.counts[s.lif] += s.fn(self.store[op.in0], s.state, self.store[op.out], prm)
        elif code == B.MAXPOOL:
            prm = s.prm
            prm[0] = self._slot(op.in0, t) * s.in_step
            prm[1] = self._slot(op.out, t) * s.out_step
            s.fn(self.store[op.in0], self.store[op.out], prm)
        elif code == B.LOGIC:
            prm = s.prm
            prm[0] = self._slot(op.in0, t) * s.out_step
            prm[1] = self._slot(op.in1, t) * s.out_step
            prm[2] = self._slot(op.out, t) * s.out_step
            s.fn(self.store[op.in0], self.store[op.in1], self.store[op.out], prm)
        elif code == B.READOUT:
            prm = s.prm
            prm[0] = self._slot(op.in0, t) * s.in_step
            s.fn(self.store[op.in0], self.logits, s.weights, prm)
        else:  # ATTN: the whole sequence at once (layer-major only)
            c, h, w = s.shape
            x = self.store[op.in0]
            K.attn(op, x, self.store[op.out], self.T, c, h, w, s.gain, s.prm, s.pool, s.acc, s.fn)

    def step(self, frame):
        """One time step of a causal graph: `frame` is one u8 [C][H][W] frame (bytes-like)."""
        if self.blob.layer_major:
            raise ValueError("step: this graph is LAYER_MAJOR (ATTN): use run(sequence)")
        if self.t >= self.T:
            raise ValueError("step: all %d steps done; reset() first" % self.T)
        if len(frame) != self.frame_size:
            raise ValueError("step: frame of %d bytes, expected %d" % (len(frame), self.frame_size))
        self._x = frame
        for s in self.steps:
            self._op(s, self.t, 0)
        self.t += 1

    def run(self, seq, states=True):
        """One sample: `seq` holds T frames (or 1 with STATIC_INPUT) of u8 [C][H][W], back to back.
        Returns (logits, predicted, spike_counts, final_states) as FORMAT.md section 2 defines them;
        final_states is None with states=False (they cost a transposed copy of every LIF state)."""
        n = len(seq)
        if n != self.frames * self.frame_size and n != self.T * self.frame_size:
            raise ValueError(
                "input: %d bytes, expected %d frame(s) of %d" % (n, self.frames, self.frame_size)
            )
        per = self.frame_size if n > self.frame_size else 0
        self.reset()
        self._x = seq
        T = self.T
        for attn, steps in self.segments:
            if attn is not None:
                self._op(attn, 0, 0)
            else:
                for t in range(T):
                    xb = t * per
                    for s in steps:
                        self._op(s, t, xb)
        self.t = T
        return self.results(states)

    def results(self, states=True):
        """(logits, predicted, spike_counts, final_states or None) of the sample so far."""
        logits = list(self.logits)
        best = 0
        for k in range(1, len(logits)):
            if logits[k] > logits[best]:
                best = k
        final = [self.final_state(i) for i in range(len(self.lifs))] if states else None
        return logits, best, list(self.counts), final

    def final_state(self, i):
        """The i-th LIF op's state H as array('i') in [C][H][W] order."""
        s = self.lifs[i]
        c, h, w = s.shape
        npix = h * w
        st = s.state
        out = _zeros("i", c * npix)
        j = 0
        for p in range(npix):
            for ch in range(c):
                out[ch * npix + p] = st[j]
                j += 1
        return out
