"""Read NVIDIA's StyleGAN2-ADA network pickles (``ffhq.pkl``, ``network-snapshot-*.pkl``) without running them.

The format (../shared/parity/stylegan2_ada/SPEC.md §1): a plain pickle of a dict ``{G, D, G_ema, augment_pipe,
training_set_kwargs}``. Every network is ``REDUCE(torch_utils.persistence._reconstruct_persistent_obj, (meta,))``
where meta holds the Python source of the network's module (``module_src``), a class name and the module's
``__dict__``; NVIDIA's loader ``exec``s that source. Tensors are ``torch._utils._rebuild_tensor_v2`` over storages
stored as ``torch.storage._load_from_bytes(blob)``, each blob a legacy ``torch.save`` stream of one storage.

Nothing in the file is ever run, imported or compiled:
* the pickle is interpreted by the small pickle machine below, not by Python's unpickler. A GLOBAL resolves
  only through an explicit allow-list (``_outer_globals``) to inert stand-ins; any other name (``os.system``,
  ``dnnlib.tflib.network.Network``, a pickled class ...) is refused with its name before anything is called;
* the persistence call becomes a ``Record(class_name, state)``; ``module_src`` is dropped unread;
* a storage blob's header is checked with a second allow-list (only ``torch.<Type>Storage`` and the one
  persistent-id form of a storage) and its element count against its bytes, then ``torch.load(...,
  weights_only=True)`` decodes it;
* a tensor's (offset, size, stride) is bounds-checked against its storage.

Bounds (a hostile file may be small and claim a lot): at most ``MAX_OPS`` opcodes, strings of at most
``MAX_TEXT`` bytes, and the tensors decoded for a network may not hold more bytes than the file does
(each tensor of a real file carries its own copy of its storage). The opcodes are read through a small
window and storage blobs are kept as (start, stop) spans into the file: only the tensors of the network asked
for (``G_ema``) are checked and decoded, one blob at a time, so a snapshot's G, D and augment pipe cost
neither time nor memory.

What is not read (each refused with a sentence that says so): StyleGAN3 (-t / -r) generators, and the
TensorFlow-era pickles of the original StyleGAN / StyleGAN2 (``dnnlib.tflib.network.Network`` objects).
"""
from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ganstudio.checkpoints.reader import CheckpointError

__all__ = [
    "SOURCE_FORMAT",
    "NetworkStateDict",
    "Record",
    "is_nvlabs_pickle",
    "read_network_pickle",
    "read_nvlabs_pickle",
]

SOURCE_FORMAT = "NVlabs network pickle (read without running its code)"
NETWORK = "G_ema"  # the moving-average generator: the one NVIDIA's generate.py uses

MAX_OPS = 1_000_000      # a 1024 px FFHQ snapshot (G, D, G_ema) has about 33 000
MAX_TEXT = 4_000_000     # bytes in one string; the embedded networks.py is about 40 000
_BIG_BYTES = 1024        # bytes objects at least this long stay in the file as spans (storage blobs)
_MAX_DEPTH = 32          # module nesting (a generator is 5 deep)

PERSISTENCE_VERSION = 6
GENERATOR_CLASSES = frozenset({"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock",
                               "SynthesisLayer", "ToRGBLayer", "FullyConnectedLayer", "Conv2dLayer"})
STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization's MAGIC_NUMBER
_LEGACY_PROTOCOL = 1001


class _Malformed(Exception):
    """The stream is not a well-formed StyleGAN2-ADA pickle (message: what is wrong)."""


class _Damaged(_Malformed):
    """Broken pickle structure (not just an unexpected network)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"its pickle stream is damaged ({what})")


class _Truncated(_Malformed):
    pass


class _Refused(Exception):
    """The stream asks for a global outside the allow-list."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Unsupported(Exception):
    """A real NVlabs network of a kind GAN Studio does not read yet (message: a full sentence)."""


# ---------------------------------------------------------------------------------------------- stand-ins
@dataclass
class Record:
    """An inert stand-in for one ``torch_utils.persistence`` object: its class name and its ``__dict__``
    (``_parameters``, ``_buffers``, ``_modules`` and the plain attributes). The class's source is not kept."""

    class_name: str
    state: dict

    def children(self) -> dict:
        mods = self.state.get("_modules")
        return mods if isinstance(mods, dict) else {}


@dataclass(frozen=True)
class _Span:
    """Bytes of the file (a storage blob), referenced by position instead of read."""

    start: int
    stop: int


@dataclass
class _StorageRef:
    """A storage blob; its header (dtype, element count) is checked when a tensor over it is wanted."""

    blob: bytes | _Span
    dtype: torch.dtype | None = None
    numel: int | None = None


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple
    stride: tuple

    @property
    def numel(self) -> int:
        n = 1
        for s in self.size:
            n *= s
        return n


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty(0, dtype=dtype).element_size()


