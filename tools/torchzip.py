"""torchzip.py - read a pytorch_model.bin without torch, and without running its pickle.

torch.save (PyTorch >= 1.6, the format of every state-spaces/mamba-* checkpoint)
writes a zip archive:

    <name>/data.pkl       the state dict, pickled; each tensor is a call of
                          torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
                          and each storage a persistent id
                          ('storage', torch.FloatStorage, key, location, numel)
    <name>/data/<key>     that storage's raw bytes, little-endian
    <name>/byteorder      'little' (absent in older files, which are little-endian)

The unpickler below knows exactly those names and refuses every other global, so a
hostile file cannot run code (torch.load without weights_only=True would). Tensors
are returned as mambafile.LazyTensor: a storage is read from the zip only when a
tensor of it is converted, as float32.

    read(path) -> {name: LazyTensor}        raises TorchZipError with one line
"""
import collections
import pickle
import zipfile

import numpy as np

import mambafile as mf

# storage class -> (numpy dtype of the raw bytes, dtype name as torch prints it)
STORAGES = {
    "FloatStorage": ("<f4", "torch.float32"),
    "HalfStorage": ("<f2", "torch.float16"),
    "BFloat16Storage": ("<u2", "torch.bfloat16"),   # widened below: numpy has no bf16
    "DoubleStorage": ("<f8", "torch.float64"),
}


class TorchZipError(ValueError):
    pass


class _StorageType(object):
    def __init__(self, name):
        self.name = name


class _Storage(object):
    def __init__(self, zf, prefix, stype, key, numel):
        if not isinstance(stype, _StorageType):
            raise TorchZipError("unexpected storage type %r" % (stype,))
        self.np_dtype, self.torch_dtype = STORAGES[stype.name]
        self.zf, self.member, self.numel = zf, "%sdata/%s" % (prefix, key), int(numel)

    def array(self):
        raw = self.zf.read(self.member)
        a = np.frombuffer(raw, dtype=self.np_dtype)
        if a.size < self.numel:
            raise TorchZipError("%s holds %d elements, the pickle says %d" % (self.member, a.size, self.numel))
        return a


def _to_f32(a, torch_dtype):
    if torch_dtype == "torch.bfloat16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


class _Tensor(object):
    """What _rebuild_tensor_v2 returns: a view (offset, size, stride) of a storage."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.shape, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if len(self.shape) != len(self.stride) or any(s < 0 for s in self.shape + self.stride) or self.offset < 0:
            raise TorchZipError("bad tensor view: size %s stride %s offset %d" % (self.shape, self.stride, self.offset))
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) if all(self.shape) else -1
        if last >= storage.numel:
            raise TorchZipError("tensor view reaches element %d of a %d-element storage" % (last, storage.numel))

    def numpy(self):
        a = self.storage.array()
        n = int(np.prod(self.shape)) if self.shape else 1
        if n == 0:
            return np.zeros(self.shape, np.float32)
        item = a.itemsize
        v = np.lib.stride_tricks.as_strided(a[self.offset:], shape=self.shape,
                                            strides=tuple(s * item for s in self.stride))
        return _to_f32(np.array(v), self.storage.torch_dtype)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, zf, prefix):
        pickle.Unpickler.__init__(self, f)
        self.zf, self.prefix = zf, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in STORAGES:
            return _StorageType(name)
        raise TorchZipError("%s.%s is not something a state dict holds (refused)" % (module, name))

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise TorchZipError("unexpected persistent id %r" % (pid,))
        return _Storage(self.zf, self.prefix, pid[1], pid[2], pid[4])


def is_torch_zip(path):
    return zipfile.is_zipfile(path)


def read(path):
    """{name: LazyTensor float32} of the state dict in a torch.save zip file."""
    try:
        zf = zipfile.ZipFile(path)
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise TorchZipError("no single <name>/data.pkl in the archive")
        prefix = pkls[0][:-len("data.pkl")]
        if prefix + "byteorder" in zf.namelist() and zf.read(prefix + "byteorder").strip() != b"little":
            raise TorchZipError("big-endian tensors are not supported")
        with zf.open(pkls[0]) as f:
            sd = _Unpickler(f, zf, prefix).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
        raise TorchZipError("%s: %s" % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise TorchZipError("%s: does not hold a state dict" % path)
    return {name: mf.LazyTensor(t.shape, t.numpy, t.storage.torch_dtype, name=name)
            for name, t in sd.items() if isinstance(t, _Tensor)}
