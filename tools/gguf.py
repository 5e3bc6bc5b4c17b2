#!/usr/bin/env python3
"""Read GGUF files (llama.cpp's model format) with numpy alone, treating the
file as hostile.

    f = gguf.open_gguf(path)      # parses and checks the header, no tensor data read
    f.version, f.alignment
    f.kv["mamba.block_count"]     # typed metadata: int, float, bool, str or list
    f.kv_type["..."]              # its GGUF type name ("u32", "f32", "arr[str]", ...)
    f.tensors["blk.0.ssm_in.weight"].dims   # ggml order: dims[0] is the row length
    f.tensors[name].shape                   # numpy order (dims reversed)
    f.tensors[name].type_name               # "F32", "Q4_0", ...
    f.raw(name)                   # the tensor's bytes (a memoryview into the mmap)
    f.dequantize(name)            # float32 ndarray of .shape

`python3 tools/gguf.py FILE` prints the metadata and the tensor table.

The layout (llama.cpp ggml/include/gguf.h, ggml/src/gguf.cpp), all little-endian:

    "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
    n_kv x        { string key | u32 type | value }
    n_tensors x   { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml type | u64 offset }
    padding to general.alignment (default 32)
    tensor data: each tensor at data_start + offset, offset a multiple of the alignment

    string = u64 length | bytes (UTF-8, no terminator)
    array  = u32 element type | u64 count | elements (arrays may nest)

Version 1 (u32 counts and lengths, 2023) is refused with a clear message.
Every count, length and offset is checked against what is left of the file
and against a limit before it is used, so a corrupt or malicious file gives
one GGUFError line, never a huge allocation, a hang or a read past the end.

Dequantisation follows ggml-quants.c (dequantize_row_*) for the block layouts
of ggml-common.h. Values are computed in float32 in the same order as ggml,
where every step but the last is exact, so the result is ggml's own float32
value (the real value of the block formula rounded once to float32; for the
types without an offset -- Q4_0, Q5_0, Q8_0, Q6_K, IQ4_NL -- it is exact).
"""
import mmap
import os
import struct
import sys

import numpy as np


class GGUFError(ValueError):
    """A malformed or unsupported GGUF file: one line of text."""


MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# Limits: far above any real file, low enough that a lie in the header fails
# before it costs memory or time.
MAX_TENSORS = 1 << 20
MAX_KV = 1 << 20
MAX_STRING = 1 << 26        # 64 MiB (a chat template, a token list element, a key)
MAX_ARRAY = 1 << 28         # elements in one array
MAX_DEPTH = 8               # nesting of arrays
MAX_DIMS = 4                # GGML_MAX_DIMS
MAX_NAME = 256              # tensor names (ggml's own limit is 64)
MAX_ELEMS = 1 << 40         # elements in one tensor
MAX_ALIGNMENT = 1 << 20

# GGUF metadata value types (gguf.h enum gguf_type): name, struct code, size
KV_TYPES = {
    0: ("u8", "B", 1), 1: ("i8", "b", 1), 2: ("u16", "H", 2), 3: ("i16", "h", 2),
    4: ("u32", "I", 4), 5: ("i32", "i", 4), 6: ("f32", "f", 4), 7: ("bool", "?", 1),
    8: ("str", None, 8), 9: ("arr", None, 12), 10: ("u64", "Q", 8), 11: ("i64", "q", 8),
    12: ("f64", "d", 8),
}


# ---------------------------------------------------------------- tensor types

def _f16(raw, count):
    return np.frombuffer(raw, dtype="<f2", count=count).astype(np.float32)


def _blocks(raw, nblocks, block_bytes):
    """(nblocks, block_bytes) uint8 view of the tensor's bytes."""
    return np.frombuffer(raw, dtype=np.uint8, count=nblocks * block_bytes).reshape(nblocks, block_bytes)


def _half(b, off):
    """The f16 at byte off of every block, as float32 (nblocks, 1)."""
    return np.ascontiguousarray(b[:, off:off + 2]).view("<f2").astype(np.float32)


def _nibbles(qs):
    """ggml's 4-bit packing of 32 values in 16 bytes: value j in the low
    nibble of byte j, value j + 16 in the high nibble (dequantize_row_q4_0)."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def _high_bits32(b, off):
    """Q5_0/Q5_1's qh: bit j of the little-endian u32 is the fifth bit of value j."""
    qh = np.ascontiguousarray(b[:, off:off + 4]).view("<u4")          # (nb, 1)
    return ((qh >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)  # (nb, 32)


def _dq_f32(raw, n):
    return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)


def _dq_f16(raw, n):
    return _f16(raw, n)


def _dq_bf16(raw, n):
    u = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32)
    return (u << 16).view(np.float32)