class _Global:
    """An allow-listed global: what REDUCE (``call``) / NEWOBJ (``new``) may run; None: never callable."""

    def __init__(self, name: str, call: Callable | None = None, new: Callable | None = None) -> None:
        self.name, self.call, self.new = name, call, new


class _EasyDict(dict):
    """dnnlib.util.EasyDict (nested kwargs in ``_init_kwargs``): only its items matter."""

    def build(self, state) -> None:
        if state:
            raise _Malformed("an EasyDict with object state")


class _DType:
    """numpy.dtype(name, align, copy) + BUILD(state): enough to decode numpy scalars."""

    _KINDS = {"f8": "d", "f4": "f", "f2": "e", "i8": "q", "i4": "i", "i2": "h", "i1": "b",
              "u8": "Q", "u4": "I", "u2": "H", "u1": "B", "b1": "?"}

    def __init__(self, name="f8", align=False, copy=True) -> None:
        if not isinstance(name, str) or name not in self._KINDS:
            raise _Malformed(f"a numpy dtype {name!r} GAN Studio does not read")
        self.name, self.order = name, "<"

    def build(self, state) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.order = "<" if state[1] in ("|", "=") else state[1]

    def scalar(self, data) -> Any:
        if not isinstance(data, bytes):
            raise _Malformed("a numpy scalar without its bytes")
        fmt = self.order + self._KINDS[self.name]
        if len(data) != struct.calcsize(fmt):
            raise _Malformed(f"a numpy {self.name} scalar of {len(data)} bytes")
        return struct.unpack(fmt, data)[0]


class _InertArray:
    """numpy.core.multiarray._reconstruct(ndarray, shape, dtype) + BUILD: a numpy array attribute (StyleGAN3
    layers have some). Kept as an opaque marker: no generator GAN Studio reads needs its values."""

    def build(self, state) -> None:
        pass


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, _DType):
        raise _Malformed("a numpy scalar without a dtype")
    return dtype.scalar(data)


def _reconstruct_array(cls, shape=None, dtype=None):
    if not (isinstance(cls, _Global) and cls.name.endswith(".ndarray")):
        raise _Malformed("numpy _reconstruct of something other than an ndarray")
    return _InertArray()


