"""The map: topological order, the walk, broadcasting undone in one place, accumulation and its errors."""

import gc
import heapq
import sys
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_gd import Value, backprop, no_grad
from tinygrad_gd.autograd import gradcheck
from tinygrad_gd.backprop import backward, sum_to_shape, topological_order, walk

# ---- order -------------------------------------------------------------------------------------------------------
COMBINE = {"+": lambda a, b: a + b, "*": lambda a, b: a * b, "tanh": lambda a, b: a.tanh(), "-": lambda a, b: a - b}


def build(recipe, leaves):
    """Replay a recipe: each step combines two earlier nodes (by position) into a new one."""
    nodes = list(leaves)
    for op, i, j in recipe:
        nodes.append(COMBINE[op](nodes[i], nodes[j]))
    return nodes[-1]


@st.composite
def random_graphs(draw):
    """A random DAG: leaves, then up to 25 nodes each made from one or two earlier nodes (shared freely)."""
    leaves = [Value(draw(st.floats(-2, 2)), requires_grad=True) for _ in range(draw(st.integers(1, 4)))]
    recipe = []
    for step in range(draw(st.integers(1, 25))):
        available = len(leaves) + step
        recipe.append((draw(st.sampled_from(sorted(COMBINE))), draw(st.integers(0, available - 1)),
                       draw(st.integers(0, available - 1))))
    return recipe, leaves


@given(random_graphs())
def test_topological_order_lists_each_node_once_parents_first(graph):
    root = build(*graph)
    order = topological_order(root)
    position = {id(node): i for i, node in enumerate(order)}
    assert len(position) == len(order)  # each node once
    assert order[-1] is root
    for node in order:
        assert all(position[id(parent)] < position[id(node)] for parent in node.parents)
    # the walk visits what requires grad (constants left out), each node before its parents: op nodes newest
    # first, then the leaves
    walked = [node for node, _ in walk(root, np.float64(1.0))]
    assert {id(n) for n in walked} == {id(n) for n in order if n.requires_grad}
    ops = [n for n in walked if n.grad_fn is not None]
    assert walked[:len(ops)] == ops and [n.created for n in ops] == sorted((n.created for n in ops), reverse=True)
    walk_position = {id(node): i for i, node in enumerate(walked)}
    assert all(walk_position[id(p)] > walk_position[id(n)] for n in walked for p in n.parents if p.requires_grad)


@given(random_graphs())
def test_random_graphs_pass_gradcheck_and_the_walk_visits_grad_nodes_once(graph):
    recipe, leaves = graph
    visited = [node for node, _ in walk(build(recipe, leaves), np.float64(1.0))]
    assert len({id(n) for n in visited}) == len(visited)
    assert all(n.requires_grad for n in visited)
    assert gradcheck(lambda *xs: build(recipe, xs), leaves, rtol=1e-4, atol=1e-4)


def test_a_weight_numbered_in_another_process_is_still_visited_once_with_its_whole_gradient():
    """A weight unpickled from another process keeps that process's creation number, maybe larger than every node
    made here; the walk takes leaves after all op nodes, so the number never decides when a weight is complete."""
    import pickle

    w = pickle.loads(pickle.dumps(Value(2.0, requires_grad=True)))
    w.created = 10**12  # as if made late in a long-running process
    loss = w * w + 3 * w
    visited = [(node, g) for node, g in walk(loss, np.float64(1.0))]
    assert [node for node, _ in visited].count(w) == 1 and visited[-1][0] is w and visited[-1][1] == 7.0


def test_equal_values_are_still_distinct_nodes():
    a, b = Value(2.0, requires_grad=True), Value(2.0, requires_grad=True)
    out = a * b
    assert len(topological_order(out)) == 3
    out.backward()
    assert (a.grad.item(), b.grad.item()) == (2.0, 2.0)


# ---- broadcasting, in one place ------------------------------------------------------------------------------
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3))
def test_sum_to_shape_undoes_any_broadcast(shapes):
    target, other = shapes.input_shapes
    g = np.random.default_rng(0).normal(size=shapes.result_shape)
    reduced = sum_to_shape(g, target)
    assert np.shape(reduced) == target
    # brute force: the gradient of Σ g·broadcast(x) with respect to x, one element at a time
    expected = np.zeros(target)
    for index in np.ndindex(target):
        e = np.zeros(target)
        e[index] = 1.0
        expected[index] = np.sum(g * np.broadcast_to(e, shapes.result_shape))
    np.testing.assert_allclose(reduced, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("big", "shape"), [((128, 256), (256,)), ((7, 2, 3), (2, 3)), ((5, 1), (1,))])
