"""The hiker: reads `.grad` and takes a step. It never computes a derivative.

Backpropagation (backprop.py) fills every weight's `.grad` with the slope of the score. An optimizer only reads
those slopes and moves the weights downhill, in place: exactly the article's `with no_grad(): w -= lr * w.grad`,
with a memory (momentum, running averages) for the smarter hikers.

The split follows PyTorch: a class keeps the bookkeeping (`param_groups`, `state`, validation, `state_dict`) and a
pure function per algorithm does the math on NumPy arrays, e.g. `sgd_update(param, grad, state, lr=...)`, which
returns the step to subtract and the new state. Every update is computed and checked before any weight is
written, and all are written in one move (atomic.commit): a step that fails (a gradient of the wrong shape, a
complex step) or is interrupted by Ctrl-C leaves every weight and every state wholly before the step or after it.

>>> from tinygrad_gd import Value
>>> w = Value(5.0, requires_grad=True)
>>> opt = SGD([w], lr=0.1)
>>> ((w - 2) ** 2).backward()
>>> opt.step()
>>> w.item()
4.4
"""

import bisect
import copy
import math
import types

import numpy as np

from .atomic import commit
from .value import Value

_REQUIRED = object()  # marks a hyperparameter with no default (SGD's lr)
_SCALAR_STATE = ("step", "mu_product")  # state that is one number per parameter, not an array of its shape
_NO_STATE = types.MappingProxyType({})  # a parameter's state before its first step (read-only: shared by all)


def _check(group, key, ok, what, hint=""):
    if key not in group:
        return
    value = group[key]
    try:  # lr="0.1" or lr=np.array([0.1, 0.2]): NumPy's and Python's complaints name no argument; say which it is
        valid = np.ndim(value) == 0 and not isinstance(value, (bool, str)) and bool(ok(value))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        hint = hint if np.ndim(value) == 0 else f"one number, not an array of shape {np.shape(value)}"
        raise ValueError(f"Invalid {what}: {value!r}" + (f" ({hint})" if hint else ""))


def _write_step(p, step, name):
    """The write `p.data -= step`, checked first: into the same memory when it may, else a new array.

    A step of the parameter's own type, dtype and shape (the usual case) needs none of the checks below. `name`
    is the parameter's index in the optimizer, or its name in words (or a function that makes them): the words
    are made only for an error.
    """
    data, array = p.data, type(p.data) is np.ndarray  # a NumPy scalar's type fixes its dtype and shape
    if type(step) is not type(data) or array and (step.dtype != data.dtype or step.shape != data.shape):
        step = np.asarray(step)
        kind = np.result_type(data, step)
        if not np.can_cast(kind, data.dtype, "same_kind") or np.broadcast_shapes(data.shape, step.shape) != data.shape:
            name = _name(name, p) if isinstance(name, int) else name() if callable(name) else name
            raise TypeError(f"the step for {name} has dtype {step.dtype} and shape {step.shape}, which cannot be "
                            f"written into its {data.dtype} data of shape {data.shape}; no parameter was changed")
    if array and data.base is None and data.flags.writeable:
        return (np.subtract, data, step, data)  # in place, as PyTorch: arrays the user holds see the step
    new = data - step  # a scalar or a view: a new one, of the parameter's type and dtype
    return (setattr, p, "data", new if type(new) is type(data) and (not array or new.dtype == data.dtype) else
            np.asarray(new, dtype=data.dtype)[()])


def _scratch(buffers, p, data):
    """A scratch view for lr·g of weight `p`, kept across steps in `buffers`: one flat buffer per dtype, as large as
    the largest weight, shared by every weight (commit runs each weight's two writes, lr·g then the subtraction,
    before the next weight's). No new array of the weight's size per step: in a big model that would be a fresh
    block of memory to fault in. The same arithmetic as `lr * grad` (tested)."""
    flat = buffers.get(data.dtype)
    if flat is None or flat.size < data.size:
        for key in [key for key, view in buffers.items() if view.dtype == data.dtype]:
            del buffers[key]  # the views into the smaller buffer, and the buffer
        flat = buffers[data.dtype] = np.empty(data.size, data.dtype)
    view = buffers[id(p)] = flat[:data.size].reshape(data.shape)
    return view