def _reconstruct_persistent(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or meta.get("version") != PERSISTENCE_VERSION:
        kind = meta.get("type") if isinstance(meta, dict) else type(meta).__name__
        version = meta.get("version") if isinstance(meta, dict) else None
        raise _Malformed(f"its torch_utils.persistence record is of type {kind!r}, version {version!r}; GAN "
                         f"Studio reads the StyleGAN2-ADA format ('class' records, version {PERSISTENCE_VERSION})")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise _Malformed("a torch_utils.persistence record without a class name or state")
    # meta["module_src"], the class's Python source, is deliberately never read: not compiled, not run, not kept
    return Record(class_name, state)


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    if not isinstance(storage, _StorageRef):
        raise _Malformed("a tensor without a storage")
    if not (isinstance(offset, int) and offset >= 0 and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(isinstance(v, int) and v >= 0 for v in size + stride)):
        raise _Malformed(f"a tensor with offset {offset!r}, size {size!r}, stride {stride!r}")
    return _TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    if not isinstance(data, _TensorRef):
        raise _Malformed("a parameter without a tensor")
    return data


def _plain_set(items=()):
    items = list(items) if isinstance(items, (list, tuple, set, frozenset)) else None
    if items is None or not all(_atomic(v) for v in items):
        raise _Malformed("a set of something other than plain values")
    return set(items)


def _ordered_dict(items=()):
    out = {}
    for pair in items if isinstance(items, (list, tuple)) else ():
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise _Malformed("an OrderedDict built from something other than pairs")
        _setitem(out, pair[0], pair[1])
    return out


def _atomic(v) -> bool:
    return type(v) in (str, int, float, bool, type(None)) or (type(v) is bytes and len(v) < _BIG_BYTES)


def _setitem(d, k, v) -> None:
    if not isinstance(d, dict):
        raise _Damaged(f"items set on a {type(d).__name__}")
    if not _atomic(k):  # real files use str keys; a hashable tuple key could cost quadratic hashing
        raise _Damaged(f"a dict key of type {type(k).__name__}")
    d[k] = v


# ---------------------------------------------------------------------------------------------- the machine
_STR = struct.Struct
_I1, _U2, _I4, _U4, _U8, _F8 = _STR("<b"), _STR("<H"), _STR("<i"), _STR("<I"), _STR("<Q"), _STR(">d")
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _Source:
    """Random access to a pickle's bytes: in memory, or a file read through a small window, so that the
    storage blobs between the opcodes are skipped, never read (nor mapped: resident file pages count as the
    process's memory)."""

    WINDOW = 64 << 10

    def __init__(self, data: bytes | None = None, fh=None, size: int = 0) -> None:
        self.fh = fh
        self.win = data if data is not None else b""
        self.win_start = 0
        self.size = len(data) if data is not None else size

    def read(self, pos: int, n: int) -> bytes:
        if n < 0 or pos + n > self.size:
            raise _Truncated("the pickle ends in the middle of an opcode")
        off = pos - self.win_start
        if 0 <= off and off + n <= len(self.win):
            return self.win[off:off + n]
        self.fh.seek(pos)
        if n > self.WINDOW:  # a long string (module_src): read once, not kept
            return self.fh.read(n)
        self.win, self.win_start = self.fh.read(self.WINDOW), pos
        return self.win[:n]

    def byte(self, pos: int) -> int:
        off = pos - self.win_start
        if 0 <= off < len(self.win):
            return self.win[off]
        return self.read(pos, 1)[0]


class _Machine:
    """A pickle interpreter for data only: the subset of opcodes plain containers, numbers, strings, bytes,
    memo, GLOBAL (through ``find_global``), REDUCE / NEWOBJ / BUILD (on allow-listed stand-ins only) and
    BINPERSID (through ``persistent_load``) need. INST, OBJ, the extension registry and out-of-band buffers
    are refused. Every opcode consumes at least one byte, and at most ``MAX_OPS`` are run."""

    def __init__(self, src: _Source, find_global: Callable[[str], Any],
                 persistent_load: Callable[[Any], Any] | None = None) -> None:
        self.src = src
        self.find_global = find_global
        self.persistent_load = persistent_load
        self.ops = 0

    # -- reading --------------------------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        data = self.src.read(self.pos, n)
        self.pos += n
        return data

    def _u8(self) -> int:
        b = self.src.byte(self.pos)
        self.pos += 1
        return b

    def _unpack(self, fmt: struct.Struct):
        return fmt.unpack(self._read(fmt.size))[0]

    def _line(self) -> str:
        start = self.pos
        while self._u8() != 0x0A:
            if self.pos - start > 4096:
                raise _Damaged("a text opcode argument longer than 4096 bytes")
        return str(self.src.read(start, self.pos - 1 - start), "utf-8")

    def _text(self, n: int) -> str:
        if n > MAX_TEXT:
            raise _Malformed(f"it holds a string of {n} bytes (more than {MAX_TEXT})")
        return str(self._read(n), "utf-8", "surrogatepass")

    def _bytes(self, n: int):
        if n < _BIG_BYTES:
            return self._read(n)
        if self.pos + n > self.src.size:
            raise _Truncated("the pickle ends in the middle of a bytes object")
        self.pos += n  # a storage blob: remembered where it is, not read
        return _Span(self.pos - n, self.pos)

    # -- running --------------------------------------------------------------------------------------
    def run(self, pos: int = 0) -> tuple[Any, int]:
        """Run one pickle starting at ``pos``; return (its object, the position after its STOP)."""
        self.pos = pos
        try:
            return self._run()
        except (_Malformed, _Refused, _Unsupported):
            raise
        except (IndexError, KeyError, struct.error, UnicodeDecodeError, ValueError, TypeError,
                OverflowError, AttributeError) as exc:
            raise _Damaged(f"{type(exc).__name__} near byte {self.pos}") from None

    def _run(self) -> tuple[Any, int]:
        stack: list = []
        marks: list[int] = []
        memo: dict = {}
        push = stack.append

        def pop_mark() -> list:
            k = marks.pop()
            items = stack[k:]
            del stack[k:]
            return items

        while True:
            self.ops += 1
            if self.ops > MAX_OPS:
                raise _Malformed(f"it runs more than {MAX_OPS} pickle opcodes (a real network pickle has far fewer)")
            op = self._u8()
            if op == 0x68:                                  # h BINGET
                push(memo[self._u8()])
            elif op == 0x94:                                # MEMOIZE
                memo[len(memo)] = stack[-1]
            elif op == 0x52:                                # R REDUCE
                args = stack.pop()
                fn = stack.pop()
                if not isinstance(fn, _Global) or fn.call is None or not isinstance(args, tuple):
                    raise _Damaged(f"a call to {getattr(fn, 'name', type(fn).__name__)}")
                push(fn.call(*args))
            elif op == 0x4B:                                # K BININT1
                push(self._u8())
            elif op == 0x29:                                # ) EMPTY_TUPLE
                push(())
            elif op == 0x6A:                                # j LONG_BINGET
                push(memo[self._unpack(_U4)])
            elif op == 0x28:                                # ( MARK
                marks.append(len(stack))
            elif op == 0x7D:                                # } EMPTY_DICT
                push({})
            elif op == 0x89:                                # NEWFALSE
                push(False)
            elif op == 0x88:                                # NEWTRUE
                push(True)
            elif op == 0x4E:                                # N NONE
                push(None)
            elif op == 0x85:                                # TUPLE1
                stack[-1] = (stack[-1],)
            elif op == 0x86:                                # TUPLE2
                b = stack.pop()
                stack[-1] = (stack[-1], b)
            elif op == 0x87:                                # TUPLE3
                c = stack.pop()
                b = stack.pop()
                stack[-1] = (stack[-1], b, c)
            elif op == 0x74:                                # t TUPLE
                push(tuple(pop_mark()))
            elif op == 0x75:                                # u SETITEMS
                items = pop_mark()
                if len(items) % 2:
                    raise _Damaged("SETITEMS with an odd number of items")
                d = stack[-1]
                for i in range(0, len(items), 2):
                    _setitem(d, items[i], items[i + 1])
            elif op == 0x73:                                # s SETITEM
                v = stack.pop()
                k = stack.pop()
                _setitem(stack[-1], k, v)
            elif op == 0x8C:                                # SHORT_BINUNICODE
                push(self._text(self._u8()))
            elif op == 0x58:                                # X BINUNICODE
                push(self._text(self._unpack(_U4)))
            elif op == 0x8D:                                # BINUNICODE8
                push(self._text(self._unpack(_U8)))
            elif op == 0x43:                                # C SHORT_BINBYTES
                push(self._bytes(self._u8()))
            elif op == 0x42:                                # B BINBYTES
                push(self._bytes(self._unpack(_U4)))
            elif op == 0x8E:                                # BINBYTES8
                push(self._bytes(self._unpack(_U8)))
            elif op == 0x4A:                                # J BININT
                push(self._unpack(_I4))
            elif op == 0x4D:                                # M BININT2
                push(self._unpack(_U2))
            elif op in (0x8A, 0x8B):                        # LONG1, LONG4
                n = self._u8() if op == 0x8A else self._unpack(_I4)
                if not 0 <= n <= 1024:
                    raise _Damaged(f"an integer of {n} bytes")
                push(int.from_bytes(self._read(n), "little", signed=True))
            elif op == 0x47:                                # G BINFLOAT
                push(self._unpack(_F8))
            elif op == 0x49:                                # I INT (protocol 0; "00"/"01" are booleans)
                line = self._line()
                push({"00": False, "01": True}[line] if line in ("00", "01") else int(line))
            elif op == 0x4C:                                # L LONG
                push(int(self._line().rstrip("L")))
            elif op == 0x46:                                # F FLOAT
                push(float(self._line()))
            elif op == 0x5D:                                # ] EMPTY_LIST
                push([])
            elif op == 0x8F:                                # EMPTY_SET
                push(set())
            elif op == 0x6C:                                # l LIST
                push(pop_mark())
            elif op == 0x64:                                # d DICT
                items = pop_mark()
                if len(items) % 2:
                    raise _Damaged("DICT with an odd number of items")
                d = {}
                for i in range(0, len(items), 2):
                    _setitem(d, items[i], items[i + 1])
                push(d)
            elif op == 0x61:                                # a APPEND
                v = stack.pop()
                if not isinstance(stack[-1], list):
                    raise _Damaged("APPEND to something other than a list")
                stack[-1].append(v)
            elif op == 0x65:                                # e APPENDS
                items = pop_mark()
                if not isinstance(stack[-1], list):
                    raise _Damaged("APPENDS to something other than a list")
                stack[-1].extend(items)
            elif op == 0x90:                                # ADDITEMS
                items = pop_mark()
                if not isinstance(stack[-1], set) or not all(_atomic(v) for v in items):
                    raise _Damaged("ADDITEMS of something other than plain values to a set")
                stack[-1].update(items)
            elif op == 0x91:                                # FROZENSET
                items = pop_mark()
                if not all(_atomic(v) for v in items):
                    raise _Damaged("a frozenset of something other than plain values")
                push(frozenset(items))
            elif op == 0x30:                                # 0 POP
                if marks and len(stack) == marks[-1]:
                    marks.pop()
                else:
                    stack.pop()
            elif op == 0x31:                                # 1 POP_MARK
                pop_mark()
            elif op == 0x32:                                # 2 DUP
                push(stack[-1])
            elif op == 0x71:                                # q BINPUT
                memo[self._u8()] = stack[-1]
            elif op == 0x72:                                # r LONG_BINPUT
                memo[self._unpack(_U4)] = stack[-1]
            elif op == 0x70:                                # p PUT
                memo[int(self._line())] = stack[-1]
            elif op == 0x67:                                # g GET
                push(memo[int(self._line())])
            elif op == 0x63:                                # c GLOBAL
                module = self._line()
                push(self._global(module, self._line()))
            elif op == 0x93:                                # STACK_GLOBAL
                name = stack.pop()
                module = stack.pop()
                if not (isinstance(module, str) and isinstance(name, str)):
                    raise _Damaged("STACK_GLOBAL without a module and a name")
                push(self._global(module, name))
            elif op == 0x81:                                # NEWOBJ
                args = stack.pop()
                cls = stack.pop()
                if not isinstance(cls, _Global) or cls.new is None or not isinstance(args, tuple):
                    raise _Damaged(f"an object of {getattr(cls, 'name', type(cls).__name__)} created")
                push(cls.new(*args))
            elif op == 0x62:                                # b BUILD
                state = stack.pop()
                build = getattr(stack[-1], "build", None)
                if not callable(build) or isinstance(stack[-1], _Global):
                    raise _Damaged(f"object state set on a {type(stack[-1]).__name__}")
                build(state)
            elif op == 0x51:                                # Q BINPERSID
                pid = stack.pop()
                if self.persistent_load is None:
                    raise _Damaged("a persistent id where none belongs")
                push(self.persistent_load(pid))
            elif op == 0x80:                                # PROTO
                if self._u8() > 5:
                    raise _Damaged("an unknown pickle protocol")
            elif op == 0x95:                                # FRAME: framing does not matter to random access
                self._read(8)
            elif op == 0x2E:                                # . STOP
                if len(stack) != 1 or marks:
                    raise _Damaged("the pickle stops with a malformed stack")
                return stack[0], self.pos
            else:
                raise _Damaged(f"pickle opcode {bytes([op])!r} (a network pickle has no use for it)")

    def _global(self, module: str, name: str):
        module = _MODULE_ALIASES.get(module, module)
        return self.find_global(f"{module}.{name}")


# ---------------------------------------------------------------------------------------------- storages
def _storage_global(full: str):
    module, _, name = full.rpartition(".")
    if module != "torch" or name not in STORAGE_DTYPES:
        raise _Refused(full)
    return STORAGE_DTYPES[name]


def _storage_persid(pid):
    if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)
            and isinstance(pid[2], str) and isinstance(pid[4], int) and pid[4] >= 0 and pid[5] is None):
        raise _Malformed("a storage blob with an unexpected persistent id")
    return pid


