#!/usr/bin/env python3
"""Write and read `.mamba` weight files (docs/format.md: version 1 for
Mamba-1 / Falcon-Mamba, version 2 for Mamba-2), plus a small safetensors
reader/writer.  Only numpy is needed.

Public functions (used by tools/convert.py, tests and other tools):

    write(path, config, tensors, tokenizer=None, progress=None) -> int (file size)
    read(path) -> (header: dict, tensors: {(role, layer): float32 ndarray})
    f32_to_bf16(a) -> uint16 ndarray      (round to nearest even)
    bf16_to_f32(u) -> float32 ndarray
    read_safetensors(path) -> {name: LazyTensor}
    write_safetensors(path, {name: ndarray}, dtype=None, metadata=None)

`tensors` for write() is a list of (role, layer, array, dtype) where role is
an int or a role name ("in_proj", "A", ...), dtype is "f32", "f16", "bf16",
or (matrices only) "q8", "q4_0", "iq4_nl", "q4_k",
and array is a numpy array or anything with `.shape` that np.asarray() turns
into one (LazyTensor), so large checkpoints are converted one tensor at a time.
"""
import json
import os
import struct

import numpy as np

import q4
import q4k

MAGIC = b"\x89MAMBA\r\n"
FORMAT_VERSION = 1          # what arch 1 and 2 are written as (unchanged files)
FORMAT_VERSION_MAMBA2 = 2   # arch 3: the header grows by the Mamba-2 fields
HEADER_BYTES = 128
HEADER_BYTES_V2 = 160
VERSION_HEADER_BYTES = {1: HEADER_BYTES, 2: HEADER_BYTES_V2}
ENTRY_BYTES = 48
TENSOR_ALIGN = 64
ENDIAN_CHECK = 0x12345678
FLOAT_CHECK = 370.5
NONE_ID = 0xFFFFFFFF

ARCH_MAMBA1 = 1
ARCH_FALCON_MAMBA = 2
ARCH_MAMBA2 = 3
ARCHS = (ARCH_MAMBA1, ARCH_FALCON_MAMBA, ARCH_MAMBA2)

FLAG_CONV_BIAS = 1 << 0
FLAG_IN_PROJ_BIAS = 1 << 1
FLAG_OUT_PROJ_BIAS = 1 << 2
FLAG_LM_HEAD = 1 << 3
FLAG_D_PER_CHANNEL = 1 << 4      # arch 3: D is (d_inner), one per channel (D_has_hdim)
FLAG_NORM_BEFORE_GATE = 1 << 5   # arch 3: RMSNorm(y) * SiLU(z) instead of RMSNorm(y * SiLU(z))
FLAG_GATE_NORM = 1 << 6           # arch 3: the gated RMSNorm (role gate_norm) is present
ARCH3_FLAGS = FLAG_D_PER_CHANNEL | FLAG_NORM_BEFORE_GATE | FLAG_GATE_NORM

# The tensor roles, one line each, as mamba.h's MAMBA__ROLES table (docs/format.md,
# "Roles and shapes"): number, name, one per layer?, a matrix (any weight dtype;
# otherwise f32), the flag bit that must be set for it to be present (0: always),
# and its shape in the named dimensions of dims() below. Everything else about
# roles in this file comes from here.
ROLE_TABLE = (
    (1, "embedding", False, True, 0, ("n_vocab_padded", "d_model")),
    (2, "norm_f", False, False, 0, ("d_model",)),
    (3, "lm_head", False, True, FLAG_LM_HEAD, ("n_vocab_padded", "d_model")),
    (16, "norm", True, False, 0, ("d_model",)),
    (17, "in_proj", True, True, 0, ("in_proj_rows", "d_model")),
    (18, "in_proj_bias", True, False, FLAG_IN_PROJ_BIAS, ("in_proj_rows",)),
    (19, "conv1d", True, False, 0, ("conv_dim", "d_conv")),
    (20, "conv1d_bias", True, False, FLAG_CONV_BIAS, ("conv_dim",)),
    (21, "x_proj", True, True, 0, ("x_proj_rows", "d_inner")),
    (22, "dt_proj", True, True, 0, ("d_inner", "dt_rank")),
    (23, "dt_proj_bias", True, False, 0, ("n_heads",)),       # Mamba-2: dt_bias
    (24, "A", True, False, 0, ("n_heads", "a_cols")),
    (25, "D", True, False, 0, ("d_rows",)),
    (26, "out_proj", True, True, 0, ("d_model", "d_inner")),
    (27, "out_proj_bias", True, False, FLAG_OUT_PROJ_BIAS, ("d_model",)),
    (28, "gate_norm", True, False, FLAG_GATE_NORM, ("d_inner",)),  # Mamba-2 only
)
ROLE_NAMES = {r[0]: r[1] for r in ROLE_TABLE}          # role number -> name
ROLES = {name: num for num, name in ROLE_NAMES.items()}
GLOBAL_ROLES = tuple(r[0] for r in ROLE_TABLE if not r[2])
LAYER_ROLES = tuple(r[0] for r in ROLE_TABLE if r[2] and r[0] != 28)   # arch 1 and 2, in the writer's order
# the per-layer roles of each architecture, in the writer's order
ARCH_LAYER_ROLES = {ARCH_MAMBA1: LAYER_ROLES, ARCH_FALCON_MAMBA: LAYER_ROLES,
                    ARCH_MAMBA2: (16, 17, 18, 19, 20, 23, 24, 25, 28, 26, 27)}