class Optimizer:
    """Bookkeeping shared by every hiker: parameter groups, per-parameter state, zero_grad, step, state_dict.

    `params` is a list of Values, or a list of dicts `{"params": [...], "lr": ...}` (param groups), each group
    overriding the defaults with its own hyperparameters. `state[p]` holds what the hiker remembers about `p`
    (keyed by the Value itself: Values hash by identity), with PyTorch's key names.
    """

    update = None  # the pure function: update(param, grad, state, **hyperparameters) -> (step, new_state)

    def __init__(self, params, defaults):
        self._validate({key: value for key, value in defaults.items() if value is not _REQUIRED})
        self.defaults, self.state, self.param_groups = defaults, {}, []
        if isinstance(params, Value):
            raise TypeError("params must be a list of Values (or of param-group dicts), not a single Value: "
                            "write [w] instead of w")
        groups = list(params)
        if not groups:
            raise ValueError("Invalid params: optimizer got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def _validate(self, group):
        """Raise ValueError naming the first invalid hyperparameter (subclasses add their own checks)."""
        _check(group, "lr", lambda v: v >= 0, "learning rate")
        _check(group, "weight_decay", lambda v: v >= 0, "weight_decay value")
        _check(group, "momentum", lambda v: v >= 0, "momentum value")
        _check(group, "eps", lambda v: v >= 0, "epsilon value")

    def add_param_group(self, group):
        """Add a dict `{"params": [...], hyperparameter: value, ...}`; missing hyperparameters take the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a param group must be a dict with a 'params' key, not {type(group).__name__}")
        params = [group["params"]] if isinstance(group["params"], Value) else list(group["params"])
        if not params:
            raise ValueError("Invalid params: a parameter group has an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Value):
                raise ValueError(f"Invalid parameter {i}: an optimizer moves Values, not {type(p).__name__}")
            if not p.is_leaf:  # a frozen weight (requires_grad=False) is accepted and skipped, as in PyTorch
                raise ValueError(f"Invalid parameter {i}: it must be a leaf Value (a weight you created), not one "
                                 f"computed by '{p.op}'")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("Invalid params: a parameter appears more than once (it would be stepped twice)")
        group = {**self.defaults, **group, "params": params}
        missing = [key for key, value in group.items() if value is _REQUIRED]
        if missing:
            raise ValueError(f"{type(self).__name__} needs {missing[0]}: there is no default, because choosing it is "
                             f"the point, e.g. {type(self).__name__}(params, {missing[0]}=0.1)")
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the slopes, so the next backward does not add onto them (PyTorch's default: set to None)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p._grad is None:
                    p._grad = None  # what `p.grad = None` stores, without the setter's checks
                else:
                    p.grad = p.grad.detach().zero_()

    def step(self, closure=None):
        """Move every parameter that has a `.grad` one step. Returns `closure()` if given (it recomputes the loss).

        The step is atomic: every update is computed and checked (a real dtype, the parameter's shape) before
        any weight or state changes, and the writes are made in one move (`atomic.commit`), so a failure or a
        Ctrl-C leaves all the weights before the step or all after it. NaN and infinity are not refused: as
        in PyTorch they are written, and `fit` and `descend` report the divergence they show.
        """
        loss = closure() if closure is not None else None
        update, state, writes, new_states, index = type(self).update, self.state, [], {}, -1
        for group in self.param_groups:
            lr = self._plain_lr(group)  # plain SGD: the step is lr·g, without calling update
            hyper = {key: group[key] for key in self.defaults} if lr is None else None
            for p in group["params"]:
                index += 1
                grad = p._grad  # read bare: `p.grad` would wrap it in a Value, only for this to unwrap it
                if grad is None or not p.requires_grad:
                    continue  # no slope (unused in the loss, zeroed, or frozen): PyTorch skips it too
                grad = grad.data if isinstance(grad, Value) else grad  # NumPy data (numbers are converted when set)
                if grad.dtype.kind not in "biuf":
                    raise TypeError(f"the gradient of {_name(index, p)} has dtype {grad.dtype}: a step must be real; "
                                    f"no parameter was changed")
                if grad.shape != p.data.shape:
                    raise ValueError(f"gradient of shape {grad.shape} does not match its parameter of shape "
                                     f"{p.shape}; no parameter was changed")
                step, new_state = (lr * grad, None) if hyper is None else \
                    update(p.data, grad, state.get(p, _NO_STATE), **hyper)
                writes += (_write_step(p, step, index), (setattr, p, "version", p.version + 1))
                if new_state:
                    new_states[p] = new_state
        commit([*writes, (state.update, new_states)] if new_states else writes)
        return loss

    def _plain_lr(self, group):
        """The learning rate if this group's update is exactly `lr * grad` with no state, else None."""
        return None

    def state_dict(self):
        """PyTorch's layout: parameters are replaced by their index (counting across groups), state copied."""
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        state = {index[id(p)]: copy.deepcopy(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by `state_dict()`; on any mismatch raise and change nothing.

        Types are checked as well as shapes: a hyperparameter must have the kind of its default (a number, a
        flag, a pair), a state's `step` a number of steps, its arrays real numbers of the parameter's shape.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("a loaded optimizer state must be a dict with 'state' and 'param_groups', as "
                             "state_dict() makes it")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        params = [p for g in self.param_groups for p in g["params"]]
        groups = []
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved, strict=True)):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(f"loaded parameter group {i} has {len(theirs['params'])} parameters, the "
                                 f"optimizer's has {len(mine['params'])}")
            if set(self.defaults) - set(theirs):
                raise ValueError(f"loaded parameter group {i} lacks {sorted(set(self.defaults) - set(theirs))}")
            for key in set(mine) & set(theirs) - {"params"}:
                if _kind(theirs[key]) != _kind(mine[key]):
                    raise ValueError(f"loaded parameter group {i} has {key}={theirs[key]!r} ({_kind(theirs[key])}), "
                                     f"but {key} is {_kind(mine[key])}")
            group = {**copy.deepcopy({k: v for k, v in theirs.items() if k != "params"}), "params": mine["params"]}
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
            self._validate(group)
            groups.append(group)
        state = {}
        for i, s in state_dict["state"].items():
            if not isinstance(i, (int, np.integer)) or not 0 <= i < len(params) or not isinstance(s, dict):
                raise ValueError(f"loaded state refers to parameter {i!r}, but the optimizer has {len(params)} "
                                 f"(numbered 0 to {len(params) - 1}, each with a dict of state)")
            p = params[int(i)]
            for key, value in s.items():
                if key in _SCALAR_STATE:
                    if _kind(value) != "a number" or not value >= 0:
                        raise ValueError(f"loaded state '{key}' of parameter {i} is {value!r}: it must be a "
                                         f"number (0 or more)")
                elif np.shape(value) != p.shape or np.asarray(value).dtype.kind not in "biuf":
                    raise ValueError(f"loaded state '{key}' of parameter {i} has shape {np.shape(value)} and dtype "
                                     f"{np.asarray(value).dtype}, the parameter has shape {p.shape} (real numbers)")
            state[p] = {k: v if k in _SCALAR_STATE else np.array(v, dtype=p.dtype)[()] for k, v in s.items()}
        commit([(setattr, self, "param_groups", groups), (setattr, self, "state", state)])


def _name(index, p):
    return f"parameter {index}" + (f" ({p.name!r})" if p.name else "")


def _kind(value):
    """What kind of hyperparameter or count a loaded value is, in words (True is a flag, not a number)."""
    if isinstance(value, (bool, np.bool_)):
        return "a flag"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "a number"
    if isinstance(value, (tuple, list)):
        return "a pair" if len(value) == 2 else "a list"
    return "nothing" if value is None else f"a {type(value).__name__}"


# ---- SGD ----------------------------------------------------------------------------------------------------------
def sgd_update(param, grad, state, *, lr, momentum, dampening, nesterov, weight_decay, maximize):
    """One SGD step for one parameter: returns (the amount to subtract, the new state)."""
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum == 0:
        return lr * g, {}
    if "momentum_buffer" not in state:
        buf = np.array(g, copy=True)[()]  # the first buffer *is* the gradient, not (1 - dampening)·g
    else:
        buf = momentum * state["momentum_buffer"] + (1 - dampening) * g
    direction = g + momentum * buf if nesterov else buf
    return lr * direction, {"momentum_buffer": buf}


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (PyTorch's formulation).

        g ← ∇f(θ) + λθ                               (λ = weight_decay; −∇f if maximize)
        b ← g on the first step, then b ← μb + (1 − τ)g   (μ = momentum, τ = dampening)
        g ← g + μb if nesterov, else g ← b
        θ ← θ − γg                                   (γ = lr)

    The momentum buffer starts *at g*, undamped: PyTorch's, not a zero-initialised average. And γ multiplies the
    buffer (Sutskever's form), so changing lr mid-run does not rescale the velocity already built up.
    """

    update = staticmethod(sgd_update)

    def step(self, closure=None):
        # Plain SGD in one group (SGD(model.parameters(), lr)), taken directly: the general step's arithmetic,
        # `_write_step(p, lr * grad)`, with less Python around it (tested identical, and as atomic). Anything
        # unusual (a closure, several groups, a gradient of another type, dtype or shape) goes there.
        groups = self.param_groups
        if closure is not None or len(groups) != 1 or (lr := self._plain_lr(groups[0])) is None:
            return super().step(closure)
        params = groups[0]["params"]
        if len(params) == 1 and type(params[0].data) is not np.ndarray:  # one NumPy scalar (the article's loop):
            p = params[0]  # replaced, and its new number and version stored by one line (no Ctrl-C in between)
            data, grad = p.data, p._grad
            if type(grad) is type(data) and p.requires_grad:  # a scalar of the weight's type: its dtype and shape
                new = data - lr * grad
                if type(new) is type(data):
                    p.data, p.version = new, p.version + 1
                    return None
            return super().step(closure)
        if type(lr) is not float and type(lr) is not int:  # (lr·g has g's dtype only for a Python number)
            return super().step(closure)
        scratch, writes = self.__dict__.setdefault("_scratch", {}), []  # id(weight) -> a view, dtype -> a buffer
        for p in params:  # arrays: lr·g into a scratch buffer kept across steps, then subtracted in place
            grad, data = p._grad, p.data
            if grad is None or not p.requires_grad:
                continue
            grad = grad.data if type(grad) is Value else grad  # (a .grad that was read is wrapped in a Value)
            if type(grad) is not np.ndarray or type(data) is not np.ndarray or grad.dtype != data.dtype or \
                    grad.shape != data.shape or data.base is not None or not data.flags.writeable:
                return super().step(closure)
            s = scratch.get(id(p))
            if s is None or s.shape != data.shape or s.dtype != data.dtype:
                s = _scratch(scratch, p, data)
            writes += ((np.multiply, grad, lr, s), (np.subtract, data, s, data), (setattr, p, "version", p.version + 1))
        commit(writes)
        return None

    def _plain_lr(self, group):
        # sgd_update's first case, taken directly (a fast path, tested to write identical numbers): without
        # momentum, weight decay or maximize it returns (lr * grad, {}), so step() skips the call and its keywords
        plain = group["momentum"] == 0 and group["weight_decay"] == 0 and not group["maximize"]
        return group["lr"] if plain else None

    def __init__(self, params, lr=_REQUIRED, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):  # PyTorch's positional order, so ported code means the same
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay, maximize=maximize))

    def _validate(self, group):
        super()._validate(group)
        if group.get("nesterov") and (group.get("momentum", 1) <= 0 or group.get("dampening", 0) != 0):
            raise ValueError(f"Invalid nesterov: Nesterov momentum requires a momentum and zero dampening "
                             f"(momentum={group.get('momentum')}, dampening={group.get('dampening')})")


# ---- Adam and AdamW -----------------------------------------------------------------------------------------------
def adam_update(param, grad, state, *, lr, betas, eps, weight_decay, amsgrad, maximize=False, decoupled=False):
    """One Adam step (AdamW's if `decoupled`) for one parameter: returns (the amount to subtract, the new state)."""
    beta1, beta2 = betas
    grad = -grad if maximize else grad  # climb: the same steps on −f
    step = state.get("step", 0.0) + 1
    decay = lr * weight_decay * param if decoupled else 0.0  # AdamW shrinks θ directly, outside the averages
    g = grad + weight_decay * param if weight_decay != 0 and not decoupled else grad
    exp_avg = beta1 * state.get("exp_avg", 0.0 * param) + (1 - beta1) * g
    exp_avg_sq = beta2 * state.get("exp_avg_sq", 0.0 * param) + (1 - beta2) * g * g
    new_state = {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    if amsgrad:
        new_state["max_exp_avg_sq"] = np.maximum(state.get("max_exp_avg_sq", 0.0 * param), exp_avg_sq)[()]
    bias_correction1, bias_correction2 = 1 - beta1 ** step, 1 - beta2 ** step
    denom = np.sqrt(new_state["max_exp_avg_sq" if amsgrad else "exp_avg_sq"]) / math.sqrt(bias_correction2) + eps
    return decay + (lr / bias_correction1) * (exp_avg / denom), new_state


class Adam(Optimizer):
    """Adam: momentum on the gradient and a per-weight step size from its running square.

        g ← ∇f(θ) + λθ;   t ← t + 1
        m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²       (both start at 0; v̂max ← max(v̂max, v) if amsgrad)
        m̂ ← m / (1 − β₁ᵗ);   v̂ ← v / (1 − β₂ᵗ)            (bias correction: undo the zero start)
        θ ← θ − γ m̂ / (√v̂ + ε)

    The first step therefore moves every weight by about γ, whatever the size of its gradient. Note ε is added
    after the square root, and weight_decay here is L2 on the gradient (see AdamW for the decoupled kind).
    """

    update = staticmethod(adam_update)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False):
        betas = tuple(betas) if isinstance(betas, (tuple, list)) else betas  # betas=5 is refused by name
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _validate(self, group):
        super()._validate(group)
        _check_betas(group)


def _check_betas(group):
    """The Adam family's betas: a pair, each in [0, 1)."""
    if "betas" in group and (not isinstance(group["betas"], tuple) or len(group["betas"]) != 2):
        raise ValueError(f"Invalid betas: {group['betas']!r} (a pair (beta1, beta2), e.g. (0.9, 0.999))")
    for i in range(len(group.get("betas", ()))):
        _check(dict(enumerate(group["betas"])), i, lambda v: 0.0 <= v < 1.0, f"beta parameter at index {i}")


def adamw_update(param, grad, state, **hyperparameters):
    """One AdamW step: Adam without weight decay in g, plus θ ← θ − γλθ applied to the weight itself."""
    return adam_update(param, grad, state, decoupled=True, **hyperparameters)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter).

        θ ← θ − γλθ                                         (decay the weight itself, first)
        m, v, m̂, v̂ as in Adam, but from the plain gradient g = ∇f(θ)
        θ ← θ − γ m̂ / (√v̂ + ε)

    In Adam, λθ added to g is divided by √v̂ like the rest of g, so big-gradient weights barely decay; here
    every weight shrinks by the same factor (1 − γλ) each step. The default λ is 1e-2, not 0.
    """

    update = staticmethod(adamw_update)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


# ---- RMSprop ------------------------------------------------------------------------------------------------------
def rmsprop_update(param, grad, state, *, lr, alpha, eps, weight_decay, momentum, centered):
    """One RMSprop step for one parameter: returns (the amount to subtract, the new state)."""
    g = grad + weight_decay * param if weight_decay != 0 else grad
    square_avg = alpha * state.get("square_avg", 0.0 * param) + (1 - alpha) * g * g
    new_state = {"step": state.get("step", 0.0) + 1, "square_avg": square_avg}
    if centered:
        grad_avg = alpha * state.get("grad_avg", 0.0 * param) + (1 - alpha) * g
        new_state["grad_avg"] = grad_avg
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        buf = momentum * state.get("momentum_buffer", 0.0 * param) + g / avg
        new_state["momentum_buffer"] = buf
        return lr * buf, new_state
    return lr * (g / avg), new_state


class RMSprop(Optimizer):
    """RMSprop: divide each gradient by the root of its running mean square.

        g ← ∇f(θ) + λθ
        v ← αv + (1 − α)g²            (v starts at 0; no bias correction, unlike Adam)
        ĝ ← αĝ + (1 − α)g and v ← v − ĝ² if centered   (divide by the variance instead)
        b ← μb + g / (√v + ε) and θ ← θ − γb if momentum, else θ ← θ − γ g / (√v + ε)

    Because v starts at 0 the first steps are large: the first is γ·g/(√(1−α)|g|), i.e. 10γ for α = 0.99.
    """

    update = staticmethod(rmsprop_update)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _validate(self, group):
        super()._validate(group)
        _check(group, "alpha", lambda v: v >= 0, "alpha value")


# ---- Adagrad ------------------------------------------------------------------------------------------------------
def adagrad_update(param, grad, state, *, lr, lr_decay, weight_decay, initial_accumulator_value, eps):
    """One Adagrad step for one parameter: returns (the amount to subtract, the new state)."""
    step = state.get("step", 0.0) + 1  # a parameter added (or loaded) without state starts at step 0, sum s₀
    g = grad + weight_decay * param if weight_decay != 0 else grad
    clr = lr / (1 + (step - 1) * lr_decay)
    total = state.get("sum", initial_accumulator_value + 0.0 * param) + g * g
    return clr * (g / (np.sqrt(total) + eps)), {"step": step, "sum": total}


class Adagrad(Optimizer):
    """Adagrad: each weight's step shrinks with the sum of all its past squared gradients.

        g ← ∇f(θ) + λθ;   t ← t + 1
        γₜ ← γ / (1 + (t − 1)·η)          (η = lr_decay)
        s ← s + g²                       (s starts at initial_accumulator_value)
        θ ← θ − γₜ g / (√s + ε)

    s only grows, so steps only shrink: good for sparse features, too timid for long runs. As in PyTorch, the
    state (step 0, sum) is created for every parameter when the optimizer is built, and s₀ is kept in each
    param group as `initial_accumulator_value` (a group added later starts its sums there).
    """

    update = staticmethod(adagrad_update)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def add_param_group(self, group):
        super().add_param_group(group)
        added = self.param_groups[-1]
        for p in added["params"]:
            self.state[p] = {"step": 0.0, "sum": np.full(p.shape, added["initial_accumulator_value"], p.dtype)[()]}

    def _validate(self, group):
        super()._validate(group)
        _check(group, "lr_decay", lambda v: v >= 0, "lr_decay value")
        _check(group, "initial_accumulator_value", lambda v: v >= 0, "initial_accumulator_value value")


# ---- NAdam, RAdam, Adamax, Adadelta (PyTorch 2.13's single-tensor algorithms) ------------------------------------
def _validate_adam_family(optimizer, group):
    Optimizer._validate(optimizer, group)
    _check_betas(group)
    _check(group, "momentum_decay", lambda v: v >= 0, "momentum_decay value")


def nadam_update(param, grad, state, *, lr, betas, eps, weight_decay, momentum_decay, decoupled_weight_decay,
                 maximize):
    """One NAdam step for one parameter: returns (the amount to subtract, the new state)."""
    beta1, beta2 = betas
    g = -grad if maximize else grad
    step = state.get("step", 0.0) + 1
    decay = lr * weight_decay * param if weight_decay != 0 and decoupled_weight_decay else 0.0
    g = g + weight_decay * param if weight_decay != 0 and not decoupled_weight_decay else g
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    # Πμ is kept in float32, as PyTorch keeps it (a float32 scalar tensor): so the steps agree to the last digits
    mu_product = np.float32(state.get("mu_product", np.float32(1.0))) * np.float32(mu)
    exp_avg = beta1 * state.get("exp_avg", 0.0 * param) + (1 - beta1) * g
    exp_avg_sq = beta2 * state.get("exp_avg_sq", 0.0 * param) + (1 - beta2) * g * g
    denom = np.sqrt(exp_avg_sq / (1 - beta2 ** step)) + eps
    product = float(mu_product)
    step_size = lr * (1 - mu) / (1 - product) * (g / denom) + lr * mu_next / (1 - product * mu_next) * (exp_avg / denom)
    return decay + step_size, {"step": step, "mu_product": mu_product, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


class NAdam(Optimizer):
    """Adam with Nesterov momentum: the step looks ahead along the momentum it is about to apply (Dozat, 2016).

        g ← ∇f(θ) + λθ;   t ← t + 1
        μₜ = β₁(1 − ½·0.96^{tψ}),  μₜ₊₁ likewise      (ψ = momentum_decay: the momentum warms up)
        m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²;   v̂ = v / (1 − β₂ᵗ)
        θ ← θ − γ(1 − μₜ)/(1 − Πμ) · g/(√v̂ + ε) − γμₜ₊₁/(1 − Πμ·μₜ₊₁) · m/(√v̂ + ε)

    State: step, mu_product (Πμ, from 1), exp_avg, exp_avg_sq. decoupled_weight_decay=True shrinks θ as AdamW.
    """

    update = staticmethod(nadam_update)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _validate(self, group):
        _validate_adam_family(self, group)


def radam_update(param, grad, state, *, lr, betas, eps, weight_decay, decoupled_weight_decay, maximize):
    """One RAdam step for one parameter: returns (the amount to subtract, the new state)."""
    beta1, beta2 = betas
    g = -grad if maximize else grad
    step = state.get("step", 0.0) + 1
    decay = lr * weight_decay * param if weight_decay != 0 and decoupled_weight_decay else 0.0
    g = g + weight_decay * param if weight_decay != 0 and not decoupled_weight_decay else g
    exp_avg = beta1 * state.get("exp_avg", 0.0 * param) + (1 - beta1) * g
    exp_avg_sq = beta2 * state.get("exp_avg_sq", 0.0 * param) + (1 - beta2) * g * g
    bias_correction1, bias_correction2 = 1 - beta1 ** step, 1 - beta2 ** step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
    new_state = {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    if rho_t <= 5.0:  # too few steps for a trustworthy variance: plain momentum, no adaptive step yet
        return decay + lr * exp_avg / bias_correction1, new_state
    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    adaptive = math.sqrt(bias_correction2) / (np.sqrt(exp_avg_sq) + eps)
    return decay + exp_avg / bias_correction1 * lr * adaptive * rect, new_state


class RAdam(Optimizer):
    """Rectified Adam: no adaptive step until the running variance has seen enough steps (Liu et al., 2019).

        m, v as in Adam;   ρ∞ = 2/(1 − β₂) − 1;   ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)
        ρₜ ≤ 5:  θ ← θ − γ m̂                                  (the first 5 steps or so: SGD with momentum)
        ρₜ > 5:  r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ));   θ ← θ − γ m̂ · r·√(1 − β₂ᵗ)/(√v + ε)

    So it needs no warm-up schedule: the rectifier r grows from about 0 to 1 by itself.
    """

    update = staticmethod(radam_update)
    _validate = _validate_adam_family

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))


def adamax_update(param, grad, state, *, lr, betas, eps, weight_decay, maximize):
    """One Adamax step for one parameter: returns (the amount to subtract, the new state)."""
    beta1, beta2 = betas
    g = -grad if maximize else grad
    g = g + weight_decay * param if weight_decay != 0 else g
    step = state.get("step", 0.0) + 1
    exp_avg = beta1 * state.get("exp_avg", 0.0 * param) + (1 - beta1) * g
    exp_inf = np.maximum(beta2 * state.get("exp_inf", 0.0 * param), np.abs(g) + eps)[()]
    return lr / (1 - beta1 ** step) * (exp_avg / exp_inf), {"step": step, "exp_avg": exp_avg, "exp_inf": exp_inf}


class Adamax(Optimizer):
    """Adam with the infinity norm: the step divides by a decaying maximum of |g| instead of √v.

        g ← ∇f(θ) + λθ;   t ← t + 1
        m ← β₁m + (1 − β₁)g;   u ← max(β₂u, |g| + ε)
        θ ← θ − γ/(1 − β₁ᵗ) · m/u

    No square root and no bias correction of u: a single huge gradient sets the scale for a while.
    """

    update = staticmethod(adamax_update)
    _validate = _validate_adam_family

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))


def adadelta_update(param, grad, state, *, lr, rho, eps, weight_decay, maximize):
    """One Adadelta step for one parameter: returns (the amount to subtract, the new state)."""
    g = -grad if maximize else grad
    g = g + weight_decay * param if weight_decay != 0 else g
    square_avg = rho * state.get("square_avg", 0.0 * param) + (1 - rho) * g * g
    delta = np.sqrt(state.get("acc_delta", 0.0 * param) + eps) / np.sqrt(square_avg + eps) * g
    acc_delta = rho * state.get("acc_delta", 0.0 * param) + (1 - rho) * delta * delta
    return lr * delta, {"step": state.get("step", 0.0) + 1, "square_avg": square_avg, "acc_delta": acc_delta}


class Adadelta(Optimizer):
    """Adadelta: the step's units come from the running size of past steps, so lr = 1 is the natural default.

        g ← ∇f(θ) + λθ
        v ← ρv + (1 − ρ)g²
        Δ = √(u + ε) / √(v + ε) · g          (u: running mean of Δ², starts at 0)
        u ← ρu + (1 − ρ)Δ²;   θ ← θ − γΔ

    The first steps are tiny (√ε/|g|·g ≈ 1e-3): Adadelta starts slowly and speeds up as u builds.
    """

    update = staticmethod(adadelta_update)

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _validate(self, group):
        super()._validate(group)
        _check(group, "rho", lambda v: 0.0 <= v <= 1.0, "rho value")


# ---- learning-rate schedulers -------------------------------------------------------------------------------------
# The hikers a learner names on the command line (`descend`, `train`): a class and the settings that make it so.
# ---- Newton's method: the hiker that is handed the curvature ------------------------------------------------------
def newton_update(grad, hessian, *, lr, damping):
    """One Newton step for all parameters as one flat vector: returns the amount to subtract, γ(H + λI)⁻¹g."""
    try:
        return lr * np.linalg.solve(hessian + damping * np.eye(len(grad)), grad)
    except np.linalg.LinAlgError:
        raise ValueError("Newton step: the Hessian (plus damping) is singular, so the step is undefined (a flat "
                         "direction); add damping, e.g. Newton(params, damping=1e-3); no parameter was "
                         "changed") from None


class Newton(Optimizer):
    """Newton's method: divide the slope by the curvature, so the function itself says how far to step.

        g ← ∇f(θ), H ← ∇²f(θ)      (every parameter's entries flattened into one vector θ, in order)
        θ ← θ − γ (H + λI)⁻¹ g     (γ = lr, 1 for the full Newton step; λ = damping)

    The hiker still computes no derivative: `step(closure)` calls your closure, which runs the map (it fills
    `.grad`, e.g. by `loss.backward()`) and returns `(loss, hessian)`, the Hessian as a (n, n) array or, for
    one number, f'' (tinygrad_gd.autograd.hessian computes it). On (w − 2)² one step from anywhere lands on
    w = 2: the curvature 2 turns the slope 2(w − 2) into exactly the distance w − 2. Newton seeks a point where
    the slope is 0, so where f curves down (H < 0) it climbs towards a maximum.
    """

    def __init__(self, params, lr=1.0, damping=0.0):
        super().__init__(params, dict(lr=lr, damping=damping))
        if len(self.param_groups) != 1:
            raise ValueError("Newton takes one parameter group: its step couples every parameter through H")

    def _validate(self, group):
        super()._validate(group)
        _check(group, "damping", lambda v: v >= 0, "damping value")

    def step(self, closure=None):
        if closure is None:
            raise ValueError("Newton.step needs a closure that runs backward and returns (loss, hessian): the "
                             "hiker reads the curvature, it never computes it")
        loss, hessian = closure()
        params = [p for p in self.param_groups[0]["params"] if p.requires_grad]
        grads = [np.zeros(p.shape) if p.grad is None else np.asarray(p.grad.data, dtype=np.float64) for p in params]
        flat = np.concatenate([g.ravel() for g in grads])
        hessian = np.asarray(getattr(hessian, "data", hessian), dtype=np.float64)
        if hessian.size != flat.size ** 2:
            raise ValueError(f"Newton step: the Hessian has {hessian.size} entries, but {flat.size} parameter "
                             f"entries need {flat.size}×{flat.size}; no parameter was changed")
        hyper = {key: self.param_groups[0][key] for key in self.defaults}
        step = newton_update(flat, hessian.reshape(flat.size, flat.size), **hyper)
        offsets = np.cumsum([0] + [p.size for p in params])
        writes = [_write_step(p, step[a:b].reshape(p.shape), f"parameter {i}")
                  for i, (p, a, b) in enumerate(zip(params, offsets[:-1], offsets[1:], strict=True))]
        commit([*writes, *[(setattr, p, "version", p.version + 1) for p in params]])
        return loss


BY_NAME = {
    "sgd": (SGD, {}), "momentum": (SGD, {"momentum": 0.9}), "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (Adam, {}), "adamw": (AdamW, {}), "rmsprop": (RMSprop, {}), "adagrad": (Adagrad, {}),
    "nadam": (NAdam, {}), "radam": (RAdam, {}), "adamax": (Adamax, {}), "adadelta": (Adadelta, {}),
}


def make_optimizer(name, params, lr, momentum=None):
    """The optimizer called `name` in BY_NAME; `momentum`, if given, replaces its momentum (SGD and RMSprop only)."""
    if name not in BY_NAME:
        raise ValueError(f"Invalid optimizer: {name!r} (choose from {', '.join(BY_NAME)})")
    kind, settings = BY_NAME[name]
    if momentum is not None:
        if kind not in (SGD, RMSprop):
            raise ValueError(f"Invalid momentum: {name} has no momentum setting (Adam's is betas[0])")
        settings = {**settings, "momentum": momentum}
    return kind(params, lr=lr, **settings)


def _factor(value):
    return math.isfinite(value) and value >= 0  # NaN or -1 would make lrs the optimizer itself refuses


class LRScheduler:
    """Sets every group's lr from a closed form of `last_epoch`, the number of `step()` calls so far.

    As in PyTorch, building a scheduler already counts as step 0 (lr = the initial lr), and you call
    `scheduler.step()` after `optimizer.step()`, once per epoch. Each group keeps its starting lr as
    `initial_lr`, so schedules do not compound. A subclass defines `lr_at(base_lr, epoch)`.

    One difference from PyTorch: its schedulers mostly multiply the group's *current* lr each step (chainable),
    so an lr you set by hand mid-run carries on scaled; here every step recomputes lr from `initial_lr` and
    overwrites such a change. The sequences agree whenever only the scheduler touches lr.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def step(self):
        """Set every group's lr for the next epoch (see `_commit`: checked first, then written in one move)."""
        epoch = self.last_epoch + 1
        self._commit(epoch, [self.lr_at(base_lr, epoch) for base_lr in self.base_lrs])

    def _commit(self, epoch, lrs, extra=()):
        """The new lrs are checked as the optimizer checks an lr, then written with `extra` (other settings, such
        as OneCycleLR's momentum) in one move: an invalid lr (NaN, negative) is refused and nothing changes."""
        for lr in lrs:
            try:
                self.optimizer._validate({"lr": lr})
            except ValueError as error:
                raise ValueError(f"{type(self).__name__} refused the lr of epoch {epoch}: {error}; nothing changed") \
                    from None
        groups = self.optimizer.param_groups
        commit([*[(group.__setitem__, "lr", lr) for group, lr in zip(groups, lrs, strict=True)], *extra,
                (setattr, self, "last_epoch", epoch), (setattr, self, "_last_lr", lrs)])

    def state_dict(self):
        """PyTorch's: every attribute but the optimizer (last_epoch, base_lrs, the settings)."""
        return _scheduler_state(self)

    def load_state_dict(self, state_dict):
        """Restore what `state_dict()` returned (from a scheduler of the same kind); unknown keys are refused."""
        _load_scheduler_state(self, state_dict)

    def get_last_lr(self):
        """The lr of each group as set by the latest `step()`."""
        return list(self._last_lr)


class StepLR(LRScheduler):
    """lr = initial_lr · γ^⌊epoch / step_size⌋: multiply by γ every `step_size` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check({"step_size": step_size}, "step_size", lambda v: int(v) == v >= 1, "step_size",
               "a whole number of epochs, at least 1")
        _check({"gamma": gamma}, "gamma", _factor, "gamma", "a finite factor, 0 or more")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """lr = initial_lr · γ^epoch: multiply by γ every epoch."""

    def __init__(self, optimizer, gamma):
        _check({"gamma": gamma}, "gamma", _factor, "gamma", "a finite factor, 0 or more")
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (initial_lr − η_min)·(1 + cos(π·epoch / T_max)) / 2: half a cosine from lr down to η_min.

    Past T_max the cosine carries on and climbs back up, as PyTorch's does.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):  # noqa: N803 (PyTorch's argument name)
        _check({"T_max": T_max}, "T_max", lambda v: math.isfinite(v) and v > 0, "T_max",
               "the number of epochs of the half cosine, more than 0")
        _check({"eta_min": eta_min}, "eta_min", _factor, "eta_min", "the lowest lr: finite, 0 or more")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


def _scheduler_state(scheduler, skip=("optimizer",)):
    """PyTorch's scheduler state_dict: every attribute but the optimizer (and, here, callables)."""
    return {k: copy.deepcopy(v) for k, v in vars(scheduler).items() if k not in skip and not callable(v)}


def _load_scheduler_state(scheduler, state_dict, skip=("optimizer",)):
    unknown = sorted(set(state_dict) - set(vars(scheduler)))
    if unknown or any(k in skip for k in state_dict):
        raise ValueError(f"cannot load {type(scheduler).__name__} state: unexpected keys "
                         f"{unknown or sorted(set(skip) & set(state_dict))}")
    for key, value in state_dict.items():  # {"last_epoch": "many"} is refused now, not at the next step
        if _kind(value) != _kind(getattr(scheduler, key)):
            raise ValueError(f"cannot load {type(scheduler).__name__} state: {key}={value!r} ({_kind(value)}), but "
                             f"{key} is {_kind(getattr(scheduler, key))}")
    scheduler.__dict__.update(copy.deepcopy(dict(state_dict)))  # one C call: never half-loaded


class MultiStepLR(LRScheduler):
    """lr = initial_lr · γ^(number of milestones passed): multiply by γ at each listed epoch."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        milestones = sorted(milestones)
        if any(int(m) != m or m < 0 for m in milestones):
            raise ValueError(f"Invalid milestones: {milestones} (whole epochs, at least 0)")
        self.milestones, self.gamma = [int(m) for m in milestones], gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)  # a repeated milestone counts twice


class LinearLR(LRScheduler):
    """lr = initial_lr · factor, factor going linearly from start_factor to end_factor over total_iters (warm-up)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"Invalid factors: start_factor {start_factor} must lie in (0, 1] and end_factor "
                             f"{end_factor} in [0, 1]")
        if int(total_iters) != total_iters or total_iters < 1:
            raise ValueError(f"Invalid total_iters: {total_iters} (a whole number of epochs, at least 1)")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, int(total_iters)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        progress = min(self.total_iters, epoch) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class LambdaLR(LRScheduler):
    """lr = initial_lr · lr_lambda(epoch), one function for all groups or one per group.

    state_dict() leaves the functions out (they are code, not numbers), as PyTorch does for plain functions.
    """

    def __init__(self, optimizer, lr_lambda):
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n or not all(callable(f) for f in lambdas):
            raise ValueError(f"Expected {n} callable lr_lambdas (one per param group, or one for all), got "
                             f"{lr_lambda!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def step(self):
        epoch = self.last_epoch + 1
        self._commit(epoch, [base * f(epoch) for base, f in zip(self.base_lrs, self.lr_lambdas, strict=True)])

    def state_dict(self):
        return _scheduler_state(self, skip=("optimizer", "lr_lambdas"))

    def load_state_dict(self, state_dict):
        _load_scheduler_state(self, state_dict, skip=("optimizer", "lr_lambdas"))


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine from initial_lr down to η_min over T_i epochs, then restart at initial_lr; T_i ← T_i·T_mult.

        lr = η_min + (initial_lr − η_min)·(1 + cos(π·T_cur / T_i)) / 2   (SGDR, Loshchilov & Hutter)

    `step(epoch)` may be given a fractional epoch (per-batch stepping), as in PyTorch.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0):  # noqa: N803 (PyTorch's argument names)
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_0, self.T_i, self.T_mult, self.eta_min, self.T_cur = T_0, T_0, T_mult, eta_min, -1
        super().__init__(optimizer)

    def step(self, epoch=None):
        T_cur, T_i = self.T_cur, self.T_i  # noqa: N806 (PyTorch's names)
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch, T_cur = self.last_epoch + 1, T_cur + 1
            if T_cur >= T_i:
                T_cur, T_i = T_cur - T_i, T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"Expected non-negative epoch, but got {epoch}")
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                T_cur = epoch % self.T_0
            else:
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                T_i = self.T_0 * self.T_mult ** n
        else:
            T_i, T_cur = self.T_0, epoch
        lrs = [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2
               for base in self.base_lrs]
        self._commit(math.floor(epoch), lrs, [(setattr, self, "T_cur", T_cur), (setattr, self, "T_i", T_i)])