def _storage_header(head: bytes, length: int) -> tuple[torch.dtype, int]:
    """(dtype, numel) of one legacy torch.save storage stream of ``length`` bytes, from its first bytes
    ``head``, checked against that length (SPEC §1.5)."""
    m = _Machine(_Source(head), _storage_global, _storage_persid)
    magic, pos = m.run(0)
    version, pos = m.run(pos)
    info, pos = m.run(pos)
    pid, pos = m.run(pos)
    keys, pos = m.run(pos)
    if magic != _LEGACY_MAGIC or version != _LEGACY_PROTOCOL or not isinstance(info, dict) \
            or info.get("little_endian") is not True or not isinstance(pid, tuple) or keys != [pid[2]]:
        raise _Malformed("a storage blob that is not a torch.save stream of one storage")
    dtype, numel = pid[1], pid[4]
    count = struct.unpack_from("<q", head, pos)[0] if pos + 8 <= len(head) else -1
    if count != numel or length - pos - 8 != numel * _itemsize(dtype):
        raise _Malformed(f"a storage blob whose {numel} elements do not match its {length} bytes")
    return dtype, numel


# ---------------------------------------------------------------------------------------------- the file
class NetworkStateDict(dict):
    """One network's tensors under their official ``state_dict()`` names, in that order, and
    ``extra_hparams``: what the names and shapes cannot say (conv_clamp, float16 blocks ...), read from the
    pickle's records. ``load_model`` adds those to the family's ``detect`` result."""

    def __init__(self, items=(), extra_hparams: dict | None = None, network: str = "") -> None:
        super().__init__(items)
        self.extra_hparams = dict(extra_hparams or {})
        self.network = network


