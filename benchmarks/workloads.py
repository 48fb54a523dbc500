"""The workloads W1–W5, each written once per system, the way a user of that system would write it.

A *system factory* takes the workload's shared NumPy inputs and returns `step()`: one timed unit of work
(W1 one forward+backward, W2 one training step, ...). `step()` returns `(loss, grads)` in the system's own types;
the harness converts them to NumPy only for the correctness check, so the conversion is never timed.

Every system starts from the same NumPy numbers, so the check can demand the same loss and gradients from all.
Peers (micrograd, PyTorch, MyGrad, HIPS autograd) are imported lazily: a missing one is reported as absent.
"""

import importlib

import numpy as np

from tinygrad_gd import Value, no_grad

try:  # the real hiker and score, once they exist; hand-written equivalents until then
    from tinygrad_gd.optim import SGD
except ImportError:
    SGD = None
try:
    from tinygrad_gd.losses import cross_entropy
except ImportError:
    cross_entropy = None


def peer(module):
    """The module if it is installed, else None (absent peers are reported, not errors)."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    if module == "torch":
        mod.set_num_threads(1)  # the harness pins BLAS threads too: every system gets one core
    return mod


# ==== W1: micrograd's demo — MLP 2-16-16-1 on 100 moons points, max-margin loss + L2 ==============================
def w1_data(quick=False):
    rng = np.random.default_rng(1)
    n, sizes = (8, [2, 4, 4, 1]) if quick else (100, [2, 16, 16, 1])
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5  # two interleaved half-moons, as sklearn.make_moons(noise=0.1)
    x = np.where(upper[:, None], np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    x = x + rng.normal(0, 0.1, x.shape)
    y = np.where(upper, 1.0, -1.0)
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
        params += [rng.uniform(-1, 1, (fan_in, fan_out)), np.zeros(fan_out)]  # micrograd's init: b = 0
    return {"x": x, "y": y, "params": params, "alpha": 1e-4}


def w1_micrograd(d):
    mg = peer("micrograd.nn")
    model = mg.MLP(d["params"][0].shape[0], [b.shape[0] for b in d["params"][1::2]])
    for layer, weight, bias in zip(model.layers, d["params"][0::2], d["params"][1::2], strict=False):
        for j, neuron in enumerate(layer.neurons):
            for i, w in enumerate(neuron.w):
                w.data = float(weight[i, j])
            neuron.b.data = float(bias[j])
    value, xs, ys, alpha = mg.Value, d["x"].tolist(), d["y"].tolist(), d["alpha"]

    def step():  # micrograd's demo.ipynb loss(), then zero_grad + backward
        inputs = [list(map(value, row)) for row in xs]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores, strict=False)]
        data_loss = sum(losses) * (1.0 / len(losses))
        total = data_loss + alpha * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        return total.data, _micrograd_grads(model)
    return step


def _micrograd_grads(model):
    grads = []
    for layer in model.layers:
        grads.append([[w.grad for w in n.w] for n in layer.neurons])  # (fan_out, fan_in): transposed below
        grads.append([n.b.grad for n in layer.neurons])
    return [np.array(g).T if i % 2 == 0 else np.array(g) for i, g in enumerate(grads)]


def w1_scalar(d):
    """tinygrad_gd, node for node like micrograd: every number a 0-d Value."""
    layers = []
    for weight, bias in zip(d["params"][0::2], d["params"][1::2], strict=False):
        neurons = [([Value(weight[i, j], requires_grad=True) for i in range(weight.shape[0])],
                    Value(bias[j], requires_grad=True)) for j in range(weight.shape[1])]
        layers.append(neurons)
    params = [p for layer in layers for w, b in layer for p in (*w, b)]
    xs, ys, alpha = d["x"].tolist(), d["y"].tolist(), d["alpha"]

    def model(x):
        for k, layer in enumerate(layers):
            acts = [sum((wi * xi for wi, xi in zip(w, x, strict=False)), b) for w, b in layer]
            x = [a.relu() for a in acts] if k < len(layers) - 1 else acts
        return x[0]

    def step():
        inputs = [list(map(Value, row)) for row in xs]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores, strict=False)]
        data_loss = sum(losses) * (1.0 / len(losses))
        total = data_loss + alpha * sum(p * p for p in params)
        for p in params:
            p.grad = None
        total.backward()
        return total.data, w1_scalar_grads(layers)
    return step


def w1_scalar_grads(layers):
    grads = []
    for neurons in layers:
        grads.append(np.array([[wi.grad.data for wi in w] for w, _ in neurons]).T)
        grads.append(np.array([b.grad.data for _, b in neurons]))
    return grads


def w1_tinygrad_gd(d):
    """The same model with tensors: four matmuls instead of 7,000 scalar nodes."""
    params = [Value(p, requires_grad=True) for p in d["params"]]
    x, y, alpha = Value(d["x"]), Value(d["y"][:, None]), d["alpha"]

    def step():
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            h = h.relu() if k < len(params) - 2 else h
        total = (1 + -y * h).relu().mean() + alpha * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        total.backward()
        return total.data, [p.grad for p in params]
    return step


def w1_torch(d):
    torch = peer("torch")
    params = [torch.tensor(p, requires_grad=True) for p in d["params"]]
    x, y, alpha = torch.tensor(d["x"]), torch.tensor(d["y"][:, None]), d["alpha"]

    def step():
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            h = h.relu() if k < len(params) - 2 else h
        total = (1 + -y * h).relu().mean() + alpha * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        total.backward()
        return total, [p.grad for p in params]
    return step


def w1_mygrad(d):
    mg = peer("mygrad")
    relu = peer("mygrad.nnet.activations").relu
    params = [mg.tensor(p) for p in d["params"]]
    x, y, alpha = d["x"], d["y"][:, None], d["alpha"]

    def step():
        h = x
        for k in range(0, len(params), 2):
            h = mg.matmul(h, params[k]) + params[k + 1]
            h = relu(h) if k < len(params) - 2 else h
        total = mg.mean(relu(1 - y * h)) + alpha * sum(mg.sum(p * p) for p in params)
        total.backward()
        return total, [p.grad for p in params]
    return step


def w1_autograd(d):
    ag, anp = peer("autograd"), peer("autograd.numpy")
    x, y, alpha = d["x"], d["y"][:, None], d["alpha"]

    def loss(params):
        h = x
        for k in range(0, len(params), 2):
            h = anp.dot(h, params[k]) + params[k + 1]
            h = anp.maximum(h, 0) if k < len(params) - 2 else h
        return anp.mean(anp.maximum(1 - y * h, 0)) + alpha * sum(anp.sum(p * p) for p in params)

    value_and_grad, params = ag.value_and_grad(loss), [p.copy() for p in d["params"]]
    return lambda: value_and_grad(params)


# ==== W2: tensor MLP step — 784-256-128-10, batch 128, ReLU, softmax cross-entropy, SGD ==========================
def w2_data(quick=False, batch=128, width=256, dtype=np.float32):
    rng = np.random.default_rng(2)
    sizes = [12, 8, 6, 3] if quick else [784, width, width // 2, 10]
    batch = 5 if quick else batch
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
        params += [(rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)).astype(dtype),
                   np.zeros(fan_out, dtype)]
    return {"x": rng.standard_normal((batch, sizes[0])).astype(dtype),
            "y": rng.integers(0, sizes[-1], batch), "params": params, "lr": np.dtype(dtype).type(0.01)}


def w2_data_float64(quick=False, batch=128, width=256):
    return w2_data(quick, batch, width, dtype=np.float64)


def w2_numpy(d):
    """The floor: the same step written by hand in NumPy, no graph."""
    x, y, lr = d["x"], d["y"], d["lr"]
    w1, b1, w2, b2, w3, b3 = params = [p.copy() for p in d["params"]]
    rows = np.arange(len(y))

    def step():
        h1 = x @ w1 + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2 + b2
        a2 = np.maximum(h2, 0)
        logits = a2 @ w3 + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[rows, y].mean()
        d_logits = np.exp(log_p)  # softmax − one-hot, over the batch
        d_logits[rows, y] -= 1
        d_logits /= len(y)
        d_a2 = d_logits @ w3.T
        d_a2 *= h2 > 0
        d_a1 = d_a2 @ w2.T
        d_a1 *= h1 > 0
        grads = [x.T @ d_a1, d_a1.sum(axis=0), a1.T @ d_a2, d_a2.sum(axis=0), a2.T @ d_logits, d_logits.sum(axis=0)]
        for p, g in zip(params, grads, strict=False):
            p -= lr * g
        return loss, grads
    return step


def w2_numpy_buffers(d):
    """The floor's own limit: the same NumPy step allocating no array per step (out= buffers, ReLU and its
    mask in place, every update through one scratch buffer). Not a reference: it shows how far below the plain
    floor the arithmetic itself lies."""
    x, y, lr = d["x"], d["y"], d["lr"]
    w1, b1, w2, b2, w3, b3 = params = [p.copy() for p in d["params"]]
    rows, n = np.arange(len(y)), len(y)
    a1, a2, logits = (np.empty((n, w.shape[1]), x.dtype) for w in (w1, w2, w3))
    m1, m2 = np.empty(a1.shape, bool), np.empty(a2.shape, bool)
    d_a1, d_a2, d_logits, row = np.empty_like(a1), np.empty_like(a2), np.empty_like(logits), np.empty((n, 1), x.dtype)
    grads = [np.empty_like(p) for p in params]
    scratch = [np.empty_like(p) for p in params]

    def step():  # ufuncs with out=, not `a1 += b1`: an augmented assignment would make a1 local to step()
        np.add(np.matmul(x, w1, out=a1), b1, out=a1)
        np.maximum(a1, 0, out=a1)
        np.add(np.matmul(a1, w2, out=a2), b2, out=a2)
        np.maximum(a2, 0, out=a2)
        np.add(np.matmul(a2, w3, out=logits), b3, out=logits)
        np.subtract(logits, logits.max(axis=1, keepdims=True, out=row), out=logits)
        np.exp(logits, out=d_logits)
        d_logits.sum(axis=1, keepdims=True, out=row)
        loss = np.log(row).mean() - logits[rows, y].mean()
        np.divide(d_logits, row, out=d_logits)  # softmax − one-hot, over the batch
        d_logits[rows, y] -= 1
        np.divide(d_logits, n, out=d_logits)
        np.matmul(a2.T, d_logits, out=grads[4])
        d_logits.sum(axis=0, out=grads[5])
        np.multiply(np.matmul(d_logits, w3.T, out=d_a2), np.greater(a2, 0, out=m2), out=d_a2)
        np.matmul(a1.T, d_a2, out=grads[2])
        d_a2.sum(axis=0, out=grads[3])
        np.multiply(np.matmul(d_a2, w2.T, out=d_a1), np.greater(a1, 0, out=m1), out=d_a1)
        np.matmul(x.T, d_a1, out=grads[0])
        d_a1.sum(axis=0, out=grads[1])
        for p, g, s in zip(params, grads, scratch, strict=True):
            p -= np.multiply(g, lr, out=s)
        return loss, grads
    return step


def w2_tinygrad_gd(d):
    params = [Value(p, requires_grad=True) for p in d["params"]]
    w1, b1, w2, b2, w3, b3 = params
    x, y, lr = Value(d["x"]), d["y"], d["lr"]
    rows = np.arange(len(y))
    optimizer = SGD(params, lr=float(lr)) if SGD else None

    def step():
        logits = ((x @ w1 + b1).relu() @ w2 + b2).relu() @ w3 + b3
        loss = cross_entropy(logits, y) if cross_entropy else -logits.log_softmax(axis=1)[rows, y].mean()
        if optimizer:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        else:
            for p in params:
                p.grad = None
            loss.backward()
            with no_grad():
                for p in params:
                    p -= lr * p.grad
        return loss.data, [p.grad for p in params]
    return step


def w2_torch(d):
    torch = peer("torch")
    params = [torch.tensor(p, requires_grad=True) for p in d["params"]]
    w1, b1, w2, b2, w3, b3 = params
    x, y = torch.tensor(d["x"]), torch.tensor(d["y"])
    optimizer = torch.optim.SGD(params, lr=float(d["lr"]))
    cross_entropy_ = torch.nn.functional.cross_entropy

    def step():
        logits = ((x @ w1 + b1).relu() @ w2 + b2).relu() @ w3 + b3
        loss = cross_entropy_(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, [p.grad for p in params]
    return step


def w2_mygrad(d):
    mg = peer("mygrad")
    relu = peer("mygrad.nnet.activations").relu
    softmax_crossentropy = peer("mygrad.nnet.losses").softmax_crossentropy
    params = [mg.tensor(p) for p in d["params"]]
    w1, b1, w2, b2, w3, b3 = params
    x, y, lr = d["x"], d["y"], d["lr"]

    def step():
        logits = mg.matmul(relu(mg.matmul(relu(mg.matmul(x, w1) + b1), w2) + b2), w3) + b3
        loss = softmax_crossentropy(logits, y)
        loss.backward()
        grads = [p.grad for p in params]
        for p, g in zip(params, grads, strict=False):
            p.data -= lr * g
        return loss, grads
    return step


def w2_autograd(d):
    ag, anp = peer("autograd"), peer("autograd.numpy")
    x, y, lr = d["x"], d["y"], d["lr"]
    rows = np.arange(len(y))

    def loss(params):
        w1, b1, w2, b2, w3, b3 = params
        logits = anp.dot(anp.maximum(anp.dot(anp.maximum(anp.dot(x, w1) + b1, 0), w2) + b2, 0), w3) + b3
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        log_p = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(log_p[rows, y])

    value_and_grad, params = ag.value_and_grad(loss), [p.copy() for p in d["params"]]

    def step():
        value, grads = value_and_grad(params)
        for p, g in zip(params, grads, strict=False):
            p -= lr * g
        return value, grads
    return step


# ==== W3: deep chain — n sequential scalar ops (×, −, relu, repeating), then backward ============================
def w3_data(quick=False, n=100_000):
    return {"x": 1.5, "n": 30 if quick else n}


def _chain(x, n, relu):
    """x ↦ relu(1.0001·x − 0.0001), n ops: x − 1 grows by 1.0001 a round and stays positive (micrograd has no tanh)."""
    for i in range(n):
        k = i % 3
        x = x * 1.0001 if k == 0 else x - 0.0001 if k == 1 else relu(x)
    return x


def w3_tinygrad_gd(d):
    def step():
        x = Value(d["x"], requires_grad=True)
        out = _chain(x, d["n"], Value.relu)
        out.backward()
        return out.data, [x.grad]
    return step


def w3_micrograd(d):
    value = peer("micrograd.engine").Value

    def step():
        x = value(d["x"])
        out = _chain(x, d["n"], value.relu)
        out.backward()  # recursive: RecursionError beyond a depth of about 1,000
        return out.data, [x.grad]
    return step


def w3_torch(d):
    torch = peer("torch")

    def step():
        x = torch.tensor(d["x"], dtype=torch.float64, requires_grad=True)
        out = _chain(x, d["n"], torch.relu)
        out.backward()
        return out, [x.grad]
    return step


def w3_mygrad(d):
    mg = peer("mygrad")
    relu = peer("mygrad.nnet.activations").relu

    def step():
        x = mg.tensor(d["x"])
        out = _chain(x, d["n"], relu)
        out.backward()
        return out, [x.grad]
    return step


def w3_autograd(d):
    ag, anp = peer("autograd"), peer("autograd.numpy")
    value_and_grad = ag.value_and_grad(lambda x: _chain(x, d["n"], lambda v: anp.maximum(v, 0.0)))

    def step():
        value, grad = value_and_grad(d["x"])
        return value, [grad]
    return step


# W3's memory: the forward graph each system keeps alive, built alone (micrograd's fails only in its backward).
W3_GRAPHS = {  # label: (module that must be installed, the forward graph)
    "tinygrad_gd": (None, lambda d: _chain(Value(d["x"], requires_grad=True), d["n"], Value.relu)),
    "torch": ("torch", lambda d: _chain(peer("torch").tensor(d["x"], dtype=peer("torch").float64, requires_grad=True),
                                        d["n"], peer("torch").relu)),
    "micrograd": ("micrograd", lambda d: _chain(peer("micrograd.engine").Value(d["x"]), d["n"],
                                                peer("micrograd.engine").Value.relu)),
}


# ==== W4: per-op overhead — (8,) tensors, 1,000 mixed elementwise ops + sum, forward+backward ====================
def w4_data(quick=False):
    rng = np.random.default_rng(4)
    return {"leaves": [rng.uniform(-1, 1, 8) for _ in range(4)], "rounds": 5 if quick else 250}


def _mixed(x, a, b, c, rounds, tanh, sigmoid):
    for i in range(rounds):  # four ops a round: ×, +, tanh or sigmoid, −
        x = (tanh if i % 2 else sigmoid)(x * a + b) - c
    return x


def w4_tinygrad_gd(d):
    leaves = [Value(v, requires_grad=True) for v in d["leaves"]]

    def step():
        for v in leaves:
            v.grad = None
        out = _mixed(*leaves, d["rounds"], Value.tanh, Value.sigmoid).sum()
        out.backward()
        return out.data, [v.grad for v in leaves]
    return step


def w4_torch(d):
    torch = peer("torch")
    leaves = [torch.tensor(v, requires_grad=True) for v in d["leaves"]]

    def step():
        for v in leaves:
            v.grad = None
        out = _mixed(*leaves, d["rounds"], torch.tanh, torch.sigmoid).sum()
        out.backward()
        return out, [v.grad for v in leaves]
    return step


def w4_mygrad(d):
    mg = peer("mygrad")
    sigmoid = peer("mygrad.nnet.activations").sigmoid
    leaves = [mg.tensor(v) for v in d["leaves"]]

    def step():
        out = mg.sum(_mixed(*leaves, d["rounds"], mg.tanh, sigmoid))
        out.backward()
        return out, [v.grad for v in leaves]
    return step


def w4_autograd(d):
    ag, anp = peer("autograd"), peer("autograd.numpy")

    def sigmoid(x):
        return 0.5 * (anp.tanh(0.5 * x) + 1)  # autograd.numpy has no sigmoid: the usual identity (3 ops, not 1)

    value_and_grad = ag.value_and_grad(lambda leaves: anp.sum(_mixed(*leaves, d["rounds"], anp.tanh, sigmoid)))
    leaves = list(d["leaves"])
    return lambda: value_and_grad(leaves)


# ==== W5: descent loop — (w − 2)², w a single number, 1,000 steps of backward + step + zero_grad ================
def w5_data(quick=False):
    return {"w": 5.0, "lr": 0.01, "steps": 20 if quick else 1000}


def w5_micrograd(d):
    value = peer("micrograd.engine").Value

    def step():  # the hand-written update of micrograd's demo
        w = value(d["w"])
        for _ in range(d["steps"]):
            loss = (w - 2) ** 2
            w.grad = 0
            loss.backward()
            w.data -= d["lr"] * w.grad
        return loss.data, [w.data, w.grad]
    return step


def w5_tinygrad_gd(d):
    def step():
        w = Value(d["w"], requires_grad=True)
        optimizer = SGD([w], lr=d["lr"]) if SGD else None
        for _ in range(d["steps"]):
            loss = (w - 2) ** 2
            if optimizer:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            else:
                w.grad = None
                loss.backward()
                with no_grad():
                    w -= d["lr"] * w.grad
        return loss.data, [w.data, w.grad]
    return step


def w5_tinygrad_gd_hand(d):
    def step():
        w = Value(d["w"], requires_grad=True)
        for _ in range(d["steps"]):
            loss = (w - 2) ** 2
            w.grad = None
            loss.backward()
            with no_grad():
                w -= d["lr"] * w.grad
        return loss.data, [w.data, w.grad]
    return step


def w5_torch(d):
    torch = peer("torch")

    def step():
        w = torch.tensor(d["w"], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.SGD([w], lr=d["lr"])
        for _ in range(d["steps"]):
            loss = (w - 2) ** 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return loss, [w.detach(), w.grad]
    return step


def w5_mygrad(d):
    mg = peer("mygrad")

    def step():
        w = mg.tensor(d["w"])
        for _ in range(d["steps"]):
            loss = (w - 2) ** 2
            loss.backward()
            grad = w.grad
            w.data -= d["lr"] * grad
        return loss, [w.data, grad]
    return step


def w5_autograd(d):
    ag = peer("autograd")
    value_and_grad = ag.value_and_grad(lambda w: (w - 2) ** 2)

    def step():
        w = d["w"]
        for _ in range(d["steps"]):
            loss, grad = value_and_grad(w)
            w = w - d["lr"] * grad
        return loss, [w, grad]
    return step


W2_SYSTEMS = [("numpy by hand", None, w2_numpy),
              ("numpy, no allocation", None, w2_numpy_buffers),
              ("tinygrad_gd", None, w2_tinygrad_gd),
              ("torch", "torch", w2_torch),
              ("mygrad", "mygrad", w2_mygrad),
              ("autograd", "autograd", w2_autograd)]

# Each workload: how to make its inputs, and its systems as (label, module that must be installed, factory).
# The first system is the reference the ratios are taken against; `tolerance` is the check's (default 1e-6).
WORKLOADS = {
    "W1": dict(title="scalar graph: micrograd's demo MLP 2-16-16-1, 100 moons, max-margin + L2, forward+backward",
               data=w1_data, systems=[
                   ("micrograd", "micrograd", w1_micrograd),
                   ("tinygrad_gd 0-d", None, w1_scalar),
                   ("tinygrad_gd tensor", None, w1_tinygrad_gd),
                   ("torch tensor", "torch", w1_torch),
                   ("mygrad tensor", "mygrad", w1_mygrad),
                   ("autograd tensor", "autograd", w1_autograd)],
               targets={"tinygrad_gd 0-d": ("<=", 0.25), "tinygrad_gd tensor": ("<=", 0.01)}),
    "W2": dict(title="tensor MLP step: 784-256-128-10, batch 128, ReLU, softmax CE, SGD (float32)",
               data=w2_data, systems=W2_SYSTEMS, targets={"tinygrad_gd": ("<=", 1.00)}, tolerance=1e-4),
    "W2f64": dict(title="the same MLP step in float64", data=w2_data_float64, systems=W2_SYSTEMS,
                  targets={"tinygrad_gd": ("<=", 1.00)}),
    "W3": dict(title="deep chain: 100,000 sequential scalar ops (×, −, relu), then backward",
               data=w3_data, systems=[
                   ("torch", "torch", w3_torch),
                   ("tinygrad_gd", None, w3_tinygrad_gd),
                   ("micrograd", "micrograd", w3_micrograd),
                   ("mygrad", "mygrad", w3_mygrad),
                   ("autograd", "autograd", w3_autograd)],
               targets={"tinygrad_gd": ("<=", 0.40)}),
    "W4": dict(title="per-op overhead: (8,) tensors, 1,000 mixed elementwise ops + sum, forward+backward",
               data=w4_data, systems=[
                   ("torch", "torch", w4_torch),
                   ("tinygrad_gd", None, w4_tinygrad_gd),
                   ("mygrad", "mygrad", w4_mygrad),
                   ("autograd", "autograd", w4_autograd)],
               targets={"tinygrad_gd": ("<=", 0.70)}),
    "W5": dict(title="descent loop: (w − 2)², w a 0-d Value, 1,000 × (forward, zero_grad, backward, step)",
               data=w5_data, systems=[
                   ("micrograd (hand step)", "micrograd", w5_micrograd),
                   ("tinygrad_gd (optimizer)", None, w5_tinygrad_gd),
                   ("tinygrad_gd (hand step)", None, w5_tinygrad_gd_hand),
                   ("torch (optimizer)", "torch", w5_torch),
                   ("mygrad (hand step)", "mygrad", w5_mygrad),
                   ("autograd (hand step)", "autograd", w5_autograd)],
               targets={"tinygrad_gd (optimizer)": ("<=", 1.0), "tinygrad_gd (hand step)": ("<=", 1.0)}),
}
