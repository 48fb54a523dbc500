"""The recorder: construction, dtypes, the graph record, no_grad, in-place updates and clear errors."""

import numpy as np
import pytest

from tinygrad_gd import Tensor, Value, is_grad_enabled, no_grad
from tinygrad_gd.cli import main


# ---- the seed example --------------------------------------------------------------------------------------------
def test_seed_example_line_for_line():
    w = Value([5.0], requires_grad=True)
    loss = (w - 2) ** 2
    loss.backward()
    learning_rate = 0.1
    with no_grad():
        w -= learning_rate * w.grad
    assert f"Gradient: {w.grad.item()}" == "Gradient: 6.0"
    assert f"Updated Weight: {w.item()}" == "Updated Weight: 4.4"


def test_seed_example_in_float32_prints_what_pytorch_prints():
    w = Value([5.0], requires_grad=True, dtype="float32")
    ((w - 2) ** 2).backward()
    with no_grad():
        w -= 0.1 * w.grad
    assert w.dtype == np.float32 and w.grad.dtype == np.float32
    assert w.item() == 4.400000095367432


def test_example_command(capsys):
    assert main(["example"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Gradient: 6.0", "Updated Weight: 4.4"]
    main(["example", "--dtype", "float32"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["Gradient: 6.0", "Updated Weight: 4.400000095367432"]
    assert "float32" in lines[2]


# ---- construction ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, shape", [(5.0, ()), (3, ()), (True, ()), ([1, 2], (2,)), ([[1.0], [2.0]], (2, 1)),
                                         (np.arange(6).reshape(2, 3), (2, 3))])
def test_construction_gives_float64_data(data, shape):
    v = Value(data)
    assert v.shape == shape and v.dtype == np.float64
    assert v.ndim == len(shape) and v.numel() == int(np.prod(shape)) and v.size() == shape
    np.testing.assert_array_equal(v.numpy(), np.asarray(data, dtype=float))


def test_float32_on_request_and_kept_through_ops():
    x = Value([1.0, 2.0], dtype=np.float32, requires_grad=True)
    y = Value([1.0, 2.0], dtype="float32")
    out = (x * 3 + 1) * y
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_construction_copies_arrays():
    a = np.array([1.0, 2.0])
    v = Value(a)
    a[0] = 100.0
    assert v.data[0] == 1.0
    assert Value(v).data is not v.data


def test_tensor_is_value():
    assert Tensor is Value


@pytest.mark.parametrize("bad, error, words", [
    ("hello", TypeError, "not text"),
    ([1, "a"], TypeError, "real numbers"),
    (object(), TypeError, "real numbers"),
    ([1 + 2j], TypeError, "complex"),
    ([[1, 2], [3]], ValueError, "ragged"),
])
def test_bad_data_is_refused_by_name(bad, error, words):
    with pytest.raises(error, match=words):
        Value(bad)


def test_bad_dtype_and_name():
    with pytest.raises(TypeError, match="float, integer or bool type"):
        Value(1.0, dtype=np.complex128)
    with pytest.raises(RuntimeError, match="only floating-point Values can require gradients, not int64"):
        Value(1.0, dtype=np.int64, requires_grad=True)  # an integer Value exists, but never requires grad
    with pytest.raises(TypeError, match="name"):
        Value(1.0, name=3)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"'\+' to shapes \(3,\) and \(4,\)"):
        Value([1.0, 2.0, 3.0]) + Value([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\) and \(2, 3\)"):
        Value(np.ones((2, 3))) @ Value(np.ones((2, 3)))


def test_text_operand_is_refused():
    with pytest.raises(TypeError, match="not text"):
        Value(1.0) + "2"


# ---- what a Value shows ------------------------------------------------------------------------------------------
def test_accessors():
    v = Value([[1.0, 2.0], [3.0, 4.0]], name="m")
    assert len(v) == 2 and v.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.asarray(v).shape == (2, 2) and np.array(v, dtype=np.float32).dtype == np.float32
    assert Value([7.0]).item() == 7.0 and float(Value(2.5)) == 2.5
    with pytest.raises(ValueError, match=r"one element.*\(2, 2\)"):
        v.item()
    with pytest.raises(TypeError, match="0-d"):
        len(Value(1.0))


def test_repr_shows_data_grad_and_op():
    w = Value(5.0, requires_grad=True, name="w")
    assert repr(w) == "Value(5., requires_grad=True, name='w')"
    loss = (w - 2) ** 2
    loss.backward()
    assert repr(w) == "Value(5., grad=6., requires_grad=True, name='w')"
    assert repr(loss) == "Value(9., grad=1., op='**2')"
    assert "dtype=float32" in repr(Value([1.0], dtype="float32"))


def test_graph_record():
    w = Value(5.0, requires_grad=True)
    d = w - 2
    loss = d ** 2
    assert loss.parents == (d,) and d.parents[0] is w and d.parents[1].item() == 2.0
    assert (loss.op, d.op, w.op) == ("**2", "-", "")
    assert w.is_leaf and not d.is_leaf
    assert not d.parents[1].requires_grad  # the constant 2


def test_detach_cuts_the_graph():
    w = Value([1.0, 2.0], requires_grad=True)
    d = (w * 2).detach()
    assert not d.requires_grad and d.parents == () and d.is_leaf
    np.testing.assert_array_equal(d.data, [2.0, 4.0])


def test_constants_do_not_record():
    out = Value(2.0) * Value(3.0)
    assert not out.requires_grad and out.parents == ()
    with pytest.raises(RuntimeError, match="requires grad"):
        out.backward()


def test_a_number_used_beside_values_is_one_shared_frozen_constant():
    """Issue 11: `w - 2` in a loop makes one constant 2 (fewer objects per op), which no graph can change."""
    import copy

    w, v = Value(5.0, requires_grad=True), Value(np.ones(3), requires_grad=True)
    two = (w - 2).parents[1]
    assert (v * 2.0).parents[1] is two and (2 - w).parents[0] is two  # one 2.0 of float64 for every graph
    assert two.data == 2 and two.dtype == np.float64 and not two.requires_grad and two.is_leaf
    assert (Value(1.0, dtype="float32", requires_grad=True) - 2).parents[1].dtype == np.float32  # a dtype each
    assert (Value(3, dtype="int64") + 2).dtype == np.int64 and (Value(3, dtype="int64") + 0.5).dtype == np.float64
    # equal as keys but different numbers: 0.0 and -0.0; and NaN, never equal to itself: each made anew
    assert np.signbit((w * -0.0).data) and not np.signbit((w * 0.0).data)
    assert (w * 0.0).parents[1] is not (w * 0.0).parents[1]
    assert (w + float("nan")).parents[1] is not (w + float("nan")).parents[1]
    for change in (lambda c: c.__iadd__(1), lambda c: c.mul_(3), lambda c: c.zero_(), lambda c: c.requires_grad_()):
        with no_grad(), pytest.raises(RuntimeError, match="shared by every graph"):
            change(two)
        assert two.data == 2 and two.version == 0 and not two.requires_grad  # refused: nothing changed
    own = Value(2.0)
    with no_grad():
        own += 1  # a Value you made yourself is yours to change
    assert own.item() == 3.0
    loss = (w - 2) ** 2
    copied = copy.deepcopy(loss)  # a copy's constant is frozen too, and its graph still backpropagates
    copied.backward()
    assert copied.parents[0].parents[0].grad.item() == 6.0 and w.grad is None
    with no_grad(), pytest.raises(RuntimeError, match="shared"):
        copied.parents[0].parents[1].fill_(7.0)
    for k in range(5000):  # ever new numbers: the table of shared constants stays bounded
        w * (1 + k / 7)
    from tinygrad_gd import value
    assert len(value._SHARED) <= 4096


def test_parents_are_the_inputs_in_order_and_a_chain_leaves_one_tracked_object_per_op():
    """Issue 11: a node keeps its parents in two slots (not a tuple), so the collector scans one object per op."""
    import copy
    import gc

    from tinygrad_gd import stack

    x, y = Value(2.0, requires_grad=True), Value(3.0, requires_grad=True)
    assert x.parents == () and (-x).parents == (x,) and (x * y).parents == (x, y) and (x * x).parents == (x, x)
    assert stack([x, y, x]).parents == (x, y, x) and (x * 2.0).parents[0] is x
    copied = copy.deepcopy(stack([x, y * x, x]))
    a, b, c = copied.parents  # the copy's own x, used twice, and its own y * x
    assert a is c and a is not x and b.parents[1] is a and b.parents[0] is not y and len(copied.parents) == 3
    gc.collect()
    before = len(gc.get_objects())
    chain = x
    for _ in range(1000):
        chain = (chain * 1.0001 - 0.0001).relu()
    assert len(gc.get_objects()) - before <= 3000 + 50  # 3,000 ops: the Values, nothing else per op
    chain.backward()
    assert abs(x.grad.item() - 1.0001 ** 1000) < 1e-9


# ---- no_grad -----------------------------------------------------------------------------------------------------
def test_no_grad_context_and_decorator():
    w = Value(1.0, requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = w * 2
        with no_grad():
            pass
        assert not is_grad_enabled()  # nesting restores the outer state, not True
    assert is_grad_enabled() and not y.requires_grad and y.parents == ()

    @no_grad()
    def evaluate(x):
        return x * 3, is_grad_enabled()

    z, enabled = evaluate(w)
    assert not enabled and not z.requires_grad and is_grad_enabled()


def test_no_grad_restores_after_an_exception():
    with pytest.raises(ZeroDivisionError), no_grad():
        Value(1.0).item() / 0
    assert is_grad_enabled()



def test_grad_mode_is_per_thread():
    """Issue 12: while one thread evaluates and steps under no_grad(), another's graph is still recorded.

    With one global flag the two threads' blocks interleave: the trainer built graphs with no parents (backward
    refused) or its weights got no gradient, and two overlapping blocks could leave recording off for good.
    """
    import sys
    import threading
    import time

    from tinygrad_gd.optim import SGD

    failures, steps, stop = [], [0, 0], threading.Event()

    def trainer(k):
        w = Value(5.0, requires_grad=True)
        opt = SGD([w], lr=0.01)
        while not stop.is_set():
            loss = (w - 2) ** 2  # recorded in this thread whatever the other one does
            try:
                opt.zero_grad()
                loss.backward()
                if w.grad is None:
                    failures.append(f"thread {k}: no gradient")
                opt.step()  # the step itself enters no_grad(), interleaved with the other thread's
            except RuntimeError as error:
                failures.append(f"thread {k}: {error}")
            with no_grad():  # an evaluation beside the training
                if (w * 2).requires_grad or is_grad_enabled():
                    failures.append(f"thread {k}: recorded inside its own no_grad()")
            steps[k] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so the blocks interleave
    try:
        threads = [threading.Thread(target=trainer, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        time.sleep(3)  # a duration to run for, not a timing assertion
        stop.set()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == [] and min(steps) > 100 and is_grad_enabled()
    seen = []  # a new thread starts with recording on, even while this one is inside no_grad()
    with no_grad():
        t = threading.Thread(target=lambda: seen.append((is_grad_enabled(), (Value(1.0, requires_grad=True) * 2)
                                                         .requires_grad)))
        t.start()
        t.join()
        assert not is_grad_enabled()
    assert seen == [(True, True)]

def test_no_grad_blocks_of_two_threads_close_in_any_order():
    """Each thread's blocks are its own: nested blocks in one thread, and another thread's block that opens
    before and closes after, leave each thread's recording exactly as its own blocks say (stepped by events)."""
    import threading

    main_open, other_open, main_closed, seen = threading.Event(), threading.Event(), threading.Event(), []

    def other():
        main_open.wait()
        with no_grad():
            other_open.set()
            main_closed.wait()
            seen.append(is_grad_enabled())  # the main thread's blocks have closed, this one has not
        seen.append(is_grad_enabled())

    thread = threading.Thread(target=other)
    thread.start()
    with no_grad():
        with no_grad():
            main_open.set()
            other_open.wait()
        assert not is_grad_enabled()  # the inner block closed, the outer one is still open
    assert is_grad_enabled() and (Value(1.0, requires_grad=True) * 2).requires_grad  # the other is still inside
    main_closed.set()
    thread.join()
    assert seen == [False, True] and is_grad_enabled()


# ---- in place ----------------------------------------------------------------------------------------------------
def test_inplace_under_no_grad_keeps_identity_and_memory():
    w = Value([1.0, 2.0], requires_grad=True)
    memory = w.data
    before = id(w)
    with no_grad():
        w -= Value([0.5, 0.5])
        w += 1.0
        w *= 2.0
        w /= 4.0
    assert id(w) == before and w.data is memory and w.version == 4
    np.testing.assert_array_equal(w.data, [0.75, 1.25])


def test_inplace_on_a_scalar_value_keeps_identity():
    w = Value(5.0, requires_grad=True)
    ((w - 2) ** 2).backward()
    original = w
    with no_grad():
        w -= 0.1 * w.grad
    assert w is original and w.item() == 4.4 and w.version == 1


def test_inplace_on_a_weight_outside_no_grad_raises_and_changes_nothing():
    w = Value([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w -= 1.0
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    assert w.version == 0


def test_inplace_that_would_change_the_shape_raises_and_changes_nothing():
    w = Value([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3, 2\)"), no_grad():
        w += np.ones((3, 2))
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_inplace_on_an_intermediate_outside_no_grad_is_recorded():
    w = Value([1.0, 2.0], requires_grad=True)
    y = w * 2
    y += 1.0  # recorded out of place: y now names a new node
    assert y.op == "+" and y.parents[0].op == "*"
    y.sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])


def test_inplace_on_a_view_does_not_corrupt_its_source():
    x = Value(np.arange(4.0))
    view = x.reshape(2, 2)
    with no_grad():
        view += 1.0
    np.testing.assert_array_equal(x.data, np.arange(4.0))


def test_changing_saved_data_in_place_makes_backward_raise_and_write_nothing():
    w = Value([1.0, 2.0], requires_grad=True, name="w")
    loss = (w * w).sum()
    with no_grad():
        w += 1.0
    with pytest.raises(RuntimeError, match=r"'w' was modified in place.*'\*'"):
        loss.backward()
    assert w.grad is None


def test_a_stale_input_found_deep_in_the_walk_leaves_every_grad_as_it_was():
    """The walk checks each node when it reaches it (newest first), after later nodes have their gradients:
    backward writes nothing until the whole walk has succeeded."""
    x, b = Value(2.0, requires_grad=True, name="x"), Value(1.0, requires_grad=True, name="b")
    early = x * x  # saves x at version 0
    with no_grad():
        x += 1.0
    middle = early * b
    loss = middle * 3 + b * x  # the nodes made after the change are fine, and visited first
    with pytest.raises(RuntimeError, match=r"'x' was modified in place \(version 1, expected 0\)"):
        loss.backward()
    assert all(v.grad is None for v in (x, b, early, middle, loss))


def test_changing_data_that_no_rule_reads_still_counts():
    """PyTorch's rule, kept simple: any in-place change to a saved input invalidates the graph."""
    w = Value(3.0, requires_grad=True)
    b = Value(1.0)
    loss = w * 2 + b
    with no_grad():
        b += 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_values_hash_by_identity_and_compare_elementwise():
    """Optimizer state and the walk key Values by identity; `==` is elementwise, a bool Value, as in PyTorch."""
    a, b = Value([1.0, 2.0]), Value([1.0, 3.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1 and len({a, Value([1.0, 2.0])}) == 2
    assert (a == b).dtype == bool and (a == b).tolist() == [True, False] and (a != b).tolist() == [False, True]
    assert (a < b).tolist() == [False, True] and (a.ge(b)).tolist() == [True, False]
    assert (a == None) is False and (a != None) is True  # noqa: E711 (PyTorch's answer to `t == None`)


def test_submodules_are_reachable_from_a_bare_import():
    import tinygrad_gd

    assert tinygrad_gd.optim.SGD.__name__ == "SGD" and tinygrad_gd.nn.Linear.__name__ == "Linear"
    with pytest.raises(AttributeError, match="no attribute 'optimizer'"):
        tinygrad_gd.optimizer  # noqa: B018


def test_requires_grad_and_argmax():
    w = Value([1.0, 3.0, 2.0]).requires_grad_()
    assert w.requires_grad and w.argmax() == 1
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError, match="leaves"):
        (w * 2).requires_grad_(False)
    np.testing.assert_array_equal(Value([[1.0, 5.0], [7.0, 2.0]]).argmax(axis=1), [1, 0])


def test_no_grad_as_a_bare_decorator_and_in_recursion():
    @no_grad
    def countdown(n):
        assert not is_grad_enabled()
        return n if n == 0 else countdown(n - 1)

    assert countdown(3) == 0 and is_grad_enabled()  # the same object entered four times, restored four times


def test_inplace_methods_on_grads_follow_the_inplace_rules():
    w = Value([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    g = w.grad
    version = g.version
    assert g.mul_(2) is g and np.array_equal(g.data, [4.0, 8.0])
    assert g.add_(Value([1.0, 1.0]), alpha=-1) is g and np.array_equal(g.data, [3.0, 7.0])
    assert g.fill_(np.inf) is g and np.all(g.data == np.inf)
    assert g.zero_() is g and np.array_equal(w.grad.data, [0.0, 0.0]) and g.version == version + 4
    s = Value(3.0)
    assert s.zero_().item() == 0.0 and s.fill_(2).item() == 2.0  # 0-d data is replaced, not written into
    with pytest.raises(RuntimeError, match="in-place update of a weight"):
        w.zero_()
    with pytest.raises(RuntimeError, match=r"add_\(\) would change a Value that is part of a graph"):
        (w * 2).add_(1)
    with pytest.raises(ValueError, match="shape"):
        g.fill_([1.0, 2.0, 3.0])
    assert np.array_equal(g.data, [0.0, 0.0])
    with no_grad():
        w.zero_()
    assert np.array_equal(w.data, [0.0, 0.0])


def test_grad_set_by_hand_becomes_a_value():
    w = Value([1.0, 2.0], requires_grad=True)
    w.grad = [3, 4]
    assert isinstance(w.grad, Value) and w.grad.dtype == np.float64 and w.grad.tolist() == [3.0, 4.0]
    with pytest.raises(TypeError, match="not text"):
        w.grad = "3"


# ---- issue 12: messages that name the problem, and PyTorch's container rules --------------------------------------
def test_matmul_of_numbers_names_the_rule():
    """Issue 12: `Value(1.0) @ Value(2.0)` raised a TypeError about numpy.float64."""
    with pytest.raises(ValueError, match=r"matmul \(@\) needs arrays of at least 1 axis, but got shapes \(\) and "
                                         r"\(\); multiply numbers with \*"):
        Value(1.0) @ Value(2.0)
    with pytest.raises(ValueError, match=r"shapes \(2,\) and \(\)"):
        Value([1.0, 2.0]) @ 3.0


def test_iteration_and_membership_follow_pytorch():
    """Issue 12: `list(Value(1.0))` was [] and `1.0 in Value(np.ones(3))` was False."""
    with pytest.raises(TypeError, match="iteration over a 0-d Value"):
        list(Value(1.0))
    assert 1.0 in Value(np.ones(3)) and 2.0 not in Value(np.ones(3)) and Value(1.0) in Value(np.ones((2, 2)))
    rows = list(Value([[1.0, 2.0], [3.0, 4.0]], requires_grad=True))
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0]] and rows[0].op == "[]"


def test_deepcopy_of_a_deep_graph_works_and_keeps_the_ops():
    """Issue 12: copy.deepcopy of a 100,000-deep graph raised RecursionError."""
    import copy

    w = Value(2.0, requires_grad=True, name="w")
    x = w
    for _ in range(100_000):
        x = x * 1.0
    y = copy.deepcopy(x)
    leaf = y
    while leaf.parents:
        leaf = leaf.parents[0]
    assert leaf is not w and leaf.name == "w" and leaf.requires_grad and y.grad_fn is x.grad_fn
    y.backward()
    assert leaf.grad.item() == 1.0 and w.grad is None  # the copy's weight gets the gradient, not the original's
    shared = Value([1.0, 2.0], requires_grad=True)
    both = copy.deepcopy([shared, shared * shared])
    assert both[1].parents[0] is both[0] and both[1].parents[1] is both[0] and both[0] is not shared


def test_numpy_of_a_weight_refuses_as_pytorch_does():
    """Issue 12: `.numpy()` of a weight returned a writable view: a write through it bypassed the version check."""
    w = Value([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"requires grad. Use .detach\(\).numpy\(\) instead"):
        w.numpy()
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
    assert Value([3.0]).numpy()[0] == 3.0