class OneCycleLR(LRScheduler):
    """Leslie Smith's 1cycle: lr climbs from max_lr/div_factor to max_lr, then anneals far below the start.

        phase 1 (pct_start of total_steps): lr initial_lr → max_lr, momentum max_momentum → base_momentum
        phase 2 (the rest):                  lr max_lr → initial_lr/final_div_factor, momentum back up
        (three_phase: up, back down to initial_lr, then the final anneal); each along a half cosine or a line

    Step it once per *batch*, total_steps times. Momentum moves opposite to lr: SGD's `momentum`, or Adam's β₁.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ValueError(f"Expected positive integer {name}, but got {value}")
            total_steps = epochs * steps_per_epoch
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        if not 0 <= pct_start <= 1 or isinstance(pct_start, bool):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        pct = float(pct_start * total_steps)
        if three_phase:
            self._schedule_phases = [
                {"end_step": pct - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": 2 * pct - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"}]
        else:
            self._schedule_phases = [
                {"end_step": pct - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"}]
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ValueError(f"expected {len(groups)} values for max_lr, got {len(max_lrs)}")
        if cycle_momentum and "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
        self.use_beta1 = "betas" in optimizer.defaults
        moms = [(b, m) for b, m in zip(*(list(v) if isinstance(v, (list, tuple)) else [v] * len(groups)
                                          for v in (base_momentum, max_momentum)), strict=True)]
        for group, top, (base_m, max_m) in zip(groups, max_lrs, moms, strict=True):
            group["initial_lr"] = top / div_factor
            group["max_lr"], group["min_lr"] = top, group["initial_lr"] / final_div_factor
            if cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (max_m, *group["betas"][1:])
                else:
                    group["momentum"] = max_m
                group["max_momentum"], group["base_momentum"] = max_m, base_m
        super().__init__(optimizer)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def step(self):
        step_num = self.last_epoch + 1
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified number of total steps is "
                             f"{self.total_steps}")
        lrs, extra = [], []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                        key, value = ("betas", (momentum, *group["betas"][1:])) if self.use_beta1 else \
                            ("momentum", momentum)
                        extra.append((group.__setitem__, key, value))
                    break
                start_step = phase["end_step"]
        self._commit(step_num, lrs, extra)


class ReduceLROnPlateau:
    """Divide lr by 1/factor when the metric has not improved for `patience` epochs: `scheduler.step(val_loss)`.

    "Improved" means below best·(1 − threshold) (mode 'min', threshold_mode 'rel'), or best − threshold ('abs');
    'max' mode for a metric to raise (accuracy). After a cut, `cooldown` epochs pass before counting again, and
    lr never goes below `min_lr` (a cut smaller than eps is skipped).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if not factor < 1.0:
            raise ValueError("Factor should be < 1.0.")
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown!")
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"expected {n} min_lrs, got {len(min_lrs)}")
        self.optimizer, self.factor, self.min_lrs, self.patience = optimizer, factor, min_lrs, patience
        self.cooldown, self.cooldown_counter, self.mode, self.threshold = cooldown, 0, mode, threshold
        self.threshold_mode, self.eps, self.last_epoch = threshold_mode, eps, 0
        self.best, self.num_bad_epochs = (math.inf if mode == "min" else -math.inf), 0
        self.mode_worse = self.best
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, a):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (self.best * (1.0 - self.threshold) if rel else self.best - self.threshold)
        return a > (self.best * (self.threshold + 1.0) if rel else self.best + self.threshold)

    def step(self, metrics):
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            writes = []
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    writes.append((group.__setitem__, "lr", new))
            commit(writes)
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return _scheduler_state(self)

    def load_state_dict(self, state_dict):
        _load_scheduler_state(self, state_dict)


