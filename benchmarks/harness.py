"""Check, then time: every installed system on every workload, as ratios to a reference measured in the same run.

For each workload the harness
1. builds every system from the same NumPy inputs and runs one step: a system that fails or disagrees with the
   first system that succeeded (loss and every gradient) is reported and never timed;
2. times the systems *interleaved*: each repetition runs every system once, in a rotating order, so drift of this
   noisy machine hits all of them alike; the ratio is the median over repetitions of time(system) / time(reference)
   in the same repetition;
3. does it twice: with the garbage collector on (as users run code) and off.
"""

import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from datetime import date
from importlib import metadata
from pathlib import Path

import numpy as np

from . import workloads as wl

SAMPLE_SECONDS = 0.03  # aim for samples at least this long, repeating fast steps
SLOW_SECONDS = 6.0  # a step slower than this is timed once (a peer on W3), to keep `make bench` within minutes


def to_numpy(x):
    """A loss or gradient of any system as a float64 array (conversion happens outside the timed region)."""
    if hasattr(x, "detach"):  # torch
        x = x.detach().numpy()
    x = getattr(x, "data", x)  # tinygrad_gd Value, mygrad Tensor
    return np.asarray(x, dtype=np.float64)


def disagreement(result, reference):
    """The largest relative difference between two (loss, grads) results, or inf if their shapes differ."""
    worst = 0.0
    for a, b in zip([result[0], *result[1]], [reference[0], *reference[1]], strict=True):
        a, b = to_numpy(a), to_numpy(b)
        if a.shape != b.shape:
            return np.inf
        scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-12)
        worst = max(worst, float(np.max(np.abs(a - b), initial=0.0)) / scale)
    return worst


def build(name, quick=False, only=None, **sizes):
    """Make the workload's data and every installed system's step (or only those labelled in `only`); check them.
    Returns (steps, status, first), `first` being each step's duration in the check (with the GC on)."""
    spec = wl.WORKLOADS[name]
    data = spec["data"](quick, **sizes)
    steps, status, first, reference = {}, {}, {}, None
    tolerance = spec.get("tolerance", 1e-6)  # 1e-4 for W2 in float32; the rest run in float64
    for label, module, factory in spec["systems"]:
        if only is not None and label not in only:
            continue
        if module and wl.peer(module) is None:
            status[label] = "absent (not installed)"
            continue
        try:
            step = factory(data)
            start = time.perf_counter()
            result = step()
            first[label] = time.perf_counter() - start
        except Exception as error:  # noqa: BLE001 — any failure is a finding to report, e.g. RecursionError
            status[label] = f"fails: {type(error).__name__}"
            continue
        if reference is None:
            reference = result
        error = disagreement(result, reference)
        if error > tolerance:
            status[label] = f"WRONG: differs by {error:.2g} (relative) from {next(iter(steps))}"
            continue
        steps[label], status[label] = step, "ok"
    return steps, status, first


def measure(steps, reps, gc_on, first):
    """Per-call seconds of every step, `reps` samples each, systems interleaved in a rotating order.

    `first` holds each step's duration in the check. Fast steps repeat within a sample to last SAMPLE_SECONDS.
    A slow step (one call per sample) starts from a collected heap and, with the GC on, after one untimed call:
    the timed call then pays for its own previous garbage as in a training loop, not for another system's.
    A step slower than SLOW_SECONDS is not repeated: its check call (GC on) is its only sample.
    """
    numbers = {label: max(1, min(1000, round(SAMPLE_SECONDS / first[label]))) for label in steps}
    times = {label: [first[label]] if first[label] > SLOW_SECONDS and gc_on else [] for label in steps}
    labels = [label for label in steps if first[label] <= SLOW_SECONDS]
    was_enabled = gc.isenabled()
    gc.collect()
    (gc.enable if gc_on else gc.disable)()
    try:
        for rep in range(reps if labels else 0):  # on a loaded machine every step may be slower than SLOW_SECONDS
            for label in labels[rep % len(labels):] + labels[:rep % len(labels)]:
                step, number = steps[label], numbers[label]
                if number == 1:
                    gc.collect()
                    if gc_on:
                        step()
                start = time.perf_counter()
                for _ in range(number):
                    step()
                times[label].append((time.perf_counter() - start) / number)
    finally:
        (gc.enable if was_enabled else gc.disable)()
        gc.collect()
    return {label: ts for label, ts in times.items() if ts}


