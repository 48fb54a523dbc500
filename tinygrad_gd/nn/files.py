"""Model files read with suspicion: every entry's header (dtype, shape, size) is checked before its numbers are read.

A model file comes from somewhere else. `read_headers` reads only the headers of an .npz (a zip of .npy files,
each with a small header) or a .safetensors file (one JSON header); nn.load compares them with the model, and
`read_arrays` then reads only the entries the model has. So an entry whose key the model lacks, whose shape is
not the model's, or whose dtype is not real numbers is refused by file and key before a byte of its data is
allocated (a 9 MB .npz can hold a 1.5 GiB array of zeros). `check_entry` is the per-entry rule of both formats.
"""

import json
import os
import zipfile
import zlib

import numpy as np

# safetensors' dtype names that NumPy holds as real numbers (BF16 and the F8s have no NumPy dtype)
SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32",
                      "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
                      "BOOL": "bool"}


def check_entry(path, key, dtype, shape, nbytes=None):
    """Refuse an entry of a model file that is not an array of real numbers, naming the file and the key.

    Real floats are what weights hold; integers and bools are what a module's buffers may legitimately hold
    (a count of steps, a mask). Complex numbers (whose imaginary part a cast would drop), dates, text, records
    (structured dtypes) and objects are refused. `nbytes`, when the format tells it, must be what shape and dtype
    need: a file that says otherwise is damaged or lying.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "fiub" or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{path}: entry {key!r} has dtype {dtype}, not real numbers (float, or int/bool for a "
                         f"buffer); refusing to load it")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"{path}: entry {key!r} has an invalid shape {shape!r}")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes is not None and nbytes != expected:
        raise ValueError(f"{path}: entry {key!r} says shape {tuple(shape)} of {dtype} ({expected} bytes) but holds "
                         f"{nbytes} bytes: the file is damaged")


def read_headers(path):
    """{key: (dtype, shape)} of every entry of the .npz or .safetensors file at `path`, each checked by
    `check_entry`; no entry's data is read."""
    if os.fspath(path).lower().endswith(".safetensors"):
        return _safetensors_headers(path)
    headers = {}
    with _opened(path) as archive:
        for info in archive.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{path}: member {info.filename!r} is not a .npy array; not a model file")
            with archive.open(info) as member:
                dtype, shape, offset = _header(path, key, member)
            check_entry(path, key, dtype, shape, info.file_size - offset)
            headers[key] = dtype, shape
    return headers


def read_arrays(path, keys):
    """The arrays stored under `keys` in the file at `path` (their headers already checked by `read_headers`)."""
    if os.fspath(path).lower().endswith(".safetensors"):
        try:
            with safetensors_numpy().safe_open(path, framework="numpy") as file:  # reads only these keys
                return {key: file.get_tensor(key) for key in keys}
        except Exception as error:  # SafetensorError: damaged after its header
            raise ValueError(f"{path}: not a complete safetensors file ({error})") from None
    arrays = {}
    with _opened(path) as archive:
        for key in keys:
            with archive.open(key + ".npy") as member:
                try:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
                except (ValueError, EOFError, OSError, zlib.error, zipfile.BadZipFile) as error:
                    raise ValueError(f"{path}: entry {key!r} cannot be read ({error}): the file is damaged") \
                        from None
    return arrays


def safetensors_numpy():
    """safetensors' NumPy API (`save`, and `safe_open` which it imports), lazily: only .safetensors files need it."""
    try:
        import safetensors.numpy
    except ImportError:  # pragma: no cover (a runtime dependency; this is for a broken install)
        raise ImportError("saving or loading .safetensors needs the safetensors package: pip install safetensors") \
            from None
    return safetensors.numpy


def _safetensors_headers(path):
    """A .safetensors file is 8 bytes (the header's length), a JSON header of {key: dtype, shape, offsets}, data."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        length = int.from_bytes(file.read(8), "little")
        if size < 8 or length > size - 8:
            raise ValueError(f"{path}: not a complete safetensors file (its header runs past the end of the file; "
                             f"it may be truncated or of another format)")
        try:
            header = json.loads(file.read(length))
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a safetensors file (its header is not JSON: {error})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (its header is not a table of entries)")
    headers = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            name, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{path}: entry {key!r} has no valid header (dtype, shape, data_offsets)") from None
        if name not in SAFETENSORS_DTYPES:
            raise ValueError(f"{path}: entry {key!r} has dtype {name}, not real numbers NumPy holds (float, or "
                             f"int/bool for a buffer); refusing to load it")
        check_entry(path, key, SAFETENSORS_DTYPES[name], shape, end - begin)
        if not 0 <= begin <= end <= size - 8 - length:
            raise ValueError(f"{path}: not a complete safetensors file (entry {key!r} lies past its end: it is "
                             f"truncated)")
        headers[key] = np.dtype(SAFETENSORS_DTYPES[name]), shape
    return headers


class _opened:
    """The zip archive at `path`, or a ValueError naming the file when it is not a complete .npz."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        try:
            self.archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, EOFError, ValueError) as error:
            raise ValueError(f"{self.path}: not a complete .npz file ({error}); it may be truncated or of another "
                             f"format") from None
        return self.archive

    def __exit__(self, *exc):
        self.archive.close()
        return False


def _header(path, key, member):
    """(dtype, shape, header length) of one .npy member, read from its first few hundred bytes only."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:  # 3.0 exists only for structured dtypes with non-ASCII field names: never a weight
            raise ValueError(f".npy format version {version}")
    except (ValueError, EOFError, OSError, zlib.error, zipfile.BadZipFile, SyntaxError) as error:
        raise ValueError(f"{path}: entry {key!r} has no valid .npy header ({error}): the file is damaged or not "
                         f"a model file") from None
    return dtype, shape, member.tell()