class SequentialLR(LRScheduler):
    """Run one scheduler until the first milestone, the next until the second, ...: warm-up, then decay.

    For a warm-up: SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt, 95)], [5]).
    At each milestone the next scheduler starts from its epoch 0 (from initial_lr), as in PyTorch.
    """

    def __init__(self, optimizer, schedulers, milestones):
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if not hasattr(s, "optimizer") or isinstance(s, ReduceLROnPlateau):
                raise TypeError(f"SequentialLR does not support `ReduceLROnPlateau` or non-schedulers (at index {i})")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR expects all schedulers to belong to the same optimizer, but got "
                                 f"scheduler {type(s).__name__} at index {i} with a different optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"Sequential Schedulers expects number of schedulers provided to be one more than the "
                             f"number of milestone points, but got number of schedulers {len(schedulers)} and the "
                             f"number of milestones to be equal to {len(milestones)}")
        self.optimizer, self._schedulers, self._milestones, self.last_epoch = optimizer, schedulers, milestones, 0
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:  # undo the step each made when it was built, then start the first one
            s.last_epoch -= 1
        self._restart(schedulers[0])
        self._last_lr = schedulers[0].get_last_lr()

    @staticmethod
    def _restart(scheduler):
        if isinstance(scheduler, CosineAnnealingWarmRestarts):
            scheduler.step(0)
        else:
            scheduler.last_epoch = -1
            scheduler.step()

    def step(self):
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            self._restart(scheduler)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        state = _scheduler_state(self, skip=("optimizer", "_schedulers"))
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        inner = state.pop("_schedulers", None)
        if inner is None or len(inner) != len(self._schedulers):
            raise ValueError(f"cannot load SequentialLR state: expected {len(self._schedulers)} scheduler states")
        _load_scheduler_state(self, state, skip=("optimizer", "_schedulers"))
        for s, st in zip(self._schedulers, inner, strict=True):
            s.load_state_dict(st)


class ConstantLR(LRScheduler):
    """lr = initial_lr · factor for the first total_iters epochs, then initial_lr (a constant warm-up)."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5):
        if not 0 <= factor <= 1:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        if int(total_iters) != total_iters or total_iters < 0:
            raise ValueError(f"Invalid total_iters: {total_iters} (a whole number of epochs, 0 or more)")
        self.factor, self.total_iters = factor, int(total_iters)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * (self.factor if epoch < self.total_iters else 1.0)


class PolynomialLR(LRScheduler):
    """lr = initial_lr · (1 − min(epoch, total_iters) / total_iters)^power: down to 0 in total_iters epochs."""

    def __init__(self, optimizer, total_iters=5, power=1.0):
        if int(total_iters) != total_iters or total_iters < 1:
            raise ValueError(f"Invalid total_iters: {total_iters} (a whole number of epochs, at least 1)")
        self.total_iters, self.power = int(total_iters), power
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * (1.0 - min(self.total_iters, epoch) / self.total_iters) ** self.power