class _NetworkPickle:
    """A parsed pickle over its open file: ``top`` (the top-level object with Records), and tensors decoded
    on request. Use as a context manager; decoded tensors stay valid after it closes."""

    _HEADER = 4096  # a storage blob's five small pickles take about 250 bytes

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "rb")
        try:
            self.size = os.fstat(self._fh.fileno()).st_size
            if self.size == 0:
                raise _Truncated("the file is empty")
            self._decoded: dict[int, torch.UntypedStorage] = {}
            globals_ = _outer_globals(self._load_from_bytes)
            source = _Source(fh=self._fh, size=self.size)
            self.top, _ = _Machine(source, lambda full: _lookup(globals_, full)).run(0)
        except BaseException:
            self._fh.close()
            raise

    def __enter__(self) -> "_NetworkPickle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def _blob(self, blob, limit: int | None = None) -> bytes:
        if isinstance(blob, bytes):
            return blob[:limit]
        self._fh.seek(blob.start)
        n = blob.stop - blob.start
        return self._fh.read(n if limit is None else min(n, limit))

    @staticmethod
    def _load_from_bytes(blob):
        if not isinstance(blob, (_Span, bytes)):
            raise _Malformed("a storage without its bytes")
        return _StorageRef(blob)

    def _check_storage(self, ref: _StorageRef) -> None:
        if ref.dtype is None:
            length = len(ref.blob) if isinstance(ref.blob, bytes) else ref.blob.stop - ref.blob.start
            ref.dtype, ref.numel = _storage_header(self._blob(ref.blob, self._HEADER), length)

    def _decode(self, ref: _StorageRef) -> torch.UntypedStorage:
        key = id(ref)
        if key not in self._decoded:
            data = self._blob(ref.blob)
            try:
                st = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            except Exception as exc:  # header checked already: whatever torch still objects to is damage
                raise _Malformed(f"a storage blob torch cannot read ({str(exc).splitlines()[0][:200]})") from None
            untyped = getattr(st, "_untyped_storage", None)
            if getattr(st, "dtype", None) != ref.dtype or untyped is None or \
                    untyped.nbytes() != ref.numel * _itemsize(ref.dtype):
                raise _Malformed("a storage blob that decodes to something else than its header says")
            self._decoded[key] = untyped
        return self._decoded[key]

    def tensors(self, record: Record, where: str) -> list[tuple[str, torch.Tensor]]:
        """``record``'s tensors in ``state_dict()`` order and naming, decoded (SPEC §1.8 step 3)."""
        refs = _state_refs(record, "", where, 0)
        for name, ref in refs:
            st = ref.storage
            self._check_storage(st)
            last = ref.offset + sum((n - 1) * k for n, k in zip(ref.size, ref.stride)) if ref.numel else -1
            if last >= st.numel:
                raise _Malformed(f"{where}.{name} (size {list(ref.size)}) reaches past its storage "
                                 f"({st.numel} elements)")
        total = sum(ref.numel * _itemsize(ref.storage.dtype) for _, ref in refs)
        size = self.size
        if total > size:  # real files store each tensor's storage whole, once per tensor
            raise _Malformed(f"{where}'s tensors would need {total} bytes but the file has only {size}")
        out = []
        for name, ref in refs:
            t = torch.empty(0, dtype=ref.storage.dtype)
            try:
                t.set_(self._decode(ref.storage), ref.offset, ref.size, ref.stride)
            except RuntimeError as exc:
                raise _Malformed(f"{where}.{name} cannot be laid over its storage ({str(exc)[:200]})") from None
            out.append((name, t))
        return out