def _dq_q8_0(raw, n):
    # block_q8_0 { half d; int8 qs[32]; }: y = qs * d
    b = _blocks(raw, n // 32, 34)
    q = np.ascontiguousarray(b[:, 2:]).view(np.int8).astype(np.float32)
    return (q * _half(b, 0)).reshape(-1)


def _dq_q4_0(raw, n):
    # block_q4_0 { half d; u8 qs[16]; }: y = (nibble - 8) * d
    b = _blocks(raw, n // 32, 18)
    q = _nibbles(b[:, 2:]).astype(np.float32) - 8
    return (q * _half(b, 0)).reshape(-1)


def _dq_q4_1(raw, n):
    # block_q4_1 { half d; half m; u8 qs[16]; }: y = nibble * d + m
    b = _blocks(raw, n // 32, 20)
    q = _nibbles(b[:, 4:]).astype(np.float32)
    return (q * _half(b, 0) + _half(b, 2)).reshape(-1)


def _dq_q5_0(raw, n):
    # block_q5_0 { half d; u8 qh[4]; u8 qs[16]; }: y = ((nibble | bit << 4) - 16) * d
    b = _blocks(raw, n // 32, 22)
    q = (_nibbles(b[:, 6:]) | (_high_bits32(b, 2) << 4)).astype(np.float32) - 16
    return (q * _half(b, 0)).reshape(-1)


def _dq_q5_1(raw, n):
    # block_q5_1 { half d; half m; u8 qh[4]; u8 qs[16]; }: y = (nibble | bit << 4) * d + m
    b = _blocks(raw, n // 32, 24)
    q = (_nibbles(b[:, 8:]) | (_high_bits32(b, 4) << 4)).astype(np.float32)
    return (q * _half(b, 0) + _half(b, 2)).reshape(-1)


# IQ4_NL's 16 levels (ggml-common.h kvalues_iq4nl)
IQ4NL_LEVELS = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                        dtype=np.int8)


def _dq_iq4_nl(raw, n):
    # block_iq4_nl { half d; u8 qs[16]; }: y = d * levels[nibble]
    b = _blocks(raw, n // 32, 18)
    q = IQ4NL_LEVELS[_nibbles(b[:, 2:])].astype(np.float32)
    return (_half(b, 0) * q).reshape(-1)


def _k_scales(sc):
    """get_scale_min_k4 for j = 0..7 over the 12 scale bytes of a Q4_K/Q5_K
    super-block: (scales (nb, 8), mins (nb, 8)), 6-bit integers."""
    sc = sc.astype(np.uint8)
    d = np.empty((sc.shape[0], 8), np.uint8)
    m = np.empty((sc.shape[0], 8), np.uint8)
    d[:, :4] = sc[:, 0:4] & 63
    m[:, :4] = sc[:, 4:8] & 63
    d[:, 4:] = (sc[:, 8:12] & 0x0F) | ((sc[:, 0:4] >> 6) << 4)
    m[:, 4:] = (sc[:, 8:12] >> 4) | ((sc[:, 4:8] >> 6) << 4)
    return d.astype(np.float32), m.astype(np.float32)


def _dq_q4_k(raw, n):
    # block_q4_K { half d; half dmin; u8 scales[12]; u8 qs[128]; }, 8 sub-blocks of 32:
    # for each 64 values j: sub-block 2j from the low nibbles of qs[32j..32j+31],
    # 2j+1 from the high nibbles; y = (d * sc) * q - (dmin * m)
    nb = n // 256
    b = _blocks(raw, nb, 144)
    d, dmin = _half(b, 0), _half(b, 2)
    sc, m = _k_scales(b[:, 4:16])
    qs = b[:, 16:144].reshape(nb, 4, 32)
    q = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(nb, 8, 32).astype(np.float32)
    d1 = (d * sc)[:, :, None]
    m1 = (dmin * m)[:, :, None]
    return (d1 * q - m1).reshape(-1)


def _dq_q5_k(raw, n):
    # block_q5_K { half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }:
    # as Q4_K, plus a fifth bit: sub-block s takes bit s of qh[l] for its value l
    nb = n // 256
    b = _blocks(raw, nb, 176)
    d, dmin = _half(b, 0), _half(b, 2)
    sc, m = _k_scales(b[:, 4:16])
    qh = b[:, 16:48]                                            # (nb, 32)
    qs = b[:, 48:176].reshape(nb, 4, 32)
    lo = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(nb, 8, 32)
    hi = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
    q = (lo + (hi << 4)).astype(np.float32)
    d1 = (d * sc)[:, :, None]
    m1 = (dmin * m)[:, :, None]
    return (d1 * q - m1).reshape(-1)


def _dq_q6_k(raw, n):
    # block_q6_K { u8 ql[128]; u8 qh[64]; int8 scales[16]; half d; }, two halves of 128:
    # in half h, for l in 0..31 (ql = ql[64h..], qh = qh[32h..]):
    #   y[l]    = d*sc[is]   * ((ql[l]    & 15 | (qh[l] >> 0 & 3) << 4) - 32)
    #   y[l+32] = d*sc[is+2] * ((ql[l+32] & 15 | (qh[l] >> 2 & 3) << 4) - 32)
    #   y[l+64] = d*sc[is+4] * ((ql[l]    >> 4 | (qh[l] >> 4 & 3) << 4) - 32)
    #   y[l+96] = d*sc[is+6] * ((ql[l+32] >> 4 | (qh[l] >> 6 & 3) << 4) - 32)
    # with is = 8h + l / 16: each group of 16 values has its own scale.
    nb = n // 256
    b = _blocks(raw, nb, 210)
    ql = b[:, 0:128].reshape(nb, 2, 2, 32)                      # (half, 0/32, l)
    qh = b[:, 128:192].reshape(nb, 2, 1, 32)
    sc = np.ascontiguousarray(b[:, 192:208]).view(np.int8).astype(np.float32)  # (nb, 16)
    d = _half(b, 208)                                           # (nb, 1)
    low = np.concatenate([ql & 0x0F, ql >> 4], axis=2)          # (nb, 2, 4, 32): quarters 0..3
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8)[None, None, :, None]
    high = (qh >> shifts) & 3
    q = (low | (high << 4)).astype(np.float32) - 32             # (nb, 2, 4, 32)
    # value index in the 256: 128*half + 32*quarter + l; its scale: 8*half + 2*quarter + l//16
    scale = sc.reshape(nb, 2, 4, 2)                             # (half, quarter, l//16)
    ds = (d[:, :, None, None] * scale)                          # d * sc, as ggml
    ds = np.repeat(ds, 16, axis=3)                              # (nb, 2, 4, 32)
    return (ds * q).reshape(-1)


class GGMLType(object):
    def __init__(self, code, name, block, block_bytes, dequant):
        self.code, self.name, self.block, self.block_bytes, self.dequant = code, name, block, block_bytes, dequant


# ggml.h enum ggml_type: the types read here (block of values, bytes per block)
GGML_TYPES = {t.code: t for t in [
    GGMLType(0, "F32", 1, 4, _dq_f32),
    GGMLType(1, "F16", 1, 2, _dq_f16),
    GGMLType(2, "Q4_0", 32, 18, _dq_q4_0),
    GGMLType(3, "Q4_1", 32, 20, _dq_q4_1),
    GGMLType(6, "Q5_0", 32, 22, _dq_q5_0),
    GGMLType(7, "Q5_1", 32, 24, _dq_q5_1),
    GGMLType(8, "Q8_0", 32, 34, _dq_q8_0),
    GGMLType(12, "Q4_K", 256, 144, _dq_q4_k),
    GGMLType(13, "Q5_K", 256, 176, _dq_q5_k),
    GGMLType(14, "Q6_K", 256, 210, _dq_q6_k),
    GGMLType(20, "IQ4_NL", 32, 18, _dq_iq4_nl),
    GGMLType(30, "BF16", 1, 2, _dq_bf16),
]}
GGML_TYPE_BY_NAME = {t.name: t for t in GGML_TYPES.values()}
# names of the types this reader knows but cannot dequantise, for the error message
OTHER_GGML_TYPES = {9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS",
                    18: "IQ3_XXS", 19: "IQ1_S", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8",
                    25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0",
                    39: "MXFP4"}


# ---------------------------------------------------------------- the file

class TensorInfo(object):
    def __init__(self, name, dims, ggml_type, offset, nbytes):
        self.name = name
        self.dims = tuple(dims)                 # ggml order: dims[0] varies fastest
        self.shape = tuple(reversed(self.dims))  # numpy order
        self.type = ggml_type
        self.type_name = ggml_type.name
        self.offset = offset                    # absolute, in the file
        self.nbytes = nbytes
        self.count = int(np.prod(self.dims))


class Reader(object):
    """Bounds-checked little-endian reads from a bytes-like object."""

    def __init__(self, buf, path):
        self.buf, self.pos, self.end, self.path = buf, 0, len(buf), path

    def fail(self, msg):
        raise GGUFError("%s: %s" % (self.path, msg))

    def need(self, n, what):
        if n < 0 or n > self.end - self.pos:
            self.fail("truncated: %s needs %d bytes at offset %d, the file has %d"
                      % (what, n, self.pos, self.end - self.pos))

    def unpack(self, fmt, size, what):
        self.need(size, what)
        v = struct.unpack_from("<" + fmt, self.buf, self.pos)[0]
        self.pos += size
        return v

    def u32(self, what):
        return self.unpack("I", 4, what)

    def u64(self, what):
        return self.unpack("Q", 8, what)

    def string(self, what, limit=MAX_STRING, as_bytes=False):
        n = self.u64("the length of " + what)
        if n > limit:
            self.fail("%s is %d bytes long (limit %d)" % (what, n, limit))
        self.need(n, what)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        if as_bytes:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail("%s is not valid UTF-8" % what)


def _read_value(r, vtype, what, depth):
    """One metadata value of GGUF type vtype: (python value, type name)."""
    if vtype not in KV_TYPES:
        r.fail("%s has unknown value type %d" % (what, vtype))
    name, code, size = KV_TYPES[vtype]
    if name == "str":
        return r.string(what), "str"
    if name == "arr":
        if depth >= MAX_DEPTH:
            r.fail("%s: arrays nested deeper than %d" % (what, MAX_DEPTH))
        etype = r.u32("the element type of " + what)
        n = r.u64("the length of " + what)
        if etype not in KV_TYPES:
            r.fail("%s: array of unknown type %d" % (what, etype))
        ename, ecode, esize = KV_TYPES[etype]
        # every element takes at least esize bytes (a string its u64 length,
        # an array its type and count): bound the count by what is left
        if n > MAX_ARRAY or n * esize > r.end - r.pos:
            r.fail("%s: array of %d %s elements does not fit the file" % (what, n, ename))
        if ecode is not None:
            r.need(n * esize, what)
            dt = {"?": np.uint8}.get(ecode, np.dtype("<" + ecode))
            a = np.frombuffer(r.buf, dtype=dt, count=n, offset=r.pos).copy()
            r.pos += n * esize
            if ecode == "?":
                if np.any(a > 1):
                    r.fail("%s: a bool element is neither 0 nor 1" % what)
                a = a.astype(bool)
            return a, "arr[%s]" % ename
        out = []
        for i in range(n):
            v, _ = _read_value(r, etype, "%s[%d]" % (what, i), depth + 1)
            out.append(v)
        return out, "arr[%s]" % ename
    v = r.unpack(code, size, what)
    if name == "bool":
        if v not in (0, 1):
            r.fail("%s: bool value %d" % (what, v))
        v = bool(v)
    return v, name


class GGUFFile(object):
    def __init__(self, path, buf, mm):
        self.path = path
        self._buf, self._mm = buf, mm
        self.kv, self.kv_type = {}, {}
        self.tensors = {}
        self._parse()

    def close(self):
        self._buf = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def fail(self, msg):
        raise GGUFError("%s: %s" % (self.path, msg))

    def _parse(self):
        r = Reader(self._buf, self.path)
        if r.end < 4 or bytes(self._buf[:4]) != MAGIC:
            self.fail("not a GGUF file (no GGUF magic)")
        r.pos = 4
        version = r.u32("the version")
        if version in (0x02000000, 0x03000000):
            self.fail("big-endian GGUF (version bytes %08x) is not supported" % version)
        if version == 1:
            self.fail("GGUF version 1 (2023, 32-bit counts) is not supported: convert it again with "
                      "llama.cpp's current tools")
        if version not in (2, 3):
            self.fail("unsupported GGUF version %d (supported: 2, 3)" % version)
        self.version = version
        n_tensors = r.u64("the tensor count")
        n_kv = r.u64("the metadata count")
        # the smallest key/value takes 8 + 0 + 4 + 1 bytes, the smallest tensor info 8 + 4 + 8 + 4 + 8
        if n_tensors > MAX_TENSORS or n_tensors * 32 > r.end - r.pos:
            self.fail("tensor count %d does not fit the file" % n_tensors)
        if n_kv > MAX_KV or n_kv * 13 > r.end - r.pos:
            self.fail("metadata count %d does not fit the file" % n_kv)
        for i in range(n_kv):
            key = r.string("metadata key %d" % i, limit=65535)
            if key in self.kv:
                self.fail("metadata key %r appears twice" % key)
            vtype = r.u32("the type of %s" % key)
            self.kv[key], self.kv_type[key] = _read_value(r, vtype, key, 0)

        align = self.kv.get("general.alignment", DEFAULT_ALIGNMENT)
        if "general.alignment" in self.kv and self.kv_type["general.alignment"] != "u32":
            self.fail("general.alignment must be a u32, not %s" % self.kv_type["general.alignment"])
        if align == 0 or align & (align - 1) or align > MAX_ALIGNMENT:
            self.fail("general.alignment %d is not a power of two up to %d" % (align, MAX_ALIGNMENT))
        self.alignment = align

        infos = []
        for i in range(n_tensors):
            name = r.string("the name of tensor %d" % i, limit=MAX_NAME)
            nd = r.u32("the dimension count of %s" % name)
            if not 1 <= nd <= MAX_DIMS:
                self.fail("tensor %s has %d dimensions (1..%d)" % (name, nd, MAX_DIMS))
            dims = [r.u64("dimension %d of %s" % (j, name)) for j in range(nd)]
            count = 1
            for j, d in enumerate(dims):
                if d == 0 or d > MAX_ELEMS:
                    self.fail("tensor %s: dimension %d is %d" % (name, j, d))
                count *= d
                if count > MAX_ELEMS:
                    self.fail("tensor %s has more than %d elements" % (name, MAX_ELEMS))
            code = r.u32("the type of %s" % name)
            offset = r.u64("the offset of %s" % name)
            infos.append((name, dims, code, offset, count))
        names = set()
        for name, _, _, _, _ in infos:
            if name in names:
                self.fail("tensor %s appears twice" % name)
            names.add(name)

        # the data section (and the padding before it) exists only when there
        # are tensors: a vocabulary-only file ends after the metadata
        data_start = (r.pos + align - 1) // align * align if infos else r.pos
        if data_start > r.end:
            self.fail("the tensor data would start at %d, past the end of the file (%d bytes)"
                      % (data_start, r.end))
        self.data_start = data_start
        data_bytes = r.end - data_start
        spans = []
        for name, dims, code, offset, count in infos:
            if code not in GGML_TYPES:
                what = OTHER_GGML_TYPES.get(code, "unknown type %d" % code)
                self.fail("tensor %s has type %s, which this converter cannot read (supported: %s)"
                          % (name, what, ", ".join(t.name for t in sorted(GGML_TYPES.values(),
                                                                           key=lambda t: t.code))))
            t = GGML_TYPES[code]
            if dims[0] % t.block:
                self.fail("tensor %s: row length %d is not a multiple of %s's block of %d"
                          % (name, dims[0], t.name, t.block))
            nbytes = count // t.block * t.block_bytes
            if offset % align:
                self.fail("tensor %s: offset %d is not a multiple of the alignment %d" % (name, offset, align))
            if offset > data_bytes or nbytes > data_bytes - offset:
                self.fail("tensor %s: %d bytes at data offset %d do not fit the %d data bytes"
                          % (name, nbytes, offset, data_bytes))
            spans.append((offset, offset + nbytes, name))
            self.tensors[name] = TensorInfo(name, dims, t, data_start + offset, nbytes)
        spans.sort()
        for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
            if b1 < e0:
                self.fail("tensors %s and %s overlap" % (n0, n1))

    def raw(self, name):
        t = self.tensors[name]
        return memoryview(self._buf)[t.offset:t.offset + t.nbytes]

    def dequantize(self, name):
        """The tensor as float32 in numpy order (dims reversed)."""
        t = self.tensors[name]
        with np.errstate(all="ignore"):   # a NaN or inf scale is reported by the caller
            a = t.type.dequant(self.raw(name), t.count)
        return a.reshape(t.shape)


def open_gguf(path):
    """Open and check a GGUF file; its tensors stay in the file (mmap)."""
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise GGUFError("cannot open %s: %s" % (path, e.strerror or e))
    with f:
        if size == 0:
            raise GGUFError("%s: empty file" % path)
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise GGUFError("cannot map %s: %s" % (path, e))
    try:
        return GGUFFile(path, mm, mm)
    except GGUFError:
        mm.close()
        raise


def is_gguf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


# ---------------------------------------------------------------- Mamba models

# tokenizer.ggml.token_type values (llama.cpp gguf-py TokenType)
TOK_NORMAL, TOK_UNKNOWN, TOK_CONTROL, TOK_USER_DEFINED, TOK_UNUSED, TOK_BYTE = 1, 2, 3, 4, 5, 6
# tokenizer.ggml.pre values whose llama.cpp pre-tokenizer is the GPT-2 split regex
# (llama-vocab.cpp: LLAMA_VOCAB_PRE_TYPE_GPT2 / MPT / OLMO), and whether the
# Hugging Face tokenizer that the converter identified by that name applies NFC:
# "mpt" and "olmo" are the hash of the GPT-NeoX-20B tokenizer (NFC), "gpt-2" is
# GPT-2's (no normaliser). llama.cpp itself normalises neither.
GPT2_REGEX_PRE = {"gpt-2": False, "mpt": True, "olmo": True}

# Falcon-Mamba's weightless RMS norm on delta, B and C: its eps is not in the
# GGUF. transformers' FalconMambaConfig.mixer_rms_eps (1e-6, also what
# tiiuae/falcon-mamba-7b states) is used; llama.cpp uses the layer eps instead.
FALCON_MIXER_EPS = 1e-6


class Model(object):
    """A Mamba-family model read from a GGUF file, with llama.cpp's conversion
    undone. `tensors` maps (name, layer) -> (GGUF tensor name, numpy shape);
    names are those of mambafile's roles ("embedding", "in_proj", "A", ...),
    plus Mamba-2's "dt_bias" and "ssm_norm" (the gated norm); shapes are the
    PyTorch ones except conv1d, squeezed to (channels, d_conv) as the .mamba
    format keeps it, and A, stored as A = -exp(A_log) as llama.cpp does."""

    def __init__(self, g):
        self.g = g
        self.tensors = {}
        self.notes = []


def _kv_int(g, key, what=None, required=True, lo=1, hi=1 << 31):
    if key not in g.kv:
        if required:
            g.fail("missing metadata %s%s" % (key, " (%s)" % what if what else ""))
        return None
    v = g.kv[key]
    if g.kv_type[key] not in ("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64") or not lo <= v <= hi:
        g.fail("metadata %s = %r is not an integer in %d..%d" % (key, v, lo, hi))
    return int(v)


def _kv_float(g, key, default=None):
    if key not in g.kv:
        if default is None:
            g.fail("missing metadata %s" % key)
        return default
    v = g.kv[key]
    if g.kv_type[key] not in ("f32", "f64") or not np.isfinite(v) or not 0 <= v < 1:
        g.fail("metadata %s = %r is not a float in [0, 1)" % (key, v))
    return float(v)


def mamba_model(g):
    """Read the hyperparameters and tensor table of a `mamba` or `mamba2`
    GGUF and check every shape against them. Returns a Model with
    .arch ("mamba", "falcon_mamba", "mamba2"), .hp (dimensions), .tensors."""
    arch = g.kv.get("general.architecture")
    if g.kv_type.get("general.architecture") != "str":
        g.fail("missing metadata general.architecture")
    if arch not in ("mamba", "mamba2"):
        g.fail("general.architecture %r is not a Mamba model (supported: mamba, mamba2)" % arch)
    m = Model(g)
    a = arch
    hp = {}
    hp["d_model"] = _kv_int(g, a + ".embedding_length")
    hp["n_layer"] = _kv_int(g, a + ".block_count", hi=4096)
    hp["d_conv"] = _kv_int(g, a + ".ssm.conv_kernel", hi=1024)
    hp["d_inner"] = _kv_int(g, a + ".ssm.inner_size")
    hp["d_state"] = _kv_int(g, a + ".ssm.state_size", hi=1 << 16)
    hp["norm_eps"] = _kv_float(g, a + ".attention.layer_norm_rms_epsilon", 1e-5)
    if arch == "mamba":
        hp["dt_rank"] = _kv_int(g, a + ".ssm.time_step_rank")
        rms = g.kv.get(a + ".ssm.dt_b_c_rms", False)
        if a + ".ssm.dt_b_c_rms" in g.kv and g.kv_type[a + ".ssm.dt_b_c_rms"] != "bool":
            g.fail("metadata %s.ssm.dt_b_c_rms is not a bool" % a)
        m.arch = "falcon_mamba" if rms else "mamba"
        hp["mixer_rms_eps"] = FALCON_MIXER_EPS if rms else 0.0
        if rms:
            m.notes.append("Falcon-Mamba: the B/C/delta norm eps is not in the GGUF; using %g "
                           "(transformers' mixer_rms_eps; llama.cpp uses the layer eps %g)"
                           % (FALCON_MIXER_EPS, hp["norm_eps"]))
    else:
        m.arch = "mamba2"
        # llama.cpp writes the head count as time_step_rank (Mamba2Model.set_gguf_parameters)
        hp["n_heads"] = _kv_int(g, a + ".ssm.time_step_rank", "the number of heads")
        hp["n_groups"] = _kv_int(g, a + ".ssm.group_count", required=False) or 1
        if hp["d_inner"] % hp["n_heads"]:
            g.fail("d_inner %d is not a multiple of the %d heads" % (hp["d_inner"], hp["n_heads"]))
        if hp["d_inner"] % hp["n_groups"] or hp["n_heads"] % hp["n_groups"]:
            g.fail("%d groups do not divide d_inner %d and %d heads"
                   % (hp["n_groups"], hp["d_inner"], hp["n_heads"]))
        hp["head_dim"] = hp["d_inner"] // hp["n_heads"]
        hp["mixer_rms_eps"] = 0.0
    m.hp = hp
    dm, di, ns, dc = hp["d_model"], hp["d_inner"], hp["d_state"], hp["d_conv"]

    T = g.tensors
    used = set()

    def take(key, layer, gname, shapes, required=True):
        """Register GGUF tensor gname as (key, layer) if its numpy shape is one
        of `shapes` (the first is the one the role is stored in)."""
        if gname not in T:
            if required:
                g.fail("missing tensor %s" % gname)
            return False
        if T[gname].shape not in [tuple(s) for s in shapes]:
            g.fail("tensor %s has ggml dims %s, expected %s" % (gname, list(T[gname].dims),
                                                               list(reversed(shapes[0]))))
        m.tensors[(key, layer)] = (gname, tuple(shapes[0]))
        used.add(gname)
        return True

    if "token_embd.weight" not in T or len(T["token_embd.weight"].dims) != 2:
        g.fail("missing tensor token_embd.weight (a matrix)")
    rows = T["token_embd.weight"].shape[0]
    hp["n_vocab_padded"] = rows
    take("embedding", 0, "token_embd.weight", [(rows, dm)])
    take("norm_f", 0, "output_norm.weight", [(dm,)])
    # a tied output matrix is omitted by the converter (MambaModel.modify_tensors)
    hp["lm_head"] = take("lm_head", 0, "output.weight", [(rows, dm)], required=False)
    for i in range(hp["n_layer"]):
        b = "blk.%d." % i
        take("norm", i, b + "attn_norm.weight", [(dm,)])
        if arch == "mamba":
            r = hp["dt_rank"]
            take("in_proj", i, b + "ssm_in.weight", [(2 * di, dm)])
            take("conv1d", i, b + "ssm_conv1d.weight", [(di, dc)])
            take("x_proj", i, b + "ssm_x.weight", [(r + 2 * ns, di)])
            take("dt_proj", i, b + "ssm_dt.weight", [(di, r)])
            take("dt_proj_bias", i, b + "ssm_dt.bias", [(di,)])
            take("A", i, b + "ssm_a", [(di, ns)])
            take("D", i, b + "ssm_d", [(di,)])
            conv_ch = di
            in_rows = 2 * di
        else:
            nh, ng = hp["n_heads"], hp["n_groups"]
            conv_ch = di + 2 * ng * ns
            in_rows = 2 * di + 2 * ng * ns + nh
            take("in_proj", i, b + "ssm_in.weight", [(in_rows, dm)])
            take("conv1d", i, b + "ssm_conv1d.weight", [(conv_ch, dc)])
            # [H, 1] in the GGUF ("to use similar shape semantics as Mamba-1")
            take("dt_bias", i, b + "ssm_dt.bias", [(nh,)])
            take("A", i, b + "ssm_a", [(nh,), (nh, 1)])
            take("D", i, b + "ssm_d", [(nh,), (nh, 1)])
            # [G, d_inner / G] in the GGUF: the group-wise norm's weight, flat
            take("ssm_norm", i, b + "ssm_norm.weight", [(di,), (ng, di // ng)])
        take("conv1d_bias", i, b + "ssm_conv1d.bias", [(conv_ch,)], required=i > 0 and ("conv1d_bias", 0) in m.tensors)
        take("in_proj_bias", i, b + "ssm_in.bias", [(in_rows,)], required=i > 0 and ("in_proj_bias", 0) in m.tensors)
        take("out_proj", i, b + "ssm_out.weight", [(dm, di)])
        take("out_proj_bias", i, b + "ssm_out.bias", [(dm,)], required=i > 0 and ("out_proj_bias", 0) in m.tensors)
        for opt in ("conv1d_bias", "in_proj_bias", "out_proj_bias"):
            if i > 0 and (opt, i) in m.tensors and (opt, 0) not in m.tensors:
                g.fail("layer %d has a %s but layer 0 has none" % (i, opt))
    extra = sorted(set(T) - used)
    if extra:
        g.fail("unexpected tensor %s (not part of a %d-layer %s model)" % (extra[0], hp["n_layer"], arch))
    return m


def load_tensor(m, key, layer):
    """(float32 array in the role's shape, ggml type name) of a model tensor."""
    gname, shape = m.tensors[(key, layer)]
    a = m.g.dequantize(gname).reshape(shape)
    if not np.all(np.isfinite(a)):
        m.g.fail("tensor %s holds a NaN or infinite value" % gname)
    return a, m.g.tensors[gname].type_name


SPACE_MARK = "\u2581"   # SentencePiece's visible space


def _sentencepiece_json(g, tokens, types, n, vocab, added):
    """The tokenizer.json of a `llama` (SentencePiece) GGUF vocabulary, in the
    design of Llama-2 / Mistral-7B-v0.1 (tools/tokpack.py's SentencePiece-style
    BPE): normaliser Prepend("▁") (unless tokenizer.ggml.add_space_prefix is
    false) + Replace(" " -> "▁"), no pre-tokenizer, byte fallback to the
    <0xNN> tokens, fuse_unk, the BOS/EOS template of add_bos/add_eos_token.

    A GGUF has no merges for it, only a score per piece: SentencePiece's BPE
    encoder merges, again and again, the adjacent pair whose concatenation is
    the piece of highest score. As a merge list (the way transformers'
    SentencePieceExtractor builds one): every split of every normal piece into
    two normal pieces, the pieces in order of descending score (ties in id
    order), the splits of one piece by the ids of their left and right halves.
    Exact for BPE-trained vocabularies, whose scores are the order in which
    training made the pieces; a GGUF whose scores are all equal (llama.cpp's
    LlamaHfVocab writes -1000 for every piece when a checkpoint has only a
    tokenizer.json) says nothing about the order and is refused."""
    if g.kv_type.get("tokenizer.ggml.scores") != "arr[f32]" or len(g.kv["tokenizer.ggml.scores"]) != len(tokens):
        raise GGUFError("%s: a llama (SentencePiece) tokenizer needs tokenizer.ggml.scores, one float per token"
                        % g.path)
    scores = np.asarray(g.kv["tokenizer.ggml.scores"], np.float64)[:n]
    if not np.all(np.isfinite(scores)):
        g.fail("tokenizer.ggml.scores holds a NaN or an infinity")
    normal = [i for i in range(n) if int(types[i]) == TOK_NORMAL]
    if len(normal) > 1 and np.all(scores[normal] == scores[normal[0]]):
        raise GGUFError("%s: every normal piece has the score %g: the merge order of this SentencePiece "
                        "vocabulary cannot be recovered (llama.cpp writes such scores when it converts a "
                        "tokenizer.json without a tokenizer.model; convert that checkpoint's tokenizer.json "
                        "with --tokenizer instead)" % (g.path, scores[normal[0]]))
    byte_ids = {}
    for i in range(n):
        if int(types[i]) == TOK_BYTE:
            t = tokens[i]
            if len(t) != 6 or not t.startswith("<0x") or not t.endswith(">"):
                g.fail("byte token %d is %r, not <0xNN>" % (i, t))
            try:
                byte_ids[int(t[3:5], 16)] = i
            except ValueError:
                g.fail("byte token %d is %r, not <0xNN>" % (i, t))
    if byte_ids and len(byte_ids) != 256:
        raise GGUFError("%s: %d byte tokens <0xNN>, not 256: byte fallback needs all of them" % (g.path, len(byte_ids)))
    unk = [i for i in range(n) if int(types[i]) == TOK_UNKNOWN]
    if len(unk) > 1:
        g.fail("%d tokens of type unknown (ids %s)" % (len(unk), ", ".join(map(str, unk[:4]))))
    pieces = {tokens[i]: i for i in normal}
    merges = []
    for i in sorted(normal, key=lambda i: -scores[i]):   # stable: ties keep id order
        p = tokens[i]
        local = [(p[:k], p[k:]) for k in range(1, len(p)) if p[:k] in pieces and p[k:] in pieces]
        local.sort(key=lambda lr: (pieces[lr[0]], pieces[lr[1]]))
        merges += ["%s %s" % lr for lr in local]
    prefix = bool(g.kv.get("tokenizer.ggml.add_space_prefix", True))
    norm = [{"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARK}]
    if prefix:
        norm.insert(0, {"type": "Prepend", "prepend": SPACE_MARK})
    decoders = [{"type": "Replace", "pattern": {"String": SPACE_MARK}, "content": " "}, {"type": "ByteFallback"},
                {"type": "Fuse"}]
    if prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    single, specials = [{"Sequence": {"id": "A", "type_id": 0}}], {}
    for key, default, at in (("bos", True, 0), ("eos", False, 1)):
        tid = g.kv.get("tokenizer.ggml.%s_token_id" % key)
        if bool(g.kv.get("tokenizer.ggml.add_%s_token" % key, default)) and tid is not None and 0 <= tid < n:
            t = tokens[int(tid)]
            single.insert(len(single) if at else 0, {"SpecialToken": {"id": t, "type_id": 0}})
            specials[t] = {"id": t, "ids": [int(tid)], "tokens": [t]}
    post = {"type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": specials}
    return {"version": "1.0", "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": norm}, "pre_tokenizer": None,
            "post_processor": post, "decoder": {"type": "Sequence", "decoders": decoders},
            "model": {"type": "BPE", "dropout": None, "unk_token": tokens[unk[0]] if unk else None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                      "byte_fallback": bool(byte_ids), "vocab": vocab, "merges": merges}}


def tokenizer_json(m, build=True):
    """Rebuild the tokenizer.json that tools/tokpack.py packs from the
    tokenizer.ggml.* metadata. Returns (tokenizer.json dict or None, n_vocab,
    {"bos_id", "eos_id", "pad_id"}), n_vocab the ids a model may emit: the
    token list cut at the embedding's rows (llama.cpp pads the list to a
    multiple of 8 or 16, which can exceed them), then trailing unused
    ([PAD...]) tokens dropped. Raises GGUFError for a tokenizer mamba.h cannot
    run (with build=False only the ids are read and the dict is None)."""
    g, rows = m.g, m.hp["n_vocab_padded"]
    ids = {}
    for k, name in (("bos_id", "bos"), ("eos_id", "eos"), ("pad_id", "padding")):
        key = "tokenizer.ggml.%s_token_id" % name
        ids[k] = _kv_int(g, key, required=False, lo=0, hi=(1 << 32) - 1)
    if "tokenizer.ggml.tokens" not in g.kv:
        return None, rows, ids
    tokens = g.kv["tokenizer.ggml.tokens"]
    if g.kv_type["tokenizer.ggml.tokens"] != "arr[str]":
        g.fail("tokenizer.ggml.tokens is not an array of strings")
    types = g.kv.get("tokenizer.ggml.token_type")
    if types is None:
        types = np.full(len(tokens), TOK_NORMAL)
    elif g.kv_type["tokenizer.ggml.token_type"] not in ("arr[i32]", "arr[u32]") or len(types) != len(tokens):
        g.fail("tokenizer.ggml.token_type is not %d integers" % len(tokens))
    n = min(len(tokens), rows)
    while n > 0 and types[n - 1] == TOK_UNUSED:
        n -= 1
    if n == 0:
        g.fail("the token list has no usable token")
    for k in ids:
        if ids[k] is not None and ids[k] >= n:
            m.notes.append("%s %d is outside the %d ids; ignored" % (k, ids[k], n))
            ids[k] = None
    if not build:
        return None, n, ids

    model = g.kv.get("tokenizer.ggml.model")
    if model not in ("gpt2", "llama"):
        raise GGUFError("%s: tokenizer.ggml.model %r is not supported (only gpt2, the byte-level BPE, and "
                        "llama, the SentencePiece-style BPE)" % (g.path, model))
    if model == "gpt2":
        pre = g.kv.get("tokenizer.ggml.pre")
        if pre is None and m.arch in ("mamba", "falcon_mamba"):
            m.notes.append("no tokenizer.ggml.pre (a GGUF from before May 2024): assuming the GPT-NeoX "
                           "tokenizer every Mamba-1 model uses")
            pre = "olmo"
        if pre not in GPT2_REGEX_PRE:
            raise GGUFError("%s: tokenizer.ggml.pre %r is not supported (only %s: the GPT-2 split regex)"
                            % (g.path, pre, ", ".join(sorted(GPT2_REGEX_PRE))))
        if "tokenizer.ggml.merges" not in g.kv:
            raise GGUFError("%s: a gpt2 tokenizer without tokenizer.ggml.merges"
                            % g.path)
        merges = g.kv["tokenizer.ggml.merges"]
        if g.kv_type["tokenizer.ggml.merges"] != "arr[str]":
            g.fail("tokenizer.ggml.merges is not an array of strings")

    vocab, added = {}, []
    for i in range(n):
        t, ty = tokens[i], int(types[i])
        if ty == TOK_UNUSED:
            continue
        if t in vocab:
            g.fail("token %r appears twice (ids %d and %d)" % (t, vocab[t], i))
        vocab[t] = i
        if ty in (TOK_CONTROL, TOK_UNKNOWN):
            added.append({"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True})
        elif ty == TOK_USER_DEFINED:
            # llama.cpp keeps user-defined tokens pre-normalised (get_vocab_base)
            added.append({"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": True, "special": False})
        elif ty not in (TOK_NORMAL, TOK_BYTE):
            g.fail("token %d has unknown type %d" % (i, ty))
    if model == "llama":
        return _sentencepiece_json(g, tokens, types, n, vocab, added), n, ids
    kept, dropped = [], 0
    for mg in merges:
        parts = mg.split(" ")
        if len(parts) != 2:
            g.fail("malformed merge %r" % mg)
        if parts[0] in vocab and parts[1] in vocab and parts[0] + parts[1] in vocab:
            kept.append(mg)
        else:
            dropped += 1
    if dropped:
        m.notes.append("%d of %d merges make tokens past the %d ids kept and were dropped"
                       % (dropped, len(merges), n))
    nfc = GPT2_REGEX_PRE[pre]
    tj = {"version": "1.0", "added_tokens": added,
          "normalizer": {"type": "NFC"} if nfc else None,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                            "use_regex": True},
          "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                    "vocab": vocab, "merges": kept}}
    return tj, n, ids


def _short(v):
    if isinstance(v, (list, np.ndarray)):
        n = len(v)
        head = [x.item() if hasattr(x, "item") else x for x in list(v[:4])]
        return "[%s%s] (%d)" % (", ".join(repr(x) for x in head), ", ..." if n > 4 else "", n)
    return repr(v)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: gguf.py FILE.gguf\n")
        return 2
    try:
        g = open_gguf(argv[0])
    except GGUFError as e:
        sys.stderr.write("gguf.py: error: %s\n" % e)
        return 1
    print("GGUF version %d, alignment %d, %d metadata, %d tensors"
          % (g.version, g.alignment, len(g.kv), len(g.tensors)))
    for k in g.kv:
        print("  %-40s %-10s %s" % (k, g.kv_type[k], _short(g.kv[k])))
    for t in g.tensors.values():
        print("  %-32s %-7s %s" % (t.name, t.type_name, list(t.dims)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
