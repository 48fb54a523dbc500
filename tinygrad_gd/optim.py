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

import copy
import math
import types

import numpy as np

from .atomic import commit
from .value import Value

_REQUIRED = object()  # marks a hyperparameter with no default (SGD's lr)
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
    """The write `p.data -= step`, checked first: into the same memory when it may, else a new array."""
    data = p.data
    step = np.asarray(step)
    kind = np.result_type(data, step)
    if not np.can_cast(kind, data.dtype, "same_kind") or np.broadcast_shapes(data.shape, step.shape) != data.shape:
        raise TypeError(f"the step for {name} has dtype {step.dtype} and shape {step.shape}, which cannot be "
                        f"written into its {data.dtype} data of shape {data.shape}; no parameter was changed")
    if isinstance(data, np.ndarray) and data.base is None and data.flags.writeable:
        return (np.subtract, data, step, data)  # in place, as PyTorch: arrays the user holds see the step
    return (setattr, p, "data", np.asarray(data - step, dtype=data.dtype)[()])  # a scalar or a view: a new one


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
        for p in (p for group in self.param_groups for p in group["params"]):
            p.grad = None if set_to_none or p.grad is None else p.grad.detach().zero_()

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
            hyper = {key: group[key] for key in self.defaults}
            for p in group["params"]:
                index += 1
                grad = p.grad
                if grad is None or not p.requires_grad:
                    continue  # no slope (unused in the loss, zeroed, or frozen): PyTorch skips it too
                grad = np.asarray(getattr(grad, "data", grad))  # an array, a Value, or a number set by hand
                name = f"parameter {index}" + (f" ({p.name!r})" if p.name else "")
                if grad.dtype.kind not in "biuf":
                    raise TypeError(f"the gradient of {name} has dtype {grad.dtype}: a step must be real; "
                                    f"no parameter was changed")
                if grad.shape != p.data.shape:
                    raise ValueError(f"gradient of shape {grad.shape} does not match its parameter of shape "
                                     f"{p.shape}; no parameter was changed")
                step, new_state = update(p.data, grad, state.get(p, _NO_STATE), **hyper)
                writes += [_write_step(p, step, name), (setattr, p, "version", p.version + 1)]
                if new_state:
                    new_states[p] = new_state
        commit([*writes, (state.update, new_states)])
        return loss

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
                if key == "step":
                    if _kind(value) != "a number" or not value >= 0:
                        raise ValueError(f"loaded state 'step' of parameter {i} is {value!r}: it must be a "
                                         f"number of steps (0 or more)")
                elif np.shape(value) != p.shape or np.asarray(value).dtype.kind not in "biuf":
                    raise ValueError(f"loaded state '{key}' of parameter {i} has shape {np.shape(value)} and dtype "
                                     f"{np.asarray(value).dtype}, the parameter has shape {p.shape} (real numbers)")
            state[p] = {k: v if k == "step" else np.array(v, dtype=p.dtype)[()] for k, v in s.items()}
        commit([(setattr, self, "param_groups", groups), (setattr, self, "state", state)])


def _kind(value):
    """What kind of hyperparameter or count a loaded value is, in words (True is a flag, not a number)."""
    if isinstance(value, (bool, np.bool_)):
        return "a flag"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "a number"
    return "a pair" if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"


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
def adam_update(param, grad, state, *, lr, betas, eps, weight_decay, amsgrad, decoupled=False):
    """One Adam step (AdamW's if `decoupled`) for one parameter: returns (the amount to subtract, the new state)."""
    beta1, beta2 = betas
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

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        betas = tuple(betas) if isinstance(betas, (tuple, list)) else betas  # betas=5 is refused by name
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _validate(self, group):
        super()._validate(group)
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

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


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


# ---- learning-rate schedulers -------------------------------------------------------------------------------------
# The hikers a learner names on the command line (`descend`, `train`): a class and the settings that make it so.
BY_NAME = {
    "sgd": (SGD, {}), "momentum": (SGD, {"momentum": 0.9}), "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (Adam, {}), "adamw": (AdamW, {}), "rmsprop": (RMSprop, {}), "adagrad": (Adagrad, {}),
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
        """Set every group's lr for the next epoch. The new lrs are checked as the optimizer checks an lr, then
        written in one move: an invalid lr (NaN, negative) is refused and nothing changes."""
        epoch = self.last_epoch + 1
        lrs = [self.lr_at(base_lr, epoch) for base_lr in self.base_lrs]
        for lr in lrs:
            try:
                self.optimizer._validate({"lr": lr})
            except ValueError as error:
                raise ValueError(f"{type(self).__name__} refused the lr of epoch {epoch}: {error}; nothing changed") \
                    from None
        groups = self.optimizer.param_groups
        commit([*[(group.__setitem__, "lr", lr) for group, lr in zip(groups, lrs, strict=True)],
                (setattr, self, "last_epoch", epoch), (setattr, self, "_last_lr", lrs)])

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
