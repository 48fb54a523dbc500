"""Nothing half-done: changes of many weights, and writes of files, happen wholly or not at all.

Two tools, one idea (compute and check everything first, then change things in one move that cannot stop
half-way):

- `commit(writes)` performs a list of prepared writes (`(setattr, w, "data", new)`, `(state.update, new)`, ...)
  in a single call into C: no Python line runs between the first write and the last, so neither Ctrl-C
  (KeyboardInterrupt, which Python delivers only between lines of Python) nor another thread can see or leave
  half of them. The optimizers' `step`, the `load_state_dict`s and the schedulers end with it.
- `write_file(path, data)` writes a file through a temporary file beside it and renames it into place, so a
  reader never sees half a file; the new file gets the old file's permissions, or the umask's for a new one.
  Inside `all_or_nothing()`, the renames wait until the block ends, so a command that writes several files
  writes all of them or none (`tinygrad-gd graph -o g.svg --frames walk.html`).

Errors name the path the user gave, never the temporary file. This module imports nothing from tinygrad_gd.
"""

import collections
import contextlib
import itertools
import operator
import os
import stat
import tempfile
import threading
from pathlib import Path


def commit(writes):
    """Call every `(function, *args)` in `writes`, in order, inside one C call (no line of Python in between).

    Every function must itself be written in C (setattr, dict.update, list.__setitem__, a ufunc with `out`), and
    must not fail: check everything before. Then a KeyboardInterrupt lands wholly before or wholly after.
    """
    collections.deque(itertools.starmap(operator.call, writes), maxlen=0)


_pending = threading.local()  # the open all_or_nothing() block of this thread: [(temporary, path), ...] or None


@contextlib.contextmanager
def all_or_nothing():
    """Write the files of this block only if the whole block succeeds: each `write_file` inside it stages a
    temporary file beside its target, and the renames all happen at the end (none if the block raises)."""
    outer = getattr(_pending, "files", None)
    _pending.files = staged = []
    try:
        yield
    except BaseException:
        for temporary, _ in staged:
            _remove(temporary)
        raise
    finally:
        _pending.files = outer
    if outer is not None:  # nested: the outer block decides
        outer.extend(staged)
        return
    try:
        commit([(os.replace, temporary, path) for temporary, path in staged])  # Ctrl-C cannot split the renames
    except OSError as error:  # very rare once every temporary is written: say which files did get written
        done = ", ".join(str(p) for t, p in staged if not os.path.exists(t)) or "none"
        for temporary, _ in staged:
            _remove(temporary)
        raise _named(error, error.filename2 or staged[-1][1], f"(already written: {done})") from None


def write_file(path, data):
    """Write `data` (bytes, str, or a function that writes into a binary file) to `path`, whole or not at all.

    Returns the path. Refuses a folder and a missing folder by the user's name for them. The file gets the mode
    of the file it replaces, or 0666 less the umask for a new file, as `open()` would give it.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder; give a file name, e.g. {path / 'out'}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _named(error, path) from None
    try:
        with os.fdopen(fd, "wb") as file:
            os.chmod(temporary, mode)  # mkstemp makes 0600: the file must be readable like any other file
            if callable(data):
                data(file)
            else:
                file.write(data.encode() if isinstance(data, str) else data)
        staged = getattr(_pending, "files", None)
        if staged is not None:
            staged.append((temporary, path))
        else:
            os.replace(temporary, path)
    except BaseException as error:
        _remove(temporary)
        if isinstance(error, OSError):
            raise _named(error, path) from None
        raise
    return path


def _umask():
    try:  # Linux tells it without changing it (os.umask sets it, for a moment, for every thread)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
        return umask


def _named(error, path, extra=""):
    """The same kind of OSError, naming the user's path instead of the temporary file."""
    text = f"cannot write {path}: {error.strerror or error}{' ' + extra if extra else ''}"
    return type(error)(error.errno, text) if error.errno is not None else type(error)(text)


def _remove(temporary):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
