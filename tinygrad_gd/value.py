"""The recorder: a Value holds numbers and remembers which operation made it from which Values.

Every arithmetic on Values goes through `apply(op, *inputs)`: it runs the op's forward on the NumPy data and,
when gradients are wanted, records the op and its inputs (`parents`) in the result. That record is the
computation graph; backprop.py walks it. A Value never computes a derivative: `Value.backward` is backprop's.

Data is a NumPy array; a 0-d result is held as a NumPy scalar (np.float64 or np.float32), which NumPy treats as a
0-d array but computes with about ten times faster, so graphs of single numbers stay cheap.
"""

import contextlib
import copy
import itertools
import operator
from threading import get_ident

import numpy as np

from . import backprop, ops

# Whether operations are recorded is per thread, as in PyTorch: one thread's no_grad() never stops another's graph.
# Each open no_grad() block puts its thread's number in this one list (append and remove are atomic), so recording
# is on while the list is empty (one global read, the usual case) or holds no entry of this thread.
_off = []


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` in this thread: whether new operations are recorded for backpropagation."""
    return not _off or get_ident() not in _off


class no_grad(contextlib.ContextDecorator):
    """Stop recording the graph: inside it, results have no parents and in-place updates of weights are allowed.

    Use it for the hiker's step (`with no_grad(): w -= lr * w.grad`) and for evaluation. Works as a decorator,
    written `@no_grad()` or `@no_grad` as in PyTorch. It affects only the thread that enters it (PyTorch's rule).
    """

    def __new__(cls, func=None):
        self = object.__new__(cls)
        return self if func is None or not callable(func) else self(func)  # `@no_grad`, without parentheses

    def __enter__(self):  # nothing is kept in the object, so one object may be entered by many threads at once
        _off.append(get_ident())
        return self

    def __exit__(self, exc_type, exc, traceback):
        _off.remove(get_ident())  # one of this thread's entries: nested blocks of one thread hold equal ones
        return False


DEFAULT_FLOAT = np.dtype(np.float64)  # what Python floats become; dtypes.set_default_dtype switches it


def _dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"Value dtype must be a float, integer or bool type (float64, float32, int64, bool), "
                        f"not {dtype}")
    return dtype


def _check_grad(data, requires_grad):
    if requires_grad and data.dtype.kind != "f":
        raise RuntimeError(f"only floating-point Values can require gradients, not {data.dtype} (as in PyTorch): "
                           f"an integer or bool Value is an index, a label or a mask")


def _as_data(data, dtype=None, default=None):
    """Turn user input into NumPy data: a copied array, or a NumPy scalar for one number.

    Without `dtype`, float arrays keep their dtype and everything else (Python numbers, ints, bools) becomes
    `default`, else the default float: `Value(...)` always holds floats unless a dtype is asked for.
    """
    dtype = None if dtype is None else _dtype(dtype)
    if isinstance(data, Value):
        data = data.data
    if isinstance(data, (str, bytes)):
        raise TypeError(f"a Value holds numbers, not text: got {type(data).__name__} {data!r}")
    try:
        array = np.array(data, copy=True)
    except ValueError as error:  # NumPy's words for ragged nested lists
        raise ValueError(f"a Value needs a rectangular array of numbers, but {_short(data)} is ragged "
                         f"(its nested lists have different lengths)") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(f"a Value holds real numbers, but {_short(data)} has dtype {array.dtype} "
                        f"({type(data).__name__}); convert it to numbers first")
    if dtype is None:
        kept = array.dtype.kind == "f" and isinstance(data, (np.ndarray, np.generic))
        dtype = array.dtype if kept else np.dtype(default or DEFAULT_FLOAT)
    array = array.astype(dtype, copy=False)
    return array[()] if array.ndim == 0 else array


def _short(data):
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def apply(op, *inputs, **params):
    """Run `op` forward on the inputs' data and, if any input requires grad, record the graph edge.

    This is the only place that builds the graph. Each result keeps: `parents` (the inputs), `grad_fn` (the
    shared Op, whose rules know the local derivatives), `params` (axis, exponent, ...) and `saved` (each
    parent's version now, so backward can detect data changed in place since).
    """
    out, x, n = Value.__new__(Value), inputs[0], len(inputs)
    try:  # one and two inputs called directly, without building a list or a dict: this runs once per node
        out.data = (op.forward(x.data, **params) if params else op.forward(x.data)) if n == 1 else \
            op.forward(x.data, inputs[1].data) if n == 2 and not params else \
            op.forward(*[v.data for v in inputs], **params)
    except ValueError as error:
        shapes = " and ".join(str(v.shape) for v in inputs)
        raise ValueError(f"cannot apply '{op.label(params)}' to shapes {shapes}: {error}") from None
    # No params, and parents unchanged, are shared objects: per node, two objects fewer to hold and for the GC to count
    out._grad, out.name, out.version, out.params, out.created = None, None, 0, params or _NO_PARAMS, next(_clock)
    # is_grad_enabled(), written out: this runs once per node, and the call would cost more than the check
    if (not _off or get_ident() not in _off) and (x.requires_grad or inputs[-1].requires_grad or
                                        n > 2 and True in [v.requires_grad for v in inputs]):
        out.requires_grad, out.grad_fn = True, op  # the parents in two slots: a tuple would be one more object per op
        out._x, out._y = (x, None) if n == 1 else (x, inputs[1]) if n == 2 else (inputs, _MANY)
        out.saved = (_UNCHANGED[n] if not x.version and not inputs[-1].version else (x.version,) if n == 1 else
                     (x.version, inputs[1].version)) if n < 3 else tuple([v.version for v in inputs])
    else:  # nothing to differentiate: no parents kept, so the inputs can be freed
        out.requires_grad, out._x, out._y, out.grad_fn, out.saved = False, None, None, None, ()
    return out


_MANY = ("many inputs",)  # _y of a node of 3+ inputs, whose _x holds them all (deepcopy keeps this tuple itself)
_clock = itertools.count()  # numbers the Values in the order they are made (next() is atomic: thread-safe)
_NO_PARAMS, _UNCHANGED = {}, ((), (0,), (0, 0))  # shared: never written (rules get **params copies)


def _constant(x, like):
    """A number, list or array used beside a Value becomes a constant Value (it never requires grad)."""
    if isinstance(x, Value):
        return x
    if type(x) is float or type(x) is int:
        dtype = like.data.dtype  # a bare number takes the Value's dtype, so float32 stays float32 ...
        if dtype.kind != "f" and (type(x) is float or dtype.kind == "b"):  # ... but int64 + 0.5 is a float
            dtype = DEFAULT_FLOAT if type(x) is float else np.dtype(np.int64)
        shared = _SHARED.get((x, dtype))  # `w - 2` in a loop: one constant 2, not a new Value every step
        if shared is None:
            shared = _leaf(dtype.type(x))
            if x and x == x:  # not 0.0, equal to -0.0 as a key but not as a number; not NaN, never found again
                if len(_SHARED) >= 4096:
                    _SHARED.clear()  # a loop over ever new numbers must not hold them all
                shared.params, _SHARED[(x, dtype)] = _FROZEN, shared
        return shared
    return _leaf(_as_data(x, default=like.dtype if like.dtype.kind == "f" else None))


# A constant made from a Python number is shared by every graph using that number (a 100,000-op chain held 2/3 of
# a constant per op, for the garbage collector to scan), and frozen (params _FROZEN): no graph can change another.
_SHARED, _FROZEN = {}, ("a shared constant",)  # (a tuple of a string: deepcopy keeps it, a copy stays frozen)


def _refuse_frozen(value, what):
    if value.params is _FROZEN:
        raise RuntimeError(f"{what} would change the constant {value.data!r}, which is shared by every graph that "
                           f"uses that number (`x * 2` makes no copy of 2); make your own: Value({value.data!r})")


def _leaf(data):
    """A Value around `data` as it is (no copy, no checks): a constant leaf, such as a gradient."""
    out = Value.__new__(Value)
    out.data, out._grad, out.requires_grad, out._x, out._y, out.grad_fn = data, None, False, None, None, None
    out.params, out.saved, out.version, out.name, out.created = None, (), 0, None, next(_clock)
    return out


class Value:
    """A number or an array of numbers that remembers how it was computed.

    >>> w = Value(5.0, requires_grad=True, name="w")
    >>> loss = (w - 2) ** 2
    >>> loss.op, loss.parents[0].op
    ('**2', '-')
    >>> loss.backward()
    >>> w.grad.item()
    6.0
    """

    __slots__ = ("data", "_grad", "requires_grad", "_x", "_y", "grad_fn", "params", "saved", "version", "created",
                 "name", "__weakref__")
    __array_ufunc__ = None  # `array * value` must call Value.__rmul__, not turn the Value into an object array
    _apply = staticmethod(apply)  # how an op called inside a rule (ops.EXP(out)) records itself on Values

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, not {type(name).__name__}")
        self.data = _as_data(data, dtype)
        _check_grad(self.data, requires_grad)
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self._x, self._y, self.grad_fn, self.params, self.saved = None, None, None, None, ()
        self.version = 0  # bumped by every in-place change, so a stale graph is caught in backward
        self.created = next(_clock)  # when it was made: the backward walk visits the newest node first
        self.name = name

    # ---- what a Value is ---------------------------------------------------------------------------------------
    # .data is always an ndarray or a NumPy scalar, and both carry these attributes (np.shape() is 10x slower)
    shape = property(lambda self: self.data.shape, doc="The shape of the data, e.g. () or (2, 3).")
    ndim = property(lambda self: self.data.ndim, doc="The number of axes.")
    dtype = property(lambda self: self.data.dtype, doc="float64 unless you asked for another (`v.dtype == float32`).")
    op = property(lambda self: self.grad_fn.label(self.params) if self.grad_fn else "",
                  doc="The operation that made this Value ('+', '**2', 'matmul', ...), '' for a leaf.")
    is_leaf = property(lambda self: self.grad_fn is None, doc="True for Values you created, not computed.")
    parents = property(lambda self: () if self._x is None else (self._x,) if self._y is None else self._x if type(
        self._x) is tuple else (self._x, self._y), doc="The Values this one was computed from, () for a leaf.")

    @property
    def grad(self):
        """d(score)/d(this Value) after `backward()`, as a Value (PyTorch's `.grad`), or None before.

        A constant leaf (it does not require grad) after a plain `backward()`; after `backward(create_graph=True)`
        a node of the new graph, which can be differentiated again.
        """
        g = self._grad
        if g is not None and type(g) is not Value:  # the walk stores bare arrays (cheap); wrap on the first read
            g = self._grad = _leaf(g)
        return g

    @grad.setter
    def grad(self, g):
        if g is not None and not isinstance(g, (Value, np.ndarray, np.generic)):
            g = _as_data(g, self.dtype)  # `w.grad = 0` or a list, set by hand: checked like any Value's data
        self._grad = g

    def item(self):
        """The single number inside, as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a Value with one element, but this one has shape {self.shape}")
        return self.data.item()

    def numpy(self):
        """The data as a NumPy array (shared, not copied, as in PyTorch, which refuses it for a weight too)."""
        if self.requires_grad:  # a write through the shared array would bypass the version check of backward
            raise RuntimeError("Can't call numpy() on a Value that requires grad. Use .detach().numpy() instead.")
        return np.asarray(self.data)

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """The same numbers, cut from the graph: a new leaf that does not require grad."""
        return _constant(self.data, self)

    def requires_grad_(self, requires_grad=True):
        """Make a leaf a weight (or stop it being one), in place, as PyTorch's `requires_grad_()`."""
        if not self.is_leaf:
            raise RuntimeError(f"requires_grad_() is for leaves; this Value was computed by '{self.op}'. "
                               "Use .detach() to get a leaf with the same numbers.")
        _check_grad(self.data, requires_grad)
        _refuse_frozen(self, "requires_grad_()")
        self.requires_grad = bool(requires_grad)
        return self

    size = property(lambda self: _Size(self.data), doc="PyTorch's `size()`: the shape, `size(dim)` one length.")

    def to(self, dtype):
        """The same numbers as `dtype` (or another Value's dtype): differentiable between floats, else a constant.

        `.to("cpu")` returns the Value itself: everything here lives on the CPU.
        """
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        dtype = _dtype(dtype.dtype if isinstance(dtype, Value) else dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind == "f" and self.dtype.kind == "f":
            return apply(ops.CAST, self, dtype=dtype)
        return _leaf(self.data.astype(dtype))

    def __array__(self, dtype=None, copy=None):
        return np.array(self.data, dtype=dtype, copy=copy) if copy else np.asarray(self.data, dtype=dtype)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Value: it holds one number, not a sequence")
        return len(self.data)

    def __iter__(self):  # without it, Python iterates a 0-d Value by indexing until IndexError: list() gave []
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d Value: it holds one number (use .item())")
        return (self[i] for i in range(len(self.data)))

    def __deepcopy__(self, memo):  # no recursion (a 100,000-deep graph): parents first, numbered anew; ops shared
        for node in backprop.topological_order(self):
            if id(node) not in memo:
                new = memo[id(node)] = Value.__new__(Value)
                for slot in Value.__slots__[:-1]:  # not __weakref__
                    x = getattr(node, slot)
                    setattr(new, slot, x if slot == "grad_fn" or x is _NO_PARAMS or x is _MANY else next(_clock) if
                            slot == "created" else tuple(memo[id(p)] for p in x) if slot == "_x" and type(x) is tuple
                            else memo.get(id(x), x) if slot in ("_x", "_y") else copy.deepcopy(x, memo))
        return memo[id(self)]

    def __bool__(self):
        return bool(self.data)  # NumPy refuses for more than one element, which is the honest answer

    def __float__(self):
        return float(self.item())

    def __repr__(self):
        text = f"Value({_format(self.data)}"
        if self.grad is not None:
            text += f", grad={_format(self.grad)}"
        if self.grad_fn is not None:
            text += f", op='{self.op}'"
        elif self.requires_grad:
            text += ", requires_grad=True"
        if self.dtype != np.float64:
            text += f", dtype={self.dtype}"
        return text + (f", name={self.name!r})" if self.name else ")")

    def _repr_svg_(self):
        """Jupyter shows a Value as the graph that made it (at most viz.MAX_NODES nodes, so it stays readable)."""
        from .viz.render import to_svg  # lazily: most Values are never drawn, and it loads Graphviz

        try:
            return to_svg(self)
        except Exception:  # a notebook should fall back to the text repr, not print a traceback per cell
            return None

    # `loss.backward()` is `backprop.backward(loss)`, the function itself (one call fewer on every step): it fills
    # `.grad` of everything the loss was computed from; with create_graph=True, `w.grad` is a graph of its own
    backward = backprop.backward

    # ---- arithmetic, with NumPy broadcasting ---------------------------------------------------------------------
    # (a Value operand is passed on as it is, without the call into _constant: these run once per node)
    def __add__(self, other):
        return apply(ops.ADD, self, other if type(other) is Value else _constant(other, self))

    def __radd__(self, other):
        return apply(ops.ADD, other if type(other) is Value else _constant(other, self), self)

    def __sub__(self, other):
        return apply(ops.SUB, self, other if type(other) is Value else _constant(other, self))

    def __rsub__(self, other):
        return apply(ops.SUB, other if type(other) is Value else _constant(other, self), self)

    def __mul__(self, other):
        return apply(ops.MUL, self, other if type(other) is Value else _constant(other, self))

    def __rmul__(self, other):
        return apply(ops.MUL, other if type(other) is Value else _constant(other, self), self)

    def __truediv__(self, other):
        return apply(ops.DIV, self, other if type(other) is Value else _constant(other, self))

    def __rtruediv__(self, other):
        return apply(ops.DIV, other if type(other) is Value else _constant(other, self), self)

    def __pow__(self, exponent):
        if isinstance(exponent, (int, float)):
            return apply(ops.POW_SCALAR, self, exponent=exponent)
        return apply(ops.POW, self, _constant(exponent, self))

    def __rpow__(self, base):
        return apply(ops.POW, _constant(base, self), self)

    def __neg__(self):
        return apply(ops.NEG, self)

    def __matmul__(self, other):
        return apply(ops.MATMUL, *_matrices(self, _constant(other, self)))

    def __rmatmul__(self, other):
        return apply(ops.MATMUL, *_matrices(_constant(other, self), self))

    # Comparisons (`<`, `==`, ...) are made below the class from a table; `==` is elementwise, so a Value is
    # hashed by identity (as a PyTorch tensor is; the walk keys nodes by id() anyway).
    __hash__ = object.__hash__

    # ---- elementwise functions -----------------------------------------------------------------------------------
    def exp(self):
        return apply(ops.EXP, self)

    def log(self):
        return apply(ops.LOG, self)

    def sqrt(self):
        return apply(ops.SQRT, self)

    def abs(self):
        """|x|; its derivative at 0 is taken as 0, as in PyTorch."""
        return apply(ops.ABS, self)

    __abs__ = abs

    def tanh(self):
        return apply(ops.TANH, self)

    def sigmoid(self):
        return apply(ops.SIGMOID, self)

    def relu(self):
        """max(x, 0); its derivative at 0 is taken as 0, as in PyTorch."""
        return apply(ops.RELU, self)

    def clip(self, min=None, max=None):  # noqa: A002 (PyTorch's and NumPy's argument names)
        """Limit to [min, max]; the gradient passes only where min < x < max strictly."""
        if min is None and max is None:
            raise ValueError("clip() needs min, max or both")
        return apply(ops.CLIP, self, low=min, high=max)

    def softmax(self, dim=-1, *, axis=None):
        """exp(x) / Σ exp(x) along `dim` (or `axis`), computed without overflow."""
        return apply(ops.SOFTMAX, self, axis=_axis(dim, axis))

    def log_softmax(self, dim=-1, *, axis=None):
        """log(softmax(x)) computed directly, so it stays finite for logits of ±1000."""
        return apply(ops.LOG_SOFTMAX, self, axis=_axis(dim, axis))

    # ---- reductions ----------------------------------------------------------------------------------------------
    # Every axis is PyTorch's `dim` (with `keepdim`) or NumPy's `axis` (with `keepdims`), whichever is written.
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return apply(ops.SUM, self, axis=_axis(dim, axis), keepdims=keepdim or keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return apply(ops.MEAN, self, axis=_axis(dim, axis), keepdims=keepdim or keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """The largest entry; ties share the gradient equally.

        PyTorch's meaning wins: with `dim` this returns `(values, indices)` as `torch.max(x, dim)` does; with
        NumPy's `axis=` it returns the values alone, as `np.max` (and `amax`) do.
        """
        out = apply(ops.MAX, self, axis=_axis(dim, axis), keepdims=keepdim or keepdims)
        return out if dim is None else MinMax((out, self.argmax(dim, keepdim)))

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """The smallest entry; with `dim`, `(values, indices)` as in PyTorch (see max)."""
        out = apply(ops.MIN, self, axis=_axis(dim, axis), keepdims=keepdim or keepdims)
        return out if dim is None else MinMax((out, self.argmin(dim, keepdim)))

    # ---- shape ---------------------------------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return apply(ops.RESHAPE, self, shape=shape)

    def transpose(self, *axes):
        """PyTorch's meaning wins: `transpose(0, 2)` swaps two dims; a tuple (or 3+ axes) is NumPy's permutation."""
        if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
            perm = list(range(self.ndim))
            perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
            axes = perm
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else tuple(axes)
        return apply(ops.TRANSPOSE, self, axes=axes or None)

    T = property(lambda self: self.transpose(), doc="The axes reversed (the matrix transpose for 2-d).")

    def swapaxes(self, axis1, axis2):
        return self.transpose(axis1, axis2)

    def __getitem__(self, index):
        """Indexing as in NumPy; repeated integer indices accumulate their gradients.

        PyTorch's meaning wins where they differ: a plain integer is a basic index, not an index array, so in
        `x[1, :, idx]` the axis of `idx` stays in place (shape (3, k) for x of shape (2, 3, 5)), where NumPy
        would move it first ((k, 3)). Such an index is applied in two steps: the integers, then the arrays.
        """
        index = tuple(_raw(i) for i in index) if isinstance(index, tuple) else _raw(index)
        if isinstance(index, list):
            index = np.asarray(index)
        if isinstance(index, tuple) and any(np.ndim(i) for i in index) and any(_is_int(i) for i in index):
            basic = [[i] if _is_int(i) or i is Ellipsis else [slice(None)] * (np.ndim(i) if np.asarray(i).dtype
                     == bool else i is not None) for i in index]  # a mask spans its ndim axes, None none
            return self[tuple(j for b in basic for j in b)][tuple(i for i in index if not _is_int(i))]
        return apply(ops.GETITEM, self, index=index)

    # ---- in place: the hiker's step ------------------------------------------------------------------------------
    def __iadd__(self, other):
        return self._inplace(operator.iadd, ops.ADD, other)

    def __isub__(self, other):
        return self._inplace(operator.isub, ops.SUB, other)

    def __imul__(self, other):
        return self._inplace(operator.imul, ops.MUL, other)

    def __itruediv__(self, other):
        return self._inplace(operator.itruediv, ops.DIV, other)

    def add_(self, other, alpha=1):
        """`self += alpha * other`, in place (PyTorch's add_): the rules of `-=` below, and never recorded."""
        return self._unrecorded("add_", other)._inplace(operator.iadd, ops.ADD, other if alpha == 1 else alpha * other)

    def mul_(self, other):
        """`self *= other`, in place (PyTorch's mul_)."""
        return self._unrecorded("mul_", other)._inplace(operator.imul, ops.MUL, other)

    def fill_(self, value):
        """Set every entry to `value`, in place (PyTorch's fill_)."""
        return self._unrecorded("fill_", value)._inplace(np.copyto, _FILL, value)

    def zero_(self):
        """Set every entry to 0, in place: `w.grad.zero_()`, as PyTorch users write it."""
        return self.fill_(0.0)

    def _unrecorded(self, name, other):
        # A method call cannot rebind the caller's name the way `x += 1` does, so a change that would have to
        # be recorded out of place is refused rather than silently lost (weights get _inplace's own message).
        if is_grad_enabled() and (self.requires_grad or getattr(other, "requires_grad", False)) and not (
                self.is_leaf and self.requires_grad):
            raise RuntimeError(f"{name}() would change a Value that is part of a graph without recording it; "
                               f"write it out of place (x = x + y), or detach() first")
        return self

    def _inplace(self, compute, op, other):
        """`w -= step`: change the numbers of *this* Value, keeping its identity (an optimizer holds it).

        Under no_grad() (or when nothing involved requires grad) the data changes in place and `version` goes
        up. Outside no_grad() a weight (a leaf requiring grad) refuses: its change would not be recorded. Any
        other Value that is part of a graph is recomputed out of place and recorded, like `w = w - step`.
        """
        if is_grad_enabled() and (self.requires_grad or getattr(other, "requires_grad", False)):
            if self.is_leaf and self.requires_grad:
                raise RuntimeError(
                    "an in-place update of a weight (a Value with requires_grad=True) outside no_grad() would "
                    "not be recorded in the graph. Write the step as `with no_grad(): w -= lr * w.grad`.")
            return apply(op, self, _constant(other, self))
        if self.params is _FROZEN:
            _refuse_frozen(self, "an in-place update")
        # Nothing is recorded, so numbers and arrays are used as they are (no copy); lists etc. are checked.
        other = other.data if type(other) is Value else other if isinstance(
            other, (np.ndarray, np.generic, float, int)) else _constant(other, self).data
        shape, data = getattr(other, "shape", ()), self.data  # a Python number has no shape (np.shape: 0.35 µs)
        if shape != data.shape and np.broadcast_shapes(data.shape, shape) != data.shape:
            raise ValueError(f"in-place update cannot change the shape: the Value has shape {self.shape}, "
                             f"the other operand {shape} (broadcast result {np.broadcast_shapes(self.shape, shape)})")
        if isinstance(data, np.ndarray) and data.base is None and data.flags.writeable:
            compute(data, other)  # ndarray's -= writes into the same memory
        else:  # a scalar, or a view into another Value's data (mutating it would corrupt that Value)
            new = op.forward(data, other)
            if type(new) is not type(data) or type(new) is np.ndarray and new.dtype != data.dtype:
                new = np.asarray(new, dtype=self.dtype)
                new = new[()] if new.ndim == 0 else new
            self.data = new
        self.version += 1
        return self


def _is_int(i):
    return isinstance(i, (int, np.integer)) and not isinstance(i, bool)


class _Size(int):
    """`v.size()` is the shape and `v.size(dim)` one length, as PyTorch's method; read without calling, it is still
    NumPy's count of elements (`v.size == v.numel()`), so NumPy-style code keeps working."""

    def __new__(cls, data):
        self = super().__new__(cls, data.size)
        self.shape = data.shape
        return self

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[dim]


class MinMax(tuple):
    """`(values, indices)` from `max(dim)` / `min(dim)`, as PyTorch's `torch.return_types.max`."""

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


class _FILL:  # the one thing fill_ needs of an Op: a forward, for 0-d data (replaced, not written into)
    forward = staticmethod(lambda data, value: np.where(True, value, data))


def _matrices(x, y):
    if x.ndim == 0 or y.ndim == 0:  # NumPy's error is a TypeError about numpy.float64; PyTorch's names the rule
        raise ValueError(f"matmul (@) needs arrays of at least 1 axis, but got shapes {x.shape} and {y.shape}; "
                         f"multiply numbers with *")
    return x, y


def _raw(x):
    return x.data if isinstance(x, Value) else x


def _axis(dim, axis=None):
    axis = dim if axis is None else axis
    return tuple(axis) if isinstance(axis, list) else axis


def _format(data):
    return np.array2string(np.asarray(data), precision=6, threshold=20, edgeitems=3, separator=", ")


def _comparison(ufunc):
    def compare(self, other):
        if other is None or isinstance(other, str):
            return NotImplemented  # `v == None` is False, as in PyTorch
        return _leaf(ufunc(self.data, _raw(other)))
    return compare


# Comparisons, elementwise, give bool Values (masks: constants that carry no gradient), as in PyTorch; each under
# its operator and PyTorch's method name. Then the elementwise ops of the sheet that take no settings, as methods
# (`x.sin()` is `apply(ops.SIN, x)`); their module functions (`tinygrad_gd.sin(x)`) are made in functional.py.
for _names, _ufunc in {("__eq__", "eq"): np.equal, ("__ne__", "ne"): np.not_equal, ("__lt__", "lt"): np.less,
                       ("__le__", "le"): np.less_equal, ("__gt__", "gt"): np.greater,
                       ("__ge__", "ge"): np.greater_equal, ("__and__", "__rand__"): np.bitwise_and,
                       ("__or__", "__ror__"): np.bitwise_or, ("__xor__", "__rxor__"): np.bitwise_xor}.items():
    for _name in _names:
        setattr(Value, _name, _comparison(_ufunc))
Value.__invert__ = lambda self: _leaf(np.invert(self.data))  # ~mask; & | ^ above combine masks (and integers)
for _op in (ops.SIN, ops.COS, ops.TAN, ops.LOG1P, ops.EXPM1, ops.ERF, ops.FLOOR, ops.CEIL, ops.ROUND, ops.TRUNC,
            ops.SIGN):
    setattr(Value, _op.name, (lambda op: lambda self: apply(op, self))(_op))

Tensor = Value  # PyTorch users' name; there is one class for numbers and arrays
