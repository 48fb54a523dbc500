"""Layers: Values that hold weights, grouped into Modules the hiker can find.

A Module is a bag of weights (Values with requires_grad=True) and of smaller Modules, plus a `forward` that
computes with them. It neither backpropagates nor steps: `parameters()` is the list you hand to an optimizer,
`loss.backward()` (the map) fills their `.grad`, and the optimizer (the hiker) moves them.

>>> from tinygrad_gd import nn
>>> model = nn.MLP([2, 8, 1], rng=0)
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> model([[0.5, -1.0]]).shape
(1, 1)
"""

import os

import numpy as np

from ..atomic import commit, write_file
from ..dtypes import get_default_dtype
from ..ops import LINEAR
from ..random import generator
from ..value import Value, apply
from . import files


def _as_value(x):
    return x if isinstance(x, Value) else Value(x)


def _count(n, name):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a positive int, not {n!r}")
    return int(n)


class Parameter(Value):
    """A weight: a Value a Module lists in `parameters()` even while frozen (`requires_grad_(False)`).

    `Parameter(data)` copies the numbers of an array or a Value into a new leaf with requires_grad=True, as
    PyTorch's `nn.Parameter`. A plain Value with requires_grad=True assigned to a Module is found as well, but
    only a Parameter stays a parameter after it is frozen.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None, name=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)


class Module:
    """The base of every layer: finds its weights, zeroes their gradients, saves and loads them.

    Weights are discovered in the attributes, in PyTorch's order (a module's own weights, then each child's,
    in the order they were assigned). A Parameter (or a Value with requires_grad=True) is a parameter; a Module
    is searched in turn (its names get a `child.` prefix), and so are the items of a list or tuple
    (`layers.0.`). Numbers a layer keeps but does not learn (BatchNorm's running statistics) are *buffers*,
    declared with `register_buffer`. The names are PyTorch's, so a `state_dict()` here has the same keys as the
    same model's in PyTorch. Subclasses write `forward`; calling the module calls it.
    """

    training = True  # a class default, so a subclass that skips super().__init__() still works
    _buffer_names = ()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def register_buffer(self, name, tensor):
        """Keep `tensor` as `self.<name>`: saved in `state_dict()`, never a parameter (running statistics)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise KeyError(f"buffer name must be a Python identifier, not {name!r}")
        setattr(self, name, tensor)
        if name not in self._buffer_names:
            self._buffer_names = (*self._buffer_names, name)

    def _items(self):
        """(name, attribute) pairs to search; containers (Sequential, ModuleList) name their layers 0, 1, ..."""
        return vars(self).items()

    def _children(self, prefix=""):
        """Yield (name, Parameter, Value or Module) for the attributes that are weights or layers, in order."""
        for name, item in self._items():
            items = enumerate(item) if isinstance(item, (list, tuple)) else [(None, item)]
            for index, x in items:
                full = prefix + name + ("" if index is None else f".{index}")
                if isinstance(x, (Module, Parameter)) or (isinstance(x, Value) and x.requires_grad):
                    yield full, x

    def add_module(self, name, module):
        """Add a child module under `name` (PyTorch's `add_module`/`register_module`): same as assigning it."""
        if not isinstance(name, str) or not name.isidentifier():
            raise KeyError(f"module name must be a Python identifier, not {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module takes a Module, not {type(module).__name__}")
        setattr(self, name, module)

    register_module = add_module

    def register_parameter(self, name, param):
        """Add a weight under `name` (a Parameter, or None for an absent one such as a missing bias)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise KeyError(f"parameter name must be a Python identifier, not {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter takes an nn.Parameter (or None), not {type(param).__name__}")
        setattr(self, name, param)

    def get_submodule(self, target):
        """The module at a dotted name from named_modules(), e.g. `model.get_submodule("body.0")`."""
        modules = dict(self.named_modules())
        if target not in modules:
            raise AttributeError(f"{type(self).__name__} has no submodule {target!r}")
        return modules[target]

    def apply(self, fn):
        """Call fn(module) on every module inside, children first, then on this one; returns self.

        The idiom for custom initialisation: `model.apply(init_weights)` with a function that looks at the type.
        """
        order, stack, seen = [], [self], set()
        while stack:  # children pushed in order, so reversing the visit gives PyTorch's post-order
            module = stack.pop()
            if id(module) not in seen:
                seen.add(id(module))
                order.append(module)
                stack.extend(module.children())
        for module in reversed(order):
            fn(module)
        return self

    def named_modules(self, prefix=""):
        """Yield (dotted name, module) for this module ('' : itself) and every module inside, each once."""
        seen, stack = set(), [(prefix, self)]
        while stack:  # depth first, without recursion, so deep stacks of layers need no recursion limit
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            inner = [(n, x) for n, x in module._children(name + "." if name else "") if isinstance(x, Module)]
            stack.extend(reversed(inner))

    def named_children(self):
        """Yield (name, module) for the modules directly inside this one."""
        seen = set()
        for name, x in self._children():
            if isinstance(x, Module) and id(x) not in seen:
                seen.add(id(x))
                yield name, x

    def children(self):
        return [x for _, x in self.named_children()]

    def modules(self):
        """This module and every module inside it."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix=""):
        """Yield (dotted name, weight) for every weight, each once (a shared weight under its first name)."""
        seen = set()
        for name, module in self.named_modules(prefix):
            for full, x in module._children(name + "." if name else ""):
                if not isinstance(x, Module) and id(x) not in seen:
                    seen.add(id(x))
                    yield full, x

    def parameters(self):
        """The weights, as a list: what an optimizer needs (`optim.SGD(model.parameters(), lr=0.1)`)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """Yield (dotted name, buffer) for the numbers kept but not learned (BatchNorm's running_mean, ...)."""
        for name, module in self.named_modules(prefix):
            for buffer in module._buffer_names:
                if getattr(module, buffer, None) is not None:
                    yield (name + "." if name else "") + buffer, getattr(module, buffer)

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every weight; frozen weights stay in parameters() and state_dict()."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of the last backward (they would otherwise add up)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        """Set training mode on this module and every module inside it; returns self."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode (`train(False)`): Dropout stops dropping, BatchNorm uses its running statistics."""
        return self.train(False)

    def _state_entries(self):
        """{PyTorch key: (module, attribute name, current numbers)} for every weight and buffer."""
        entries = {}
        for name, module in self.named_modules():
            prefix = name + "." if name else ""
            for full, x in module._children(prefix):
                if not isinstance(x, Module) and full not in entries:
                    entries[full] = (module, full[len(prefix):], x)
            for buffer in module._buffer_names:
                if getattr(module, buffer, None) is not None:
                    entries[prefix + buffer] = (module, buffer, getattr(module, buffer))
        seen, unique = set(), {}
        for key, entry in entries.items():  # a weight shared by two layers is saved once, under its first name
            if id(entry[2]) not in seen:
                seen.add(id(entry[2]))
                unique[key] = entry
        return unique

    def state_dict(self):
        """{name: copy of the numbers} for every weight and buffer, with PyTorch's keys (`0.weight`, ...).

        A snapshot: later training does not change it.
        """
        return {key: np.array(getattr(x, "data", x), copy=True) for key, (_, _, x) in self._state_entries().items()}

    def load_state_dict(self, state, strict=True):
        """Copy the numbers in `state` into the weights and buffers, keeping each weight's identity.

        Everything is checked before anything is written: a missing or unexpected name (with strict=True, the
        default) or a shape mismatch raises ValueError naming them all and leaves the module unchanged. With
        strict=False, missing and unexpected keys are skipped and returned, as PyTorch does:
        `(missing_keys, unexpected_keys)`.
        """
        if not hasattr(state, "keys"):
            raise TypeError(f"state must be a dict of arrays (from state_dict()), not {type(state).__name__}")
        entries = self._state_entries()
        missing, unexpected = self._check_state({k: np.shape(v) for k, v in state.items()}, strict)
        new, writes = {}, []
        for k, (_, _, x) in entries.items():  # may raise (text, complex numbers): nothing is written yet
            if k in state:
                new[k] = _loaded(state[k], x, k, f"cannot load state into {type(self).__name__}")
        for k, array in new.items():  # all written in one move: Ctrl-C leaves the old weights or the new
            module, attribute, x = entries[k]
            if isinstance(x, Value):  # a graph built from the old numbers must not be backpropagated any more
                writes += [(setattr, x, "data", array[()] if array.ndim == 0 else array),
                           (setattr, x, "version", x.version + 1)]
            else:
                writes.append((setattr, module, attribute, array))
        commit(writes)
        return missing, unexpected

    def _check_state(self, shapes, strict=True):
        """Compare {key: shape} of a state with this module's; raise naming every problem, else return
        (missing_keys, unexpected_keys)."""
        entries = self._state_entries()
        missing, unexpected = sorted(set(entries) - set(shapes)), sorted(set(shapes) - set(entries))
        mismatched = [f"{k}: file {shapes[k]}, model {np.shape(getattr(x, 'data', x))}"
                      for k, (_, _, x) in entries.items()
                      if k in shapes and tuple(shapes[k]) != np.shape(getattr(x, "data", x))]
        problems = []
        if strict:
            problems += [f"missing keys {missing}"] * bool(missing)
            problems += [f"unexpected keys {unexpected}"] * bool(unexpected)
        problems += [f"shape mismatch ({'; '.join(mismatched)})"] * bool(mismatched)
        if problems:
            raise ValueError(f"cannot load state into {type(self).__name__}: {', '.join(problems)}")
        return missing, unexpected

    def __repr__(self):
        inner = [f"  ({name}): {x!r}".replace("\n", "\n  ") for name, x in self.named_children()]
        return f"{type(self).__name__}(" + ("\n" + "\n".join(inner) + "\n" if inner else self.extra_repr()) + ")"

    def extra_repr(self):
        return ""


def _uniform(rng, bound, shape, name):
    """A weight drawn from U(−bound, bound), named so that graph pictures tell the weight from the bias; in the
    default float (float64, or what set_default_dtype chose), as PyTorch's layers are."""
    return Parameter(rng.uniform(-bound, bound, size=shape), name=name, dtype=get_default_dtype())


class Linear(Module):
    """y = x @ Wᵀ + b, with W of shape (out_features, in_features) as in PyTorch.

    Initialised like PyTorch: W and b uniform in ±1/√in_features (kaiming-uniform with a = √5), so the output
    starts at a scale that neither vanishes nor explodes. `rng` (a seed or np.random.Generator) makes it repeatable;
    without it the weights come from the default generator, which `manual_seed` seeds.
    """

    def __init__(self, in_features, out_features, bias=True, rng=None):
        in_features, out_features = _count(in_features, "in_features"), _count(out_features, "out_features")
        rng, bound = generator(rng), 1 / np.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _uniform(rng, bound, (out_features, in_features), "weight")
        self.bias = _uniform(rng, bound, (out_features,), "bias") if bias else None

    def forward(self, x):
        x = _as_value(x)
        try:  # checked only on failure: the happy path of a training step pays nothing for the message
            if self.bias is None:
                return x @ self.weight.T
            return apply(LINEAR, x, self.weight, self.bias)  # one node: x @ Wᵀ + b
        except ValueError:
            if x.ndim and x.shape[-1] == self.in_features:
                raise
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) expects inputs whose last axis has "
                             f"{self.in_features} features, got shape {x.shape}") from None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Apply layers one after another: Sequential(Linear(2, 8), ReLU(), Linear(8, 1)).

    Its layers are named by position, as in PyTorch: the first Linear's weight is `0.weight`.
    """

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"{type(self).__name__} takes Modules, but argument {i} is {type(layer).__name__}")
        self.layers = list(layers)

    def _items(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)] + \
            [(k, v) for k, v in vars(self).items() if k != "layers"]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self.layers[index]) if isinstance(self, ModuleList) else Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.append takes a Module, not {type(module).__name__}")
        self.layers.append(module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self


class ModuleList(Sequential):
    """A list of layers whose weights the model finds (`layers.0.weight`); you write the loop in forward."""

    def __init__(self, modules=None):
        super().__init__(*(modules or ()))

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward: iterate over it in your own Module's forward")


class ModuleDict(Module):
    """Layers by name, `self.heads = nn.ModuleDict({"digit": nn.Linear(8, 10)})`: weights `heads.digit.weight`."""

    def __init__(self, modules=None):
        self._dict = {}
        for key, module in dict(modules or {}).items():
            self[key] = module

    def _items(self):
        return list(self._dict.items()) + [(k, v) for k, v in vars(self).items() if k != "_dict"]

    def __getitem__(self, key):
        return self._dict[key]

    def __setitem__(self, key, module):
        if not isinstance(key, str) or not isinstance(module, Module):
            raise TypeError(f"ModuleDict maps names (str) to Modules, not {type(key).__name__} to "
                            f"{type(module).__name__}")
        self._dict[key] = module

    def __delitem__(self, key):
        del self._dict[key]

    def __len__(self):
        return len(self._dict)

    def __iter__(self):
        return iter(self._dict)

    def __contains__(self, key):
        return key in self._dict

    def keys(self):
        return self._dict.keys()

    def values(self):
        return self._dict.values()

    def items(self):
        return self._dict.items()

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward: pick its layers by name in your own Module's forward")


class ReLU(Module):
    def forward(self, x):
        return _as_value(x).relu()


class Tanh(Module):
    def forward(self, x):
        return _as_value(x).tanh()


class Sigmoid(Module):
    def forward(self, x):
        return _as_value(x).sigmoid()


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


class MLP(Sequential):
    """Linear layers of the given sizes with an activation between them (none after the last: it gives logits).

    >>> MLP([2, 16, 16, 2]).layers[1]
    ReLU()
    """

    def __init__(self, sizes, activation="relu", rng=None):
        if not isinstance(sizes, (list, tuple)):
            raise TypeError(f"MLP takes one list of layer sizes, e.g. MLP([2, 16, 16, 2]), not sizes={sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got sizes={list(sizes)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        rng = generator(rng)  # one generator for all layers: different layers, one seed
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [Linear(n_in, n_out, rng=rng), ACTIVATIONS[activation]()]
        super().__init__(*layers[:-1])


def _loaded(value, x, key, where):
    """`value` as an array of x's dtype: real numbers only (a float weight takes floats; an int or bool buffer
    takes ints or bools), never a cast that drops an imaginary part or turns text or dates into numbers."""
    array = np.asarray(value)
    target = np.asarray(getattr(x, "data", x)).dtype
    fits = array.dtype.kind in ("f" if target.kind == "f" else "iub") and array.dtype.fields is None
    if not fits:
        raise ValueError(f"{where}: {key} has dtype {array.dtype}, but the model's {key} is {target}"
                         f"{' (real numbers)' if target.kind == 'f' else ''}")
    return np.array(array, dtype=target)


def _is_safetensors(path):
    return os.fspath(path).lower().endswith(".safetensors")


def save(module, path):
    """Write the module's weights and buffers, atomically: a failed save leaves no partial file behind.

    The format follows the extension: `.safetensors` (the format PyTorch's ecosystem loads without pickle,
    `safetensors.torch.load_file`, with PyTorch's key names), anything else `.npz`. Returns the path. The file
    gets the permissions of the file it replaces, or those of the umask (atomic.write_file).
    """
    state = module.state_dict()
    if _is_safetensors(path):
        data = files.safetensors_numpy().save({k: np.array(v, order="C") for k, v in state.items()})  # keeps 0-d
        return write_file(path, data)
    return write_file(path, lambda file: np.savez(file, **state))


def load(module, path):
    """Read weights saved by `save` (or by PyTorch's `safetensors.torch.save_file`) into `module`.

    Names and shapes must match, else nothing changes and the error names every missing, unexpected or
    mis-shaped key. Each entry's header (key, shape, dtype, size) is checked before its numbers are read, so a
    file holding an unexpected or oversized array is refused without reading it; every refusal names the file.
    """
    path = os.fspath(path)
    headers = files.read_headers(path)
    try:
        module._check_state({key: shape for key, (_, shape) in headers.items()})
        module.load_state_dict(files.read_arrays(path, headers))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return module


# The rest of the package (after Module, which it builds on): PyTorch's names, all reachable as nn.<Name>.
from . import functional  # noqa: E402, F401, I001
from .activation import (  # noqa: E402, F401
    CELU, ELU, GELU, PReLU, SELU, Hardsigmoid, Hardswish, Hardtanh, Identity, LeakyReLU, LogSoftmax, Mish, ReLU6,
    SiLU, Softmax, Softplus, Softsign,
)
from .layers import (  # noqa: E402, F401
    AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Dropout, Embedding, Flatten,
    GroupNorm, LayerNorm, MaxPool1d, MaxPool2d, Unflatten,
)
from . import init, utils  # noqa: E402, F401
from .loss import (  # noqa: E402, F401
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