def test_sum_to_shape_over_the_leading_axis_is_the_plain_sum(big, shape, dtype):
    """A bias's gradient (sum over the batch axis) skips the search for stretched axes when the shape has no 1;
    its numbers are the plain sum's, bit for bit, on arrays and on Values (create_graph), and its derivative is
    still the spread."""
    g = np.random.default_rng(1).normal(size=big).astype(dtype)
    general = g.sum(axis=(0,))
    assert sum_to_shape(g, shape).dtype == dtype
    np.testing.assert_array_equal(sum_to_shape(g, shape), general)
    v = Value(g, requires_grad=True)
    summed = sum_to_shape(v, shape)
    np.testing.assert_array_equal(summed.data, general)
    summed.sum().backward()
    np.testing.assert_array_equal(v.grad, np.ones(big, dtype))


# ---- accumulation ----------------------------------------------------------------------------------------------
def test_backward_twice_doubles_leaf_grads_but_not_intermediate_grads():
    w = Value([5.0], requires_grad=True)
    d = w - 2
    loss = d ** 2
    loss.backward()
    loss.backward()
    assert w.grad.item() == 12.0  # leaves accumulate, as in PyTorch
    assert d.grad.item() == 6.0 and loss.grad.item() == 1.0  # intermediates show the latest pass


def test_the_walk_never_reads_a_stored_grad():
    w = Value(5.0, requires_grad=True)
    d = w - 2
    loss = d ** 2
    d.grad = np.float64(1000.0)  # garbage a learner (or micrograd's bug) might leave behind
    loss.backward()
    assert w.grad.item() == 6.0


@given(st.floats(-10, 10, allow_nan=False).filter(lambda k: abs(k) > 1e-3))
def test_grad_of_k_times_f_is_k_times_grad_f(k):
    x0 = np.array([0.3, -1.2, 2.0])
    x, y = Value(x0, requires_grad=True), Value(x0, requires_grad=True)
    (x.tanh() * x).sum().backward()
    ((y.tanh() * y).sum() * k).backward()
    np.testing.assert_allclose(y.grad, k * x.grad, rtol=1e-12)


def test_diamonds_accumulate():
    a = Value(3.0, requires_grad=True)
    (a * a).backward()
    assert a.grad.item() == 6.0
    a2 = Value(3.0, requires_grad=True)
    b = a2 + a2
    (b * b).backward()  # (2a)² → 8a
    assert a2.grad.item() == 24.0 and b.grad.item() == 12.0


def test_shared_gradient_arrays_do_not_alias_between_leaves():
    """`+` hands the same gradient array to both inputs; accumulating into one must not change the other."""
    x, y = Value([1.0, 2.0], requires_grad=True), Value([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])


def test_grads_have_the_leaf_dtype_even_when_mixed():
    x = Value([1.0, 2.0], requires_grad=True, dtype="float32")
    (x * Value([1.0, 2.0])).sum().backward()  # float64 partner: the product is float64
    assert x.grad.dtype == np.float32


# ---- depth and memory ------------------------------------------------------------------------------------------
def test_a_100000_deep_chain_at_the_default_recursion_limit():
    assert sys.getrecursionlimit() <= 10_000
    w = Value(1.0, requires_grad=True)
    x = w
    for _ in range(100_000):
        x = x * 1.0 + 0.0
    x.backward()
    assert w.grad.item() == 1.0


def test_nodes_hold_no_reference_cycles():
    """A graph is freed by reference counting alone when its output goes: the cyclic GC is not needed."""
    gc.disable()
    try:
        w = Value([1.0, 2.0], requires_grad=True)
        hidden = (w * 3).tanh()
        loss = (hidden ** 2).sum()
        loss.backward()
        probe = weakref.ref(hidden)
        del hidden, loss
        assert probe() is None
    finally:
        gc.enable()