MATRIX_ROLES = tuple(r[0] for r in ROLE_TABLE if r[3])   # may be f16/bf16/q8; all others are f32
# role -> flag bit that must be set for it to be present
OPTIONAL_ROLES = {r[0]: r[4] for r in ROLE_TABLE if r[4]}
_ROLE_SHAPES = {r[0]: r[5] for r in ROLE_TABLE}


def dims(c):
    """The named dimensions of the role shapes, for the config dict c (as
    mamba__role_env in mamba.h: where a shape depends on the architecture)."""
    d = {k: c[k] for k in ("d_model", "d_inner", "d_state", "d_conv", "dt_rank", "n_vocab_padded")}
    if c["arch"] == ARCH_MAMBA2:
        H = c["n_heads"]
        d["conv_dim"] = c["d_inner"] + 2 * c["n_groups"] * c["d_state"]   # x, B, C
        d["in_proj_rows"] = c["d_inner"] + d["conv_dim"] + H              # z, x, B, C, dt
        d["x_proj_rows"] = 0
        d["n_heads"] = H
        d["a_cols"] = 0                                                   # one A a head: a vector
        d["d_rows"] = c["d_inner"] if c.get("d_per_channel") else H
        return d
    # Mamba-1 and Falcon-Mamba: every channel a head of size 1
    d["in_proj_rows"] = 2 * c["d_inner"]                  # x then z
    d["x_proj_rows"] = c["dt_rank"] + 2 * c["d_state"]    # delta, B, C
    d["conv_dim"] = c["d_inner"]
    d["n_heads"] = c["d_inner"]
    d["a_cols"] = c["d_state"]
    d["d_rows"] = c["d_inner"]
    return d

DTYPES = {"f32": 0, "f16": 1, "bf16": 2, "q8": 3, "q4_0": 4, "iq4_nl": 5, "q4_k": 6}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
DTYPE_SIZE = {0: 4, 1: 2, 2: 2}   # bytes per element; q8 (3) is sized by tensor_nbytes()
Q8_BLOCK = 32                     # q8: int8 weights in blocks of 32 along a row, one f16 scale each


