"""Model files read with suspicion: every entry's header (dtype, shape, size) is checked before its numbers are read.

A model file comes from somewhere else. `read_npz` opens an .npz (a zip of .npy files) and reads each member's
small header first; a member whose key the model does not have, whose shape is not the model's, or whose dtype is
not real numbers is refused by file and key before a single byte of its data is allocated (a 9 MB file can hold a
1.5 GiB array of zeros). `check_entry` is the per-entry rule, shared by every format that has headers.
"""

import zipfile
import zlib

import numpy as np


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
    """{key: (dtype, shape)} of every member of the .npz at `path`, each checked by `check_entry`, no data read."""
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
    """The arrays stored under `keys` in the .npz at `path` (their headers already checked by `read_headers`)."""
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