def _outer_globals(load_from_bytes: Callable) -> dict[str, _Global]:
    """The allow-list of the outer stream (SPEC §1.8 step 1). Everything else is refused by name."""
    scalar = _Global("numpy.core.multiarray.scalar", call=_numpy_scalar)
    reconstruct = _Global("numpy.core.multiarray._reconstruct", call=_reconstruct_array)
    table = [
        _Global("torch_utils.persistence._reconstruct_persistent_obj", call=_reconstruct_persistent),
        _Global("torch._utils._rebuild_parameter", call=_rebuild_parameter),
        _Global("torch._utils._rebuild_parameter_with_state", call=_rebuild_parameter),
        _Global("torch._utils._rebuild_tensor_v2", call=_rebuild_tensor),
        _Global("torch.storage._load_from_bytes", call=load_from_bytes),
        _Global("collections.OrderedDict", call=_ordered_dict, new=_ordered_dict),
        _Global("numpy.dtype", call=_DType, new=_DType),
        _Global("numpy.ndarray"),
        _Global("dnnlib.util.EasyDict", call=_EasyDict, new=lambda *a: _EasyDict()),
        _Global("builtins.set", call=_plain_set),
        scalar, reconstruct,
    ]
    out = {g.name: g for g in table}
    out["numpy._core.multiarray.scalar"] = scalar  # numpy >= 2 writes numpy._core
    out["numpy._core.multiarray._reconstruct"] = reconstruct
    return out


def _lookup(table: dict, full: str):
    g = table.get(full)
    if g is None:
        raise _Refused(full)
    return g


