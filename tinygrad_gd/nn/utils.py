"""What a learner reaches for when the loss blows up: clip the gradients before the optimizer's step.

>>> from tinygrad_gd import Value, nn
>>> w = Value([3.0, 4.0], requires_grad=True)
>>> (w * w).sum().backward()                     # grad (6, 8): norm 10
>>> float(nn.utils.clip_grad_norm_([w], max_norm=1.0))
10.0
>>> [round(g, 6) for g in w.grad.tolist()]       # rescaled to norm 1
[0.6, 0.8]
"""

import math

import numpy as np

from ..value import Value


def _with_grads(parameters):
    params = [parameters] if isinstance(parameters, Value) else list(parameters)
    return [p for p in params if p.grad is not None]


def _grad_array(p):
    return np.asarray(p.grad.data if isinstance(p.grad, Value) else p.grad)


def _set_grad(p, array):
    if isinstance(p.grad, Value):
        p.grad.data = array
    else:
        p.grad = array[()] if np.ndim(array) == 0 else array


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale all gradients together so that their joint norm is at most max_norm; returns the norm before.

    total = ‖(‖g₁‖, ‖g₂‖, …)‖ (the norm of all gradients as one vector); every g is multiplied by
    min(1, max_norm / (total + 1e-6)), so the direction of the step is kept and only its length is capped.
    """
    params = _with_grads(parameters)
    norm_type = float(norm_type)
    if not params:
        return Value(0.0)
    grads = [_grad_array(p) for p in params]
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        norms = [np.sum(np.abs(g) ** norm_type) ** (1 / norm_type) for g in grads]
        total = float(np.sum(np.array(norms) ** norm_type) ** (1 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           f"it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for p, g in zip(params, grads, strict=True):
        _set_grad(p, g * coef)
    return Value(total)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry into [−clip_value, clip_value] (the direction changes; the norm is capped)."""
    for p in _with_grads(parameters):
        _set_grad(p, np.clip(_grad_array(p), -clip_value, clip_value))


def parameters_to_vector(parameters):
    """All weights as one flat vector (a copy, for inspection or a line search)."""
    return np.concatenate([np.ravel(p.data) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Write a flat vector back into the weights, in order (the inverse of parameters_to_vector)."""
    vec, start = np.asarray(getattr(vec, "data", vec)), 0
    params = list(parameters)
    total = sum(p.data.size for p in params)
    if vec.size != total:
        raise ValueError(f"vector of {vec.size} numbers does not fit parameters of {total}")
    for p in params:
        n = p.data.size
        data = vec[start:start + n].reshape(p.shape).astype(p.dtype)
        p.data = data[()] if data.ndim == 0 else data
        p.version += 1
        start += n