def tensor_nbytes(dtype, shape):
    """Bytes a tensor of this dtype number and shape takes in the file.
    q8 (docs/format.md, dtype 3): each row is padded to nb = ceil(cols/32)
    blocks; 32 int8 per block, then one f16 scale per block: rows*nb*34."""
    count = int(np.prod(shape))
    if dtype in (4, 5):   # 4-bit (tools/q4.py): 16 bytes of nibbles + one f16 scale per block of 32
        return q4.nbytes(*shape)
    if dtype == 6:        # q4_k (tools/q4k.py): 144 bytes per super-block of 256
        return q4k.nbytes(*shape)
    if dtype == 3:
        rows, cols = shape
        return rows * ((cols + Q8_BLOCK - 1) // Q8_BLOCK) * (Q8_BLOCK + 2)
    return count * DTYPE_SIZE[dtype]


def q8_quantize(a):
    """(rows, cols) float -> (q: int8 (rows, nb*32), d: float16 (rows, nb)).
    Per block of 32: d = f16(max|w| / 127), q = round(w / d) clipped to
    [-127, 127]. The scale is rounded to f16 *before* the weights are
    divided by it, so the f16 rounding of the scale costs nothing extra: the
    stored q are the best integers for the stored d. Padding is 0."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError("q8 needs a matrix, got shape %s" % (a.shape,))
    rows, cols = a.shape
    nb = (cols + Q8_BLOCK - 1) // Q8_BLOCK
    p = np.zeros((rows, nb * Q8_BLOCK), np.float32)
    p[:, :cols] = a
    blocks = p.reshape(rows, nb, Q8_BLOCK)
    amax = np.abs(blocks).max(axis=2)
    if not np.all(np.isfinite(amax)):
        raise ValueError("q8: the matrix has a NaN or infinite weight")
    with np.errstate(over="ignore"):
        d = (amax / 127.0).astype(np.float16)
    if not np.all(np.isfinite(d)):
        raise ValueError("q8: a weight is too large for an f16 block scale (|w| > 8.3e6)")
    d32 = d.astype(np.float32)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d32 > 0, np.rint(blocks / np.where(d32 > 0, d32, 1)), 0)
    q = np.clip(q, -127, 127).astype(np.int8)
    return q.reshape(rows, nb * Q8_BLOCK), d


def q8_dequantize(q, d, cols):
    """Inverse of q8_quantize: float32 (rows, cols)."""
    rows = q.shape[0]
    nb = d.shape[1]
    w = q.reshape(rows, nb, Q8_BLOCK).astype(np.float32) * d.astype(np.float32)[:, :, None]
    return w.reshape(rows, nb * Q8_BLOCK)[:, :cols]


def role_number(role):
    """Accept a role as int or name; return the int."""
    if isinstance(role, str):
        if role not in ROLES:
            raise ValueError("unknown role %r" % role)
        return ROLES[role]
    if int(role) not in ROLE_NAMES:
        raise ValueError("unknown role %r" % role)
    return int(role)


def expected_shape(role, c):
    """The shape docs/format.md requires for a role, given the config dict c."""
    d = dims(c)
    # a 0 second axis is a vector, as mamba.h's loader reads it (Mamba-2's A)
    return tuple(d[name] for name in _ROLE_SHAPES[role] if name == _ROLE_SHAPES[role][0] or d[name])


# ---------------------------------------------------------------- bf16 / f16

def f32_to_bf16(a):
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even.
    NaNs stay NaN (quiet bit forced so the truncation cannot make them Inf)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32)
    nan = np.isnan(a)
    with np.errstate(over="ignore"):
        rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    quiet = (u >> np.uint32(16)) | np.uint32(0x0040)
    return np.where(nan, quiet, rounded).astype(np.uint16)


def bf16_to_f32(u):
    """bfloat16 bit patterns (uint16) -> float32 (exact)."""
    u = np.ascontiguousarray(u, dtype=np.uint16)
    return (u.astype(np.uint32) << np.uint32(16)).view(np.float32)


def encode(a, dtype):
    """float array -> little-endian bytes in the given storage dtype."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "f32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "f16":
        with np.errstate(over="ignore"):
            return np.ascontiguousarray(a.astype("<f2")).tobytes()
    if dtype == "bf16":
        return f32_to_bf16(a).astype("<u2").tobytes()
    if dtype in ("q4_0", "iq4_nl"):
        return q4.encode(*q4.quantize(a, dtype))
    if dtype == "q4_k":
        return q4k.encode(q4k.quantize(a))
    if dtype == "q8":
        # all rows' int8 blocks first, then all rows' f16 scales (docs/format.md)
        q, d = q8_quantize(a)
        return q.tobytes() + np.ascontiguousarray(d, dtype="<f2").tobytes()
    raise ValueError("unknown dtype %r (use f32, f16, bf16, q8, q4_0, iq4_nl or q4_k)" % (dtype,))


# float32 bytes of a tensor's rows that write() holds at a time: memory stays
# about this much (times the quantiser's temporaries) whatever the model
CHUNK_BYTES = 16 << 20


def row_chunks(arr, shape):
    """arr (a numpy array, a LazyTensor, anything np.asarray takes) as float32
    blocks of whole rows of about CHUNK_BYTES each, in order; a vector as one
    block. A LazyTensor that can read rows alone is read block by block;
    any other source is read once, whole (a torch .bin storage)."""
    if len(shape) != 2:
        yield np.asarray(arr, dtype=np.float32).reshape(shape)
        return
    rows, cols = shape
    step = max(1, CHUNK_BYTES // (4 * max(cols, 1)))
    if getattr(arr, "reads_rows", lambda: False)():
        for r0 in range(0, rows, step):
            yield np.asarray(arr.rows(r0, min(rows, r0 + step)), dtype=np.float32).reshape(-1, cols)
        return
    a = np.asarray(arr, dtype=np.float32).reshape(shape)
    for r0 in range(0, rows, step):
        yield a[r0:r0 + step]


def write_encoded(f, arr, shape, dtype):
    """encode(arr, dtype) written to f a block of rows at a time: the same
    bytes (every encoding is row by row), in the memory of one block. q8 and
    the 4-bit types put all rows' blocks before all rows' scales, so the
    scales (1/17 of the tensor or less) are kept until the end."""
    scales = []
    for a in row_chunks(arr, shape):
        if dtype == "q8":
            q, d = q8_quantize(a)
        elif dtype in ("q4_0", "iq4_nl"):
            q, d = q4.quantize(a, dtype)
        elif dtype == "q4_k":      # scales inside its super-blocks: rows as they come
            f.write(q4k.encode(q4k.quantize(a)))
            continue
        else:
            f.write(encode(a, dtype))
            continue
        f.write(np.ascontiguousarray(q).tobytes())
        scales.append(d)
    if scales:
        f.write(np.ascontiguousarray(np.concatenate(scales), dtype="<f2").tobytes())


def _align(n, a):
    return (n + a - 1) // a * a


def _id(x):
    """Token id for the header: None or negative means 'none'."""
    if x is None or int(x) < 0:
        return NONE_ID
    return int(x)


# ---------------------------------------------------------------- writer

def write(path, config, tensors, tokenizer=None, progress=None):
    """Write a .mamba file.

    config: dict with arch, d_model, n_layer, d_inner, d_state, d_conv, dt_rank,
      n_vocab_padded, n_vocab, norm_eps, and optionally mixer_rms_eps (0),
      bos_id/eos_id/pad_id (None or -1 = none) and flags (checked against the
      tensors; the flags are otherwise derived from which tensors are given).
      Arch 3 (Mamba-2, written as format version 2) also needs n_heads,
      head_dim, n_groups, and takes d_per_channel and norm_before_gate
      (False), dt_min (0) and dt_max (inf); dt_rank must be 0 and
      mixer_rms_eps is the gated RMSNorm's epsilon (0 without that norm).
    tensors: list of (role, layer, array, dtype).
    tokenizer: bytes of the tokenizer section, or None.
    progress: optional callable(done_bytes, total_bytes) called after each tensor.
    Raises ValueError on anything that would make an invalid file.
    Returns the file size in bytes.
    """
    c = dict(config)
    c.setdefault("mixer_rms_eps", 0.0)
    for k in ("arch", "d_model", "n_layer", "d_inner", "d_state", "d_conv", "dt_rank",
              "n_vocab_padded", "n_vocab", "norm_eps"):
        if k not in c:
            raise ValueError("config lacks %s" % k)
    if c["arch"] not in ARCHS:
        raise ValueError("unknown arch %r" % c["arch"])
    if not 0 < c["n_vocab"] <= c["n_vocab_padded"]:
        raise ValueError("n_vocab %d not in 1..n_vocab_padded (%d)" % (c["n_vocab"], c["n_vocab_padded"]))
    mamba2 = c["arch"] == ARCH_MAMBA2
    if mamba2:
        for k in ("n_heads", "head_dim", "n_groups"):
            if not isinstance(c.get(k), int) or c[k] <= 0:
                raise ValueError("config lacks a positive %s (arch 3)" % k)
        c.setdefault("dt_min", 0.0)
        c.setdefault("dt_max", float("inf"))
        if c["n_heads"] * c["head_dim"] != c["d_inner"]:
            raise ValueError("n_heads %d * head_dim %d != d_inner %d" % (c["n_heads"], c["head_dim"], c["d_inner"]))
        if c["n_heads"] % c["n_groups"]:
            raise ValueError("n_groups %d does not divide n_heads %d" % (c["n_groups"], c["n_heads"]))
        if c["dt_rank"] != 0:
            raise ValueError("dt_rank must be 0 for arch 3")
        if not 0.0 <= c["dt_min"] < c["dt_max"]:
            raise ValueError("dt limits (%r, %r) are not 0 <= min < max" % (c["dt_min"], c["dt_max"]))
    else:
        for k in ("n_heads", "head_dim", "n_groups", "d_per_channel", "norm_before_gate", "dt_min", "dt_max"):
            if c.get(k):
                raise ValueError("%s is an arch 3 field" % k)

    # Normalise and check every entry; put them in the writer's canonical order.
    items = {}
    for role, layer, arr, dtype in tensors:
        role = role_number(role)
        layer = int(layer)
        if dtype not in DTYPES:
            raise ValueError("unknown dtype %r (use f32, f16, bf16, q8, q4_0, iq4_nl or q4_k)" % (dtype,))
        if dtype != "f32" and role not in MATRIX_ROLES:
            raise ValueError("%s must be f32, got %s" % (ROLE_NAMES[role], dtype))
        if role in GLOBAL_ROLES:
            if layer != 0:
                raise ValueError("%s must have layer 0" % ROLE_NAMES[role])
        elif not 0 <= layer < c["n_layer"]:
            raise ValueError("%s layer %d out of range" % (ROLE_NAMES[role], layer))
        shape = tuple(int(s) for s in arr.shape)
        want = expected_shape(role, c)
        if shape != want:
            raise ValueError("%s (layer %d): shape %s, expected %s" % (ROLE_NAMES[role], layer, shape, want))
        if (role, layer) in items:
            raise ValueError("%s (layer %d) given twice" % (ROLE_NAMES[role], layer))
        items[(role, layer)] = (arr, dtype, shape)

    flags = 0
    for role, bit in OPTIONAL_ROLES.items():
        if (role, 0) in items:
            flags |= bit
    if c.get("d_per_channel"):
        flags |= FLAG_D_PER_CHANNEL
    if c.get("norm_before_gate"):
        if not flags & FLAG_GATE_NORM:
            raise ValueError("norm_before_gate without the gated norm (gate_norm)")
        flags |= FLAG_NORM_BEFORE_GATE
    if "flags" in c and c["flags"] is not None and int(c["flags"]) != flags:
        raise ValueError("config flags 0x%x disagree with the tensors given (0x%x)" % (c["flags"], flags))
    if mamba2 and not (flags & FLAG_GATE_NORM) and c["mixer_rms_eps"] != 0.0:
        raise ValueError("mixer_rms_eps must be 0 without the gated norm")
    if mamba2 and flags & FLAG_GATE_NORM and not 0.0 < c["mixer_rms_eps"] < 1.0:
        raise ValueError("the gated norm's eps (mixer_rms_eps) must be in (0, 1)")

    layer_roles = ARCH_LAYER_ROLES[c["arch"]]
    for role, layer in items:
        if role not in GLOBAL_ROLES and role not in layer_roles:
            raise ValueError("%s is not a tensor of arch %d" % (ROLE_NAMES[role], c["arch"]))
    order = [(1, 0)]
    for i in range(c["n_layer"]):
        order += [(r, i) for r in layer_roles]
    order += [(2, 0), (3, 0)]
    for key in order:
        role, layer = key
        needed = role not in OPTIONAL_ROLES or (flags & OPTIONAL_ROLES[role])
        if needed and key not in items:
            raise ValueError("missing %s (layer %d)" % (ROLE_NAMES[role], layer))
        if not needed and key in items:
            raise ValueError("%s (layer %d) given but flags do not call for it" % (ROLE_NAMES[role], layer))
    order = [k for k in order if k in items]
    if len(order) != len(items):
        raise ValueError("unexpected tensors given")

    # Layout: header, directory, tokenizer (8-aligned), tensors (64-aligned).
    version = FORMAT_VERSION_MAMBA2 if mamba2 else FORMAT_VERSION
    tensors_offset = VERSION_HEADER_BYTES[version]
    pos = tensors_offset + ENTRY_BYTES * len(order)
    tok_off, tok_len = 0, 0
    if tokenizer is not None:
        tokenizer = bytes(tokenizer)
        tok_off, tok_len = _align(pos, 8), len(tokenizer)
        pos = tok_off + tok_len
    layout = []
    for key in order:
        arr, dtype, shape = items[key]
        nbytes = tensor_nbytes(DTYPES[dtype], shape)
        pos = _align(pos, TENSOR_ALIGN)
        layout.append((key, arr, dtype, shape, pos, nbytes))
        pos += nbytes
    file_bytes = pos

    header = bytearray(VERSION_HEADER_BYTES[version])
    struct.pack_into("<8sIIIfQIIIIIIIIIIffIIIIQQQQ", header, 0,
                     MAGIC, version, len(header), ENDIAN_CHECK, FLOAT_CHECK, file_bytes,
                     c["arch"], flags, c["d_model"], c["n_layer"], c["d_inner"], c["d_state"],
                     c["d_conv"], c["dt_rank"], c["n_vocab_padded"], c["n_vocab"],
                     float(c["norm_eps"]), float(c["mixer_rms_eps"]),
                     _id(c.get("bos_id")), _id(c.get("eos_id")), _id(c.get("pad_id")),
                     len(order), tensors_offset, tok_off, tok_len, 0)
    if mamba2:
        struct.pack_into("<IIIff", header, HEADER_BYTES, c["n_heads"], c["head_dim"], c["n_groups"],
                         float(c["dt_min"]), float(c["dt_max"]))
    directory = bytearray()
    for (role, layer), arr, dtype, shape, off, nbytes in layout:
        dims = list(shape) + [0] * (4 - len(shape))
        directory += struct.pack("<IIII4IQQ", role, layer, DTYPES[dtype], len(shape), *dims, off, nbytes)

    total = sum(item[5] for item in layout)
    done = 0
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(directory)
            if tokenizer is not None:
                f.write(b"\0" * (tok_off - f.tell()))
                f.write(tokenizer)
            for (role, layer), arr, dtype, shape, off, nbytes in layout:
                f.write(b"\0" * (off - f.tell()))
                start = f.tell()
                if isinstance(arr, Encoded) and arr.dtype == dtype:
                    f.write(arr.data)        # already this dtype's bytes (e.g. a GGUF Q4_0 matrix)
                else:
                    write_encoded(f, arr, shape, dtype)
                assert f.tell() - start == nbytes
                done += nbytes
                if progress is not None:
                    progress(done, total)
            assert f.tell() == file_bytes
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return file_bytes


# ---------------------------------------------------------------- reader

def read(path):
    """Read a .mamba file back. Returns (header, tensors): header is a dict of
    the header fields (ids of 0xFFFFFFFF become -1) plus 'tokenizer' (bytes or
    None) and 'dtypes' {(role, layer): "f32"|"f16"|"bf16"|"q8"}; tensors maps
    (role, layer) -> float32 ndarray of the stored shape. Raises ValueError on
    a malformed file (the checks are a subset of the C loader's)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER_BYTES:
        raise ValueError("file too short for a header")
    fields = struct.unpack_from("<8sIIIfQIIIIIIIIIIffIIIIQQQQ", data, 0)
    names = ("magic", "format_version", "header_bytes", "endian_check", "float_check", "file_bytes",
             "arch", "flags", "d_model", "n_layer", "d_inner", "d_state", "d_conv", "dt_rank",
             "n_vocab_padded", "n_vocab", "norm_eps", "mixer_rms_eps", "bos_id", "eos_id", "pad_id",
             "n_tensors", "tensors_offset", "tokenizer_offset", "tokenizer_bytes", "reserved")
    h = dict(zip(names, fields))
    if h["magic"] != MAGIC:
        raise ValueError("bad magic")
    if VERSION_HEADER_BYTES.get(h["format_version"]) != h["header_bytes"] or len(data) < h["header_bytes"]:
        raise ValueError("unsupported version/header size")
    h.update(n_heads=0, head_dim=0, n_groups=0, dt_min=0.0, dt_max=float("inf"))
    if h["format_version"] == 2:
        ext = struct.unpack_from("<IIIffIII", data, HEADER_BYTES)
        h.update(zip(("n_heads", "head_dim", "n_groups", "dt_min", "dt_max"), ext[:5]))
        if any(ext[5:]):
            raise ValueError("reserved version-2 header bytes are not zero")
    if (h["arch"] == ARCH_MAMBA2) != (h["format_version"] == 2):
        raise ValueError("arch %d in a version %d file" % (h["arch"], h["format_version"]))
    if h["endian_check"] != ENDIAN_CHECK or h["float_check"] != FLOAT_CHECK:
        raise ValueError("bad endian/float sentinel")
    if h["file_bytes"] != len(data):
        raise ValueError("file_bytes %d != actual size %d" % (h["file_bytes"], len(data)))
    for k in ("bos_id", "eos_id", "pad_id"):
        if h[k] == NONE_ID:
            h[k] = -1
    h["tokenizer"] = None
    if h["tokenizer_bytes"]:
        o, n = h["tokenizer_offset"], h["tokenizer_bytes"]
        if o % 8 or o + n > len(data):
            raise ValueError("bad tokenizer section")
        h["tokenizer"] = data[o:o + n]
    to, nt = h["tensors_offset"], h["n_tensors"]
    if to % 8 or to + nt * ENTRY_BYTES > len(data):
        raise ValueError("bad tensor directory")
    out, dtypes = {}, {}
    for i in range(nt):
        role, layer, dt, ndim, s0, s1, s2, s3, off, nbytes = struct.unpack_from(
            "<IIII4IQQ", data, to + i * ENTRY_BYTES)
        if dt not in DTYPE_NAMES or ndim not in (1, 2):
            raise ValueError("tensor %d: bad dtype/ndim" % i)
        shape = (s0, s1, s2, s3)[:ndim]
        if dt >= 3 and ndim != 2:
            raise ValueError("tensor %d: %s but not a matrix" % (i, DTYPE_NAMES[dt]))
        if off % TENSOR_ALIGN or nbytes != tensor_nbytes(dt, shape) or off + nbytes > len(data):
            raise ValueError("tensor %d: bad offset/size" % i)
        raw = data[off:off + nbytes]
        if dt == 0:
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dt == 1:
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == 3:
            rows, cols = shape
            nb = (cols + Q8_BLOCK - 1) // Q8_BLOCK
            q = np.frombuffer(raw, dtype=np.int8, count=rows * nb * Q8_BLOCK).reshape(rows, nb * Q8_BLOCK)
            d = np.frombuffer(raw, dtype="<f2", offset=rows * nb * Q8_BLOCK).reshape(rows, nb)
            a = q8_dequantize(q, d, cols)
        elif dt in (4, 5):
            rows, cols = shape
            nb = (cols + Q8_BLOCK - 1) // Q8_BLOCK
            qq = np.frombuffer(raw, dtype=np.uint8, count=rows * nb * 16).reshape(rows, nb * 16)
            d = np.frombuffer(raw, dtype="<f2", offset=rows * nb * 16).reshape(rows, nb)
            a = q4.dequantize(qq, d, cols, DTYPE_NAMES[dt])
        elif dt == 6:
            a = q4k.dequantize(np.frombuffer(raw, dtype=np.uint8), *shape)
        else:
            a = bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
        if (role, layer) in out:
            raise ValueError("tensor (%d, %d) appears twice" % (role, layer))
        out[(role, layer)] = a.reshape(shape)
        dtypes[(role, layer)] = DTYPE_NAMES[dt]
    h["dtypes"] = dtypes
    return h, out


# ---------------------------------------------------------------- safetensors

ST_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}


class LazyTensor(object):
    """A tensor that is read (and turned into float32) only when np.asarray()
    is called on it. `fn` is an optional transform applied after loading."""

    def __init__(self, shape, load, dtype="F32", fn=None, name="", load_rows=None):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.name = name
        self._load, self._fn = load, fn
        self._load_rows = load_rows

    def reads_rows(self):
        """True when rows() reads just those rows from the file (safetensors:
        a mapping of their bytes); otherwise the tensor is read whole."""
        return self._load_rows is not None and self._fn is None

    def rows(self, r0, r1):
        """Rows r0 .. r1-1 as float32 (from the whole tensor when the source
        cannot read rows alone: see reads_rows)."""
        if self.reads_rows():
            return self._load_rows(r0, r1)
        return self.numpy()[r0:r1]

    def numpy(self):
        a = self._load()
        return self._fn(a) if self._fn is not None else a

    def __array__(self, dtype=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def map(self, fn, shape):
        """A new LazyTensor that applies fn after this one loads."""
        return LazyTensor(shape, self.numpy, self.dtype, fn, self.name)


class Encoded(object):
    """A matrix already in a dtype's file bytes, written as it is (a GGUF
    Q4_0 or IQ4_NL matrix kept bit for bit); np.asarray gives its values."""

    def __init__(self, dtype, data, values):
        self.dtype, self.data = dtype, bytes(data)
        self._values = values
        self.shape = tuple(values.shape)

    def __array__(self, dtype=None):
        return self._values if dtype is None else self._values.astype(dtype, copy=False)


class SafetensorsError(ValueError):
    pass


def read_safetensors(path):
    """Parse a .safetensors file's header and return {name: LazyTensor}; the
    data are memory-mapped and converted to float32 on access. Only F32, F16
    and BF16 are accepted. Raises SafetensorsError on a malformed header."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise SafetensorsError("%s: bad safetensors header: file shorter than 8 bytes" % path)
        (hlen,) = struct.unpack("<Q", head)
        if hlen == 0 or hlen > size - 8 or hlen > 100 * 1024 * 1024:
            raise SafetensorsError("%s: bad safetensors header: header length %d does not fit the file (%d bytes)"
                                   % (path, hlen, size))
        try:
            meta = json.loads(f.read(hlen).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise SafetensorsError("%s: bad safetensors header: invalid JSON (%s)" % (path, e))
    if not isinstance(meta, dict):
        raise SafetensorsError("%s: bad safetensors header: not a JSON object" % path)
    base = 8 + hlen
    data_size = size - base
    out = {}
    spans = []
    for name, info in meta.items():
        if name == "__metadata__":
            continue
        try:
            dt, shape, (begin, end) = info["dtype"], list(info["shape"]), info["data_offsets"]
            ok = all(isinstance(x, int) and x >= 0 for x in shape + [begin, end])
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise SafetensorsError("%s: bad safetensors header: entry %s is malformed" % (path, name))
        if dt not in ST_DTYPES:
            raise SafetensorsError("%s: tensor %s has unsupported dtype %s (need F32, F16 or BF16)"
                                   % (path, name, dt))
        npdt, isz = ST_DTYPES[dt]
        count = int(np.prod(shape)) if shape else 1
        if not begin <= end <= data_size or end - begin != count * isz:
            raise SafetensorsError("%s: bad safetensors header: data_offsets [%d, %d] of %s do not fit "
                                   "(shape %s %s, %d data bytes)" % (path, begin, end, name, shape, dt, data_size))
        spans.append((begin, end, name))

        def load(path=path, off=base + begin, npdt=npdt, shape=tuple(shape), dt=dt, count=count):
            if count == 0:
                return np.zeros(shape, np.float32)
            m = np.memmap(path, dtype=npdt, mode="r", offset=off, shape=(count,))
            a = bf16_to_f32(m) if dt == "BF16" else m.astype(np.float32)
            return a.reshape(shape)

        def load_rows(r0, r1, path=path, off=base + begin, npdt=npdt, shape=tuple(shape), dt=dt, isz=isz):
            row = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            n = (r1 - r0) * row
            if n == 0:
                return np.zeros((r1 - r0,) + shape[1:], np.float32)
            m = np.memmap(path, dtype=npdt, mode="r", offset=off + r0 * row * isz, shape=(n,))
            a = bf16_to_f32(m) if dt == "BF16" else m.astype(np.float32)
            return a.reshape((r1 - r0,) + shape[1:])

        out[name] = LazyTensor(shape, load, dt, name=name, load_rows=load_rows if shape else None)
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError("%s: bad safetensors header: %s and %s overlap" % (path, n0, n1))
    return out


def write_safetensors(path, tensors, dtype=None, metadata=None):
    """Write {name: ndarray} as safetensors. dtype None keeps each array's
    dtype (float32/float16); "F32"/"F16"/"BF16" converts all."""
    header, blobs, pos = {}, [], 0
    for name, a in tensors.items():
        a = np.asarray(a)
        dt = dtype or {np.dtype(np.float16): "F16"}.get(a.dtype, "F32")
        if dt == "F32":
            b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        elif dt == "F16":
            b = np.ascontiguousarray(a, dtype="<f2").tobytes()
        elif dt == "BF16":
            b = f32_to_bf16(a).astype("<u2").tobytes()
        else:
            raise ValueError("unknown dtype %r" % dt)
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    if metadata:
        header["__metadata__"] = metadata
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * (-len(hj) % 8)   # pad the header to 8 bytes as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