def _state_refs(record: Record, prefix: str, where: str, depth: int) -> list[tuple[str, _TensorRef]]:
    """Parameters, then persistent buffers, then children, recursively: ``state_dict()`` order."""
    if depth > _MAX_DEPTH:
        raise _Malformed(f"modules nested more than {_MAX_DEPTH} deep")
    state = record.state
    skip = state.get("_non_persistent_buffers_set") or set()
    if not isinstance(skip, (set, frozenset, list, tuple)):
        raise _Malformed(f"{where}{prefix} has a _non_persistent_buffers_set that is not a set")
    out = []
    for group in ("_parameters", "_buffers"):
        entries = state.get(group) or {}
        if not isinstance(entries, dict):
            raise _Malformed(f"{where}{prefix} has a {group} that is not a dict")
        for name, ref in entries.items():
            if ref is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(name, str) or not isinstance(ref, _TensorRef):
                raise _Malformed(f"{where}.{prefix}{name} is not a tensor")
            out.append((prefix + name, ref))
    for name, child in record.children().items():
        if child is None:
            continue
        if not isinstance(name, str) or not isinstance(child, Record):
            raise _Malformed(f"{where}.{prefix}{name} is not a network module")
        out += _state_refs(child, f"{prefix}{name}.", where, depth + 1)
    return out


# ---------------------------------------------------------------------------------------------- the generator
def _walk(record: Record, depth: int = 0):
    if depth > _MAX_DEPTH:
        raise _Malformed(f"modules nested more than {_MAX_DEPTH} deep")
    yield record
    for child in record.children().values():
        if isinstance(child, Record):
            yield from _walk(child, depth + 1)


def _attr(record: Record, name: str, where: str, kinds: tuple):
    if name not in record.state:
        raise _Malformed(f"{where} has no {name!r}")
    value = record.state[name]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise _Malformed(f"{where}.{name} is {value!r}")
    return value


def _child(record: Record, name: str, where: str, class_name: str) -> Record:
    child = record.children().get(name)
    if not isinstance(child, Record) or child.class_name != class_name:
        raise _Malformed(f"{where} has no {class_name} {name!r}")
    return child


def generator_hparams(g: Record, where: str = NETWORK) -> dict:
    """What a StyleGAN2-ADA generator's keys and shapes cannot say, read from its records (SPEC §2.3):
    conv_clamp, the float16 resolutions, the mapping lr multiplier, w_avg_beta and the fused-modconv rule.
    Refuses StyleGAN3 generators and unknown module classes with a sentence."""
    records = list(_walk(g))
    names = {r.class_name for r in records}
    syn = g.children().get("synthesis")
    if "SynthesisInput" in names or (isinstance(syn, Record) and "input" in syn.children()):
        variant = "R" if any(r.state.get("use_radial_filters") is True for r in records) else "T"
        raise _Unsupported(f"its {where} is a StyleGAN3-{variant} (alias-free) generator, which GAN Studio does "
                           "not support yet; StyleGAN2 and StyleGAN2-ADA pickles open")
    if g.class_name != "Generator" or names - GENERATOR_CLASSES:
        other = sorted(names - GENERATOR_CLASSES) or [g.class_name]
        raise _Unsupported(f"its {where} is built from {', '.join(other[:3])}, which is not part of a "
                           "StyleGAN2-ADA generator; GAN Studio does not support this network yet")
    syn = _child(g, "synthesis", where, "SynthesisNetwork")
    mapping = _child(g, "mapping", where, "MappingNetwork")
    resolutions = _attr(syn, "block_resolutions", f"{where}.synthesis", (list, tuple))
    clamps, fp16, archs, fused = set(), [], set(), set()
    for res in resolutions:
        bw = f"{where}.synthesis.b{res}"
        block = _child(syn, f"b{res}", f"{where}.synthesis", "SynthesisBlock")
        archs.add(_attr(block, "architecture", bw, (str,)))
        if _attr(block, "use_fp16", bw, (bool,)):
            fp16.append(_attr(block, "resolution", bw, (int,)))
        fused_default = block.state.get("fused_modconv_default")  # StyleGAN3's StyleGAN2 has it; ADA does not
        if fused_default not in (None, "inference_only", True, False):
            raise _Malformed(f"{bw}.fused_modconv_default is {fused_default!r}")
        fused.add(fused_default)
        for lname, child in block.children().items():
            if isinstance(child, Record) and child.class_name in ("SynthesisLayer", "ToRGBLayer"):
                clamps.add(_attr(child, "conv_clamp", f"{bw}.{lname}", (int, float, type(None))))
                if child.class_name == "SynthesisLayer" and child.state.get("activation", "lrelu") != "lrelu":
                    raise _Unsupported(f"{bw}.{lname} uses the {child.state['activation']!r} activation, which "
                                       "GAN Studio does not support yet")
    if len(clamps) > 1 or len(archs) > 1 or len(fused) > 1:
        raise _Unsupported(f"its {where} mixes conv_clamp / architecture settings between layers, which GAN "
                           "Studio does not support yet")
    fused_default = fused.pop() if fused else None
    fc0 = _child(mapping, "fc0", f"{where}.mapping", "FullyConnectedLayer")
    if fc0.state.get("activation", "lrelu") != "lrelu":
        raise _Unsupported(f"its mapping network uses the {fc0.state['activation']!r} activation, which GAN "
                           "Studio does not support yet")
    beta = mapping.state.get("w_avg_beta")
    return {
        "conv_clamp": clamps.pop() if clamps else None,
        "fp16_resolutions": sorted(fp16),
        "mapping_lr_multiplier": _attr(fc0, "bias_gain", f"{where}.mapping.fc0", (int, float)),
        "w_avg_beta": beta if isinstance(beta, (int, float)) and not isinstance(beta, bool) else None,
        "fused_modconv_default": fused_default,
    }