def ratios(times, reference):
    """Median over repetitions of time / reference time in the same repetition (else a ratio of medians)."""
    if reference not in times:
        return {}
    ref = times[reference]
    return {label: statistics.median(t / r for t, r in zip(ts, ref, strict=False)) if len(ts) == len(ref)
            else statistics.median(ts) / statistics.median(ref) for label, ts in times.items()}


def _c_heap_bytes():
    """Bytes in use in the C allocator (glibc's mallinfo2): where torch keeps its graph. None elsewhere.
    Python's own small objects live in arenas outside it (tracemalloc sees those)."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def chain_memory(step, n, graphs, data):
    """W3's memory, GC off. For tinygrad_gd: the peak Python heap of one forward + backward (tracemalloc) and
    what is left once the graph is dropped. For every system in `graphs`: bytes per op of the forward graph held
    alive, in Python objects (tracemalloc, a pass of its own) and in the C heap (malloc; torch's C++ graph lives
    there, and tracemalloc's own bookkeeping would too, hence two passes), and how many objects per op the cyclic
    garbage collector tracks (the ones each of its collections scans)."""
    gc.collect()
    gc.disable()
    out = {}
    try:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        step()  # the graph is dropped when step returns
        after, peak = tracemalloc.get_traced_memory()
        gc.collect()
        collected = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out["tinygrad_gd"] = {"peak_mb": (peak - base) / 2**20, "peak_bytes_per_op": (peak - base) / n,
                              "left_after_drop_kb": (after - base) / 2**10,
                              "left_after_gc_kb": (collected - base) / 2**10}
        for label, (module, build_graph) in graphs.items():
            if module and wl.peer(module) is None:
                continue
            gc.collect()
            tracked, c_heap = len(gc.get_objects()), _c_heap_bytes()
            graph = build_graph(data)
            tracked, c_heap = len(gc.get_objects()) - tracked, c_heap and _c_heap_bytes() - c_heap
            del graph
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            graph = build_graph(data)
            python = tracemalloc.get_traced_memory()[0] - base
            tracemalloc.stop()
            del graph
            gc.collect()
            out.setdefault(label, {}).update(
                python_bytes_per_op=python / n, c_heap_bytes_per_op=None if c_heap is None else c_heap / n,
                bytes_per_op=python / n + (c_heap or 0) / n, gc_tracked_per_op=tracked / n)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        gc.enable()
    return out


W3_BYTES_TARGET = 250
REPS = {"W1": 3, "W2": 15, "W2f64": 15, "W3": 3, "W4": 9, "W5": 9}


def run_workload(name, quick=False, reps=None):
    spec = wl.WORKLOADS[name]
    steps, status, first = build(name, quick)
    reps = 2 if quick else reps or REPS[name]
    reference = spec["systems"][0][0]
    result = {"title": spec["title"], "reference": reference, "status": status, "systems": {}}
    for gc_on in (True, False):
        times = measure(steps, reps, gc_on, first)
        relative = ratios(times, reference)
        for label, ts in times.items():
            result["systems"].setdefault(label, {})["gc_on" if gc_on else "gc_off"] = {
                "median_s": statistics.median(ts), "ratio": relative.get(label)}
    for label, (sense, bound) in spec["targets"].items():
        entry = result["systems"].get(label)
        ratio = entry and entry["gc_on"]["ratio"]
        met = None if ratio is None else (ratio <= bound if sense == "<=" else ratio >= bound)
        result["systems"].setdefault(label, {})["target"] = {"ratio": f"{sense} {bound}", "met": met}
    if name == "W3" and not quick:
        data = wl.WORKLOADS[name]["data"](quick)
        result["memory"] = chain_memory(steps["tinygrad_gd"], data["n"], wl.W3_GRAPHS, data)
    return result


# ---- scaling: W2's overhead over the floor as the work grows; W3's time as the chain grows --------------------
SCALING_W2 = [(16, 256), (128, 256), (1024, 256), (128, 64), (128, 1024)]  # (batch, width)
SCALING_W3 = [1_000, 10_000, 100_000]


def run_scaling(quick=False, w3=None):
    """W2 over batch and width (the floor, tinygrad_gd, torch); W3 over the chain length (reusing W3's run)."""
    out = {"W2": [], "W3": []}
    keep = {"numpy by hand", "tinygrad_gd", "torch"}
    for batch, width in SCALING_W2[:1] if quick else SCALING_W2:
        steps, status, first = build("W2", quick, batch=batch, width=width)
        steps = {label: step for label, step in steps.items() if label in keep}
        times = measure(steps, 2 if quick else 5, True, first)
        sizes = [784, width, width // 2, 10]
        flops = 6 * batch * sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))  # forward + two backward matmuls
        out["W2"].append({"batch": batch, "width": width, "flops": flops, "status": status,
                          "median_s": {label: statistics.median(t) for label, t in times.items()},
                          "ratio": ratios(times, "numpy by hand")})
    for n in SCALING_W3[:1] if quick else SCALING_W3:
        row = {"n": n}
        for key in ("gc_on", "gc_off"):
            if w3 and n == SCALING_W3[-1]:
                times = {label: [entry[key]["median_s"]] for label, entry in w3["systems"].items() if key in entry}
            else:
                steps, status, first = build("W3", quick, n=n)
                times = measure({label: steps[label] for label in steps if label in keep}, 2 if quick else 3,
                                key == "gc_on", first)
            row["per_op_us" if key == "gc_on" else "per_op_us_gc_off"] = {
                label: 1e6 * statistics.median(t) / n for label, t in times.items() if label in keep}
        out["W3"].append(row)
    return out


def plot_scaling(scaling, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rows, plotted = sorted(scaling["W2"], key=lambda row: row["flops"]), []
    for label in ("tinygrad_gd", "torch"):
        points = [(row["flops"], row["ratio"][label]) for row in rows if label in row["ratio"]]
        plotted += points
        if points:
            left.plot(*zip(*points, strict=False), "o-", label=label)
            for i, row in enumerate(rows):  # labels above and below in turn: neighbours on the right are close
                if label == "tinygrad_gd" and label in row["ratio"]:
                    left.annotate(f"b{row['batch']} w{row['width']}", (row["flops"], row["ratio"][label]),
                                  textcoords="offset points", xytext=(4, 5 if i % 2 == 0 else -11), fontsize=7)
    left.axhline(1.0, color="gray", linestyle="--", label="hand-written NumPy (the floor)")
    lowest = min((ratio for _, ratio in plotted), default=1.0)  # every point, torch's too: none may fall off the axis
    left.set_ylim(bottom=min(0.9, lowest - 0.1))  # room under the floor line for a label placed below its point
    left.set(xscale="log", xlabel="FLOPs per step (batch × width of the 784-w-w/2-10 MLP)",
             ylabel="time per step / floor", title="W2: overhead over NumPy falls toward 1 as work grows")
    left.legend(fontsize=8)
    for label in ("tinygrad_gd", "torch"):
        for key, style, note in (("per_op_us", "o-", "GC on"), ("per_op_us_gc_off", "s--", "GC off")):
            points = [(row["n"], row[key][label] * row["n"] / 1e3) for row in scaling["W3"] if label in row[key]]
            if points:
                right.plot(*zip(*points, strict=False), style, label=f"{label}, {note}")
    right.set(xscale="log", yscale="log", xlabel="chain length (ops)", ylabel="forward + backward (ms)",
              title="W3: time linear in the chain length")
    right.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return left.get_ylim()  # (bottom, top) of the W2 panel: every plotted ratio lies between them


# ---- reporting ----------------------------------------------------------------------------------------------
def environment():
    versions = {}
    for package in ("tinygrad-gd", "numpy", "micrograd", "torch", "mygrad", "autograd"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": date.today().isoformat(), "cpu": cpu, "python": platform.python_version(),
            "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
            "unset": os.environ.get("TINYGRAD_GD_BENCH_UNSET"), "blas": blas_kernels(), "versions": versions}


def blas_kernels():
    """The BLAS libraries loaded in this process and the kernel family each runs (threadpoolctl), e.g.
    `openblas 0.3.30 Zen, 1 thread`. Call it after NumPy (and torch) are imported."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["unknown (threadpoolctl is not installed: make bench installs it)"]
    return [f"{lib.get('internal_api')} {lib.get('version')} {lib.get('architecture') or ''}".replace("  ", " ")
            + f", {lib.get('num_threads')} thread{'s' if lib.get('num_threads') != 1 else ''}"
            + f" ({Path(lib.get('filepath', '')).name})"
            for lib in threadpool_info() if lib.get("user_api") == "blas"]


def machine_line(env):
    """The one line a README table is quoted with: date, CPU, Python, threads, the BLAS kernel actually run."""
    unset = env.get("unset")
    removed = (f"{unset} removed for this run" if unset else
               "OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE not set" if unset == "" else "environment as given")
    return (f"{env['date']}, {env['cpu']}, Python {env['python']}, 1 thread; BLAS: {'; '.join(env['blas'])}"
            f" ({removed})")


def _seconds(s):
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def table(name, result):
    """One workload as a Markdown table: time and ratio with GC on and off, target and whether it is met."""
    lines = [f"### {name} — {result['title']}", "",
             f"Ratios are to **{result['reference']}** (median of per-repetition ratios; lower is faster).", "",
             "| system | time, GC on | ratio, GC on | time, GC off | ratio, GC off | target | met |",
             "|---|---:|---:|---:|---:|---|---|"]
    for label, status in result["status"].items():
        entry = result["systems"].get(label, {})
        target = entry.get("target", {})
        met = {True: "yes", False: "**no**", None: "—"}[target.get("met")] if target else ""
        if status != "ok":
            lines.append(f"| {label} | {status} | | | | {target.get('ratio', '')} | {met} |")
            continue
        cells = []
        for key in ("gc_on", "gc_off"):
            if key not in entry:  # slower than SLOW_SECONDS: timed once, in the check, with the GC on
                cells += ["not repeated", "—"]
                continue
            ratio = entry[key]["ratio"]
            cells += [_seconds(entry[key]["median_s"]), "—" if ratio is None else f"{ratio:.3f}×"]
        lines.append(f"| {label} | {' | '.join(cells)} | {target.get('ratio', '')} | {met} |")
    memory = result.get("memory")
    if memory:
        mine = memory["tinygrad_gd"]
        lines += ["", f"Memory of the forward graph held alive (GC off; target for tinygrad_gd: {W3_BYTES_TARGET} "
                  "bytes per op):", "",
                  "| system | bytes per op | of it Python objects | of it C heap | GC-tracked objects per op |",
                  "|---|---:|---:|---:|---:|"]
        for label, e in memory.items():
            if "bytes_per_op" in e:
                c_heap = "—" if e["c_heap_bytes_per_op"] is None else f"{e['c_heap_bytes_per_op']:.0f} B"
                lines.append(f"| {label} | {e['bytes_per_op']:.0f} B | {e['python_bytes_per_op']:.0f} B | {c_heap} | "
                             f"{e['gc_tracked_per_op']:.2f} |")
        lines.append(f"\ntinygrad_gd: peak Python heap {mine['peak_mb']:.1f} MB ({mine['peak_bytes_per_op']:.0f} "
                     f"bytes per op) through forward and backward; {mine['left_after_drop_kb']:.1f} KB left once "
                     f"it is dropped with the GC off ({mine['left_after_gc_kb']:.1f} KB after gc.collect()).")
    return "\n".join(lines)


def scaling_table(scaling):
    lines = ["### Scaling — W2 (time per step / hand-written NumPy) and W3 (µs per op)", "",
             "| batch | width | NumPy step | tinygrad_gd ratio | torch ratio |", "|---:|---:|---:|---:|---:|"]
    for row in scaling["W2"]:
        r = row["ratio"]
        lines.append(f"| {row['batch']} | {row['width']} | {_seconds(row['median_s']['numpy by hand'])} | "
                     f"{r.get('tinygrad_gd', float('nan')):.3f}× | {r.get('torch', float('nan')):.3f}× |")
    lines += ["", "| chain ops | tinygrad_gd µs/op, GC on | torch µs/op, GC on | tinygrad_gd µs/op, GC off | "
              "torch µs/op, GC off |", "|---:|---:|---:|---:|---:|"]
    nan = float("nan")
    for row in scaling["W3"]:
        on, off = row["per_op_us"], row["per_op_us_gc_off"]
        lines.append(f"| {row['n']:,} | {on.get('tinygrad_gd', nan):.2f} | {on.get('torch', nan):.2f} | "
                     f"{off.get('tinygrad_gd', nan):.2f} | {off.get('torch', nan):.2f} |")
    return "\n".join(lines)


PEER_MODULES = ("micrograd.engine", "micrograd.nn", "torch", "mygrad", "mygrad.nnet.activations", "mygrad.nnet.losses",
                "autograd", "autograd.numpy")


def freeze_imports():
    """Import every installed peer, then move all objects alive now to the GC's permanent generation.

    All systems share one process (so they can be interleaved), and a full collection traverses every object
    alive, torch's 200,000 import-time objects included. Frozen, they no longer count: each system's garbage
    collector cost is that of its own objects, as in a program that imports only that system.
    """
    for module in PEER_MODULES:
        wl.peer(module)
    gc.collect()
    gc.freeze()


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, two repetitions: a smoke run")
    parser.add_argument("--only", nargs="*", choices=list(wl.WORKLOADS), help="run only these workloads")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling runs and the plot")
    parser.add_argument("--json", default="out/bench/results.json", help="where to write all numbers")
    parser.add_argument("--plot", default="docs/bench_scaling.png", help="where to draw the scaling plot")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    freeze_imports()
    report = {"environment": environment(), "quick": args.quick, "workloads": {}, "gc_frozen_at_start": True}
    env = report["environment"]
    print(f"# tinygrad_gd benchmarks — {machine_line(env)}")
    print("versions: " + ", ".join(f"{k} {v or 'absent'}" for k, v in env["versions"].items()) + "\n")
    for name in args.only or wl.WORKLOADS:
        result = report["workloads"][name] = run_workload(name, args.quick)
        print(table(name, result) + "\n", flush=True)
    if not args.no_scaling and not args.only:
        report["scaling"] = run_scaling(args.quick, report["workloads"].get("W3"))
        print(scaling_table(report["scaling"]) + "\n")
        if not args.quick:
            plot_scaling(report["scaling"], args.plot)
            print(f"plot: {args.plot}")
    report["seconds"] = time.perf_counter() - started
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    print(f"numbers: {args.json}; total {report['seconds']:.0f} s")
    return report


if __name__ == "__main__":
    sys.exit(main() and 0)