# ---- errors ------------------------------------------------------------------------------------------------------
def test_non_scalar_backward_needs_a_gradient():
    x = Value([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*sum\(\)"):
        y.backward()
    assert x.grad is None
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(np.ones(3))


def test_backward_on_a_value_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        Value(1.0).backward()


def test_backward_function_and_method_agree():
    a, b = Value(2.0, requires_grad=True), Value(2.0, requires_grad=True)
    backward((a - 1) ** 3)
    ((b - 1) ** 3).backward()
    assert a.grad.item() == b.grad.item() == 3.0


def test_gradcheck_passes_for_a_small_network():
    rng = np.random.default_rng(0)
    x = Value(rng.normal(size=(4, 3)))
    W1, W2 = Value(rng.normal(size=(3, 5))), Value(rng.normal(size=(5, 2)))
    assert gradcheck(lambda x, a, b: ((x @ a).tanh() @ b).log_softmax(axis=-1)[np.arange(4), [0, 1, 1, 0]].mean(),
                     [x, W1, W2])


def test_accumulated_grads_keep_the_leaf_dtype():
    for shape in [(), (2,)]:
        w = Value(np.full(shape, 2.0), requires_grad=True, dtype="float32")
        for _ in range(2):
            (w * Value(np.full(shape, 3.0))).sum().backward()  # float64 partner: g arrives as float64
        assert w.grad.dtype == np.float32 and np.all(w.grad.data == 6.0)


# ---- .grad is a Value; grad(); create_graph (issue 10) --------------------------------------------------------
def test_grad_is_a_constant_value_leaf():
    w = Value(5.0, requires_grad=True)
    ((w - 2) ** 2).backward()
    assert isinstance(w.grad, Value) and w.grad.is_leaf and not w.grad.requires_grad
    assert w.grad is w.grad  # wrapped once: zero_() on it changes the gradient the optimizer will read
    assert w.grad.item() == 6.0 and w.grad.numpy() == 6.0 and w.grad.data == 6.0


def test_grad_function_leaves_dot_grad_alone_and_returns_values():
    from tinygrad_gd import grad

    w, b = Value(5.0, requires_grad=True, name="w"), Value([1.0, 2.0], requires_grad=True)
    gw, gb = grad(((w - 2) ** 2 * b).sum(), [w, b])
    assert w.grad is None and b.grad is None
    assert gw.item() == 6.0 * 3 and np.array_equal(gb.data, [9.0, 9.0]) and isinstance(gb, Value)


def test_grad_allow_unused_names_the_input():
    from tinygrad_gd import grad

    w, unused = Value(5.0, requires_grad=True), Value(1.0, requires_grad=True, name="b")
    with pytest.raises(RuntimeError, match=r"input 1 \('b'\) is not used"):
        grad(w * 2, [w, unused])
    assert grad(w * 2, [w, unused], allow_unused=True)[1] is None


@pytest.mark.parametrize("how", ["grad", "backward"])
def test_seed_example_derivatives_of_every_order(how):
    """(w − 2)² at w = 5: first derivative 6, second 2, third 0."""
    from tinygrad_gd import grad

    w = Value(5.0, requires_grad=True)
    f = (w - 2) ** 2
    found = []
    for order in range(3):
        if how == "grad":
            (f,) = grad(f, w, create_graph=True, allow_unused=order == 2)
        else:
            w.grad = None
            f.backward(create_graph=True)
            f = w.grad
        found.append(f.item())
    assert found == [6.0, 2.0, 0.0]


def test_create_graph_accumulates_into_a_graph_and_grad_outputs_weigh_outputs():
    from tinygrad_gd import grad

    x = Value([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    (x ** 3).sum().backward(create_graph=True)  # .grad = 3x² + 3x², recorded
    assert x.grad.grad_fn is not None and np.array_equal(x.grad.data, [6.0, 24.0])
    (second,) = grad(x.grad.sum(), x)
    assert np.array_equal(second.data, [12.0, 24.0])  # d/dx Σ 6x² = 12x
    (g,) = grad(x ** 2, x, grad_outputs=Value([1.0, 10.0]))
    assert np.array_equal(g.data, [2.0, 40.0])


def test_the_walk_hands_a_chain_on_directly_and_keeps_every_share():
    """A chain skips the heap (issue 11): the same order and sums as the heap gives, x * x and fans included."""
    x, y = Value(3.0, requires_grad=True, name="x"), Value(2.0, requires_grad=True, name="y")
    square = x * x  # both shares go to the one parent that is next: 2x
    loss = (square * y).tanh() * 1e-3  # a chain above a node with two new parents (square, y)
    order = [(node.name or node.op, float(g)) for node, g in walk(loss, np.float64(1.0))]
    t = np.tanh(18.0)
    assert [name for name, _ in order] == ["*", "tanh", "*", "*", "y", "x"]
    assert order[-2][1] == pytest.approx(1e-3 * (1 - t * t) * 9.0)  # d/dy = x²·tanh'
    assert order[-1][1] == pytest.approx(1e-3 * (1 - t * t) * 2.0 * 2 * 3.0)  # d/dx = y·2x·tanh'


def test_a_newer_second_parent_goes_on_and_only_the_older_one_waits(monkeypatch):
    """`s + w * x` (every neuron's sum): the product is made after the partial sum, so it comes first; it goes
    on directly, and the partial sum waits beside the heap (`held`), not in it. The order is newest op node first."""
    pushed = []
    monkeypatch.setattr(backprop, "heappush", lambda heap, entry: (pushed.append(entry[-1]),
                                                                  heapq.heappush(heap, entry)))
    x = Value(2.0, requires_grad=True, name="x")
    older, newer = x * 2.0, x * 3.0
    total = older + newer
    walked = list(walk(total, np.float64(1.0)))
    assert [node for node, _ in walked] == [total, newer, older, x]
    assert pushed == []  # the newer product was handed on, the older one held; x, a leaf, waits in its own list
    assert float(walked[-1][1]) == 5.0  # d(2x + 3x)/dx, both shares summed


@pytest.mark.parametrize("c_first", [False, True])
def test_held_and_heap_give_the_heaps_order(monkeypatch, c_first):
    """With more nodes waiting than the one held beside the heap, the order is still newest op node first: a
    newer waiting node takes the held place and the one it displaces goes into the heap."""
    pushed = []
    monkeypatch.setattr(backprop, "heappush", lambda heap, entry: (pushed.append(entry[-1]),
                                                                  heapq.heappush(heap, entry)))
    x = Value(2.0, requires_grad=True, name="x")
    if c_first:
        c = x * 4.0
    a, b = x * 2.0, x * 3.0
    if not c_first:
        c = x * 4.0
    ab = a + b
    total = ab + c
    walked = [node for node, _ in walk(total, np.float64(1.0))]
    ops = [node for node in walked if node.grad_fn is not None]
    assert [node.created for node in ops] == sorted((node.created for node in ops), reverse=True)
    assert walked[:2] == [total, ab] and walked[-1] is x and len(walked) == 6
    assert pushed == ([c] if c_first else [a, b])  # c displaced by the newer a; or a and b behind the held c
    assert x.grad is None  # the walk never writes .grad


def test_leaves_come_after_every_op_node_newest_first_whatever_their_numbers():
    """A weight loaded from a file keeps the number another process gave it, maybe above every op node's here:
    it still comes after all of them (it must have all its shares), and leaves among themselves newest first."""
    a, b, c = (Value(v, requires_grad=True, name=n) for v, n in ((1.0, "a"), (2.0, "b"), (3.0, "c")))
    loss = (a * b + c) * a
    a.created = loss.created + 10 ** 6  # as if loaded from another process
    walked = list(walk(loss, np.float64(1.0)))
    assert [node.name or node.op for node, _ in walked] == ["*", "+", "*", "a", "c", "b"]
    # loss = a²b + ca: d/da = 2ab + c, d/db = a², d/dc = a
    assert [float(g) for _, g in walked[3:]] == [2 * 1.0 * 2.0 + 3.0, 1.0, 1.0]


def test_the_chain_goes_on_past_weights_that_wait_for_their_shares(monkeypatch):
    """Weights wait for their shares outside the heap, so a chain past them never uses it: the order is newest op
    node first, the weights last, and each weight's gradient is the sum over every round (hand-derived for
    x·a·a·a + 3a)."""
    pushed = []
    monkeypatch.setattr(backprop, "heappush", lambda heap, entry: (pushed.append(entry[-1]),
                                                                  heapq.heappush(heap, entry)))
    x, a = Value(2.0, requires_grad=True, name="x"), Value(0.5, requires_grad=True, name="a")
    h = x
    for _ in range(3):
        h = h * a + a  # a gets two shares a round; after the first node it waits in the heap
    walked = list(walk(h, np.float64(1.0)))
    assert pushed == []  # a chain of six op nodes, handed on one to the next; a and x collect their shares aside
    ops = [node for node, _ in walked if node.grad_fn is not None]
    assert [node.created for node in ops] == sorted((node.created for node in ops), reverse=True)
    assert [node.name for node, _ in walked[-2:]] == ["a", "x"]  # leaves last, the newer first
    grads = {node.name: float(g) for node, g in walked if node.name}
    # h = ((x a + a) a + a) a + a = x a³ + a³ + a² + a: dh/dx = a³, dh/da = 3x a² + 3a² + 2a + 1
    assert grads["x"] == pytest.approx(0.5 ** 3)
    assert grads["a"] == pytest.approx(3 * 2.0 * 0.25 + 3 * 0.25 + 2 * 0.5 + 1)


# ---- the chain's short way (issue 11) ----------------------------------------------------------------------------
CHAIN_STEPS = {  # one input that needs a gradient per step: constants beside it, broadcasting, settings, views
    "* 2": lambda v: v * 2.0, "- 1.5": lambda v: v - 1.5, "3 -": lambda v: 3.0 - v, "tanh": lambda v: v.tanh(),
    "**2": lambda v: v ** 2, "exp": lambda v: (v * 0.1).exp(), "sum": lambda v: v.sum(), "T": lambda v: v.T,
    "reshape": lambda v: v.reshape(-1), "+ rows": lambda v: v + Value(np.ones((2, *v.shape))),  # sum_to_shape
    "* const": lambda v: Value(np.full(v.shape, 0.5)) * v, "relu": lambda v: (v - 0.2).relu()}


@given(st.sampled_from([(), (3,), (2, 3)]), st.lists(st.sampled_from(sorted(CHAIN_STEPS)), min_size=1, max_size=8),
       st.sampled_from([np.float32, np.float64]))
def test_a_chain_walked_the_short_way_gives_what_the_general_loop_gives(shape, steps, dtype):
    """The walk takes a chain at the top of the graph without its bookkeeping for waiting nodes; with `edges`
    (the pictures) it takes the general loop. Both must yield the same nodes, in the same order, with the very
    same numbers, and backward must store the same gradients."""
    w = Value(np.linspace(-1, 1, int(np.prod(shape))).reshape(shape), requires_grad=True, dtype=dtype)
    v = w
    for step in steps:
        v = CHAIN_STEPS[step](v)
    root = v.sum() if v.ndim else v
    grad = backprop.seed(root, None)
    short, general = list(walk(root, grad)), list(walk(root, grad, edges=[]))
    assert [node for node, _ in short] == [node for node, _ in general] and short[-1][0] is w
    for (_, a), (_, b) in zip(short, general, strict=True):
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    root.backward()  # (stored in the weight's dtype: a float64 constant beside a float32 weight promotes its share)
    assert np.array_equal(w.grad.data, np.asarray(general[-1][1], w.dtype)) and w.grad.dtype == w.dtype


def test_a_weight_at_the_end_of_a_chain_owns_its_gradient():
    """`w + 1` hands its gradient on unchanged and `reshape` as a view: the weight's .grad is copied off both, so
    an in-place step on one gradient cannot change another node's (the general loop's rule, on the short way)."""
    for make in (lambda w: w + 1.0, lambda w: w.reshape(2, 2)):
        w = Value(np.arange(4.0), requires_grad=True)
        out = make(w)
        out.backward(np.ones(out.shape))
        assert not np.shares_memory(w.grad.data, out.grad.data)
        assert np.array_equal(w.grad.data, np.ones(4))


def test_a_chain_changed_in_place_is_refused_and_no_grad_is_written():
    w = Value(2.0, requires_grad=True)
    h = w * 3.0
    loss = (h.tanh() - 1.0) ** 2
    with no_grad():
        h += 1.0  # changes what tanh used
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
    assert w.grad is None and h.grad is None and loss.grad is None