def read_network_pickle(path, network: str = NETWORK) -> NetworkStateDict:
    """``network``'s tensors (official names, state_dict order) and extra hparams from an NVlabs network
    pickle. Raises CheckpointError with a sentence for anything it will not or cannot read."""
    path = Path(path)
    name = path.name
    try:
        with _NetworkPickle(path) as pk:
            top = pk.top
            if not isinstance(top, dict):
                raise _Malformed(f"it holds a {type(top).__name__}, not the dict of networks a snapshot holds")
            rec = top.get(network)
            if not isinstance(rec, Record):
                nets = [k for k, v in top.items() if isinstance(v, Record)]
                raise _Malformed(f"it holds no {network} network (it has {', '.join(map(str, nets)) or 'none'})")
            extra = generator_hparams(rec, network)
            tensors = pk.tensors(rec, network)
    except _Refused as exc:
        raise CheckpointError(_refusal(name, exc.name)) from None
    except _Truncated as exc:
        raise CheckpointError(f"{name} is truncated ({exc}): the download or copy was cut short. Download it "
                              "again") from None
    except _Malformed as exc:
        raise CheckpointError(f"{name} refused: it is an NVlabs StyleGAN pickle (torch_utils.persistence network "
                              f"records), but {exc}.") from None
    except _Unsupported as exc:
        raise CheckpointError(f"{name} cannot be opened: {exc}.") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {name}: {exc.strerror or exc}") from exc
    return NetworkStateDict(tensors, extra, network)


def is_nvlabs_pickle(path) -> bool:
    """Whether a pickle asks for NVIDIA's modules (dnnlib, torch_utils ...) in its first 64 KB, where network
    pickles name them: such files are read here instead of by torch. Scans opcodes only; runs nothing."""
    from ganstudio.checkpoints.reader import scan_pickle_globals

    with open(path, "rb") as fh:
        head = fh.read(64 << 10)
    return any(_is_nvlabs(g) for g in scan_pickle_globals(head, max_pickles=1))


def _is_nvlabs(global_name: str) -> bool:
    return global_name.startswith(_NVLABS_PREFIXES)


def read_nvlabs_pickle(path) -> tuple[NetworkStateDict, str]:
    """The checkpoint reader's entry point for NVlabs pickles: (G_ema's state dict, source format)."""
    return read_network_pickle(path), SOURCE_FORMAT


def _refusal(name: str, global_name: str) -> str:
    if global_name.startswith("dnnlib.tflib"):
        return (f"{name} refused: it is an NVlabs StyleGAN pickle from the TensorFlow era (it needs "
                f"{global_name}), which GAN Studio does not support yet: unpickling those files runs the Python "
                "code stored inside them, and the safe reader reads only the PyTorch StyleGAN2-ADA format. "
                "Convert it with rosinality's stylegan2-pytorch convert_weight.py and open the .pt it writes")
    if _is_nvlabs(global_name):
        return (f"{name} refused: it is an NVlabs pickle that needs {global_name}, which GAN Studio does not "
                "support yet: it reads the StyleGAN2-ADA network pickles (torch_utils.persistence records) "
                "without running the code inside them, and this file holds something else")
    return (f"{name} refused: besides an NVlabs network it asks for {global_name}, which no StyleGAN2-ADA "
            "pickle needs; unpickling it the usual way would run that, so the file was not opened (it may be "
            "malicious)")


_NVLABS_PREFIXES = ("dnnlib.", "torch_utils.", "legacy.", "training.networks", "training.augment")
