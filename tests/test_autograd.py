"""autograd.py: hvp, hessian and the largest curvature, checked by hand, by finite differences and by PyTorch."""

import numpy as np
import pytest

from tinygrad_gd import Value
from tinygrad_gd.autograd import hessian, hvp, largest_curvature


def rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2


def test_hvp_is_the_hessian_times_v_and_touches_no_grad():
    x = Value([0.5, -0.3], requires_grad=True)
    value, hv = hvp(rosenbrock, x, [1.0, 2.0])
    a, b = 0.5, -0.3
    exact = np.array([[2 - 400 * (b - a * a) + 800 * a * a, -400 * a], [-400 * a, 200]])  # by hand
    np.testing.assert_allclose(hv.data, exact @ [1.0, 2.0], rtol=1e-12)
    assert value.item() == pytest.approx(rosenbrock(np.array([a, b]))) and x.grad is None
    np.testing.assert_allclose(hessian(rosenbrock, x).data, exact, rtol=1e-12)


def test_hessian_matches_finite_differences_of_the_gradient():
    def f(v):
        return (v.exp() * v[::-1]).sum() + v[0] * v[1] * v[2] * v.sum()

    x = np.array([0.2, -0.4, 0.7])

    def slope(at):
        w = Value(at, requires_grad=True)
        f(w).backward()
        return w.grad.data

    eps = 1e-6
    numeric = np.stack([(slope(x + eps * e) - slope(x - eps * e)) / (2 * eps) for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(hessian(f, x).data, numeric, rtol=1e-6, atol=1e-8)


def test_hessian_of_one_number_is_f2_and_of_a_linear_function_zero():
    assert hessian(lambda w: (w - 2) ** 2, 5.0).item() == 2.0
    assert hessian(lambda w: w * 3 + 1, 5.0).item() == 0.0
    np.testing.assert_array_equal(hessian(lambda v: v.sum(), [1.0, 2.0]).data, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"v has shape \(3,\) but x has shape \(2,\)"):
        hvp(lambda v: v.sum(), [1.0, 2.0], [1.0, 2.0, 3.0])


def test_hessian_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([0.5, -0.3])
    theirs = torch.autograd.functional.hessian(lambda t: (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2,
                                               torch.tensor(x)).numpy()
    np.testing.assert_allclose(hessian(rosenbrock, x).data, theirs, rtol=1e-12)


def test_power_iteration_finds_the_steepest_curvature():
    """On x² + 10y² (notebook 03's valley) λmax = 20 along y, so descent's critical rate is 2/20 = 0.1."""
    curvature, direction = largest_curvature(lambda v: v[0] ** 2 + 10 * v[1] ** 2, [-4.5, 1.5])
    assert curvature == pytest.approx(20.0, rel=1e-10) and 2 / curvature == pytest.approx(0.1)
    np.testing.assert_allclose(np.abs(direction), [0.0, 1.0], atol=1e-6)
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 7.0]])
    curvature, _ = largest_curvature(lambda v: (v * (Value(a) @ v)).sum() * 0.5, np.ones(3))
    assert curvature == pytest.approx(np.linalg.eigvalsh(a).max(), rel=1e-9)
    assert largest_curvature(lambda v: v.sum(), [1.0, 2.0])[0] == 0.0  # flat: no curvature to find
