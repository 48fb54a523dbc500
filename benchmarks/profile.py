"""`python -m benchmarks.profile W5 [--system LABEL] [--calls N]`: where one system's time goes on one workload.

Same environment as `make bench` (one thread, the CPU's own BLAS kernels). For the chosen system (tinygrad_gd's
first entry by default) it prints, for N calls of the workload's step:
- wall time per call with the garbage collector on and off;
- the collections it triggered, per generation, and the time spent in them (gc.callbacks);
- Python calls per step and the top functions by own time (cProfile; profiling itself inflates small calls);
- the peak Python heap of one call (tracemalloc).
"""

import argparse
import cProfile
import gc
import io
import pstats
import time
import tracemalloc

from ._env import pin

if __name__ == "__main__":
    pin("benchmarks.profile")

from . import harness  # noqa: E402 (after the environment is fixed)
from . import workloads as wl  # noqa: E402


def timed(step, calls, gc_on):
    gc.collect()
    (gc.enable if gc_on else gc.disable)()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            step()
        return (time.perf_counter() - start) / calls
    finally:
        gc.enable()


def collections(step, calls):
    """(count, seconds) of the collections per generation that `calls` steps trigger with the GC on."""
    counts, seconds, started = [0, 0, 0], [0.0, 0.0, 0.0], {}

    def callback(phase, info):
        if phase == "start":
            started["t"] = time.perf_counter()
        else:
            counts[info["generation"]] += 1
            seconds[info["generation"]] += time.perf_counter() - started["t"]

    gc.collect()
    gc.callbacks.append(callback)
    try:
        for _ in range(calls):
            step()
    finally:
        gc.callbacks.remove(callback)
    return counts, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=list(wl.WORKLOADS))
    parser.add_argument("--system", help="a system label of that workload (default: tinygrad_gd's first)")
    parser.add_argument("--calls", type=int, default=None, help="steps to run (default: about 2 s worth)")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--quick", action="store_true", help="the smoke sizes")
    args = parser.parse_args(argv)
    systems = wl.WORKLOADS[args.workload]["systems"]
    label = args.system or next(label for label, module, _ in systems if label.startswith("tinygrad_gd"))
    harness.freeze_imports()
    steps, status, first = harness.build(args.workload, args.quick, only=[label])
    if label not in steps:
        raise SystemExit(f"{label}: {status.get(label, 'no such system')}")
    step = steps[label]
    calls = args.calls or max(1, round(2.0 / first[label]))
    step()  # warm
    on, off = timed(step, calls, True), timed(step, calls, False)
    print(f"# {args.workload} {label}: {calls} calls; {harness.machine_line(harness.environment())}")
    print(f"time per call: GC on {harness._seconds(on)}, GC off {harness._seconds(off)} "
          f"(the collector: {100 * (on - off) / on:.0f} %)")
    counts, seconds = collections(step, calls)
    print("collections per call, by generation: " + ", ".join(
        f"gen{g} {counts[g] / calls:.2f} ({harness._seconds(seconds[g] / calls)})" for g in range(3)))
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        step()
    profile.disable()
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    print(f"Python calls per step: {stats.total_calls / calls:.0f}")
    stats.sort_stats("tottime").print_stats(args.top)
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:20000])
    gc.collect()
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"peak Python heap of one call: {peak / 2**20:.2f} MB")


if __name__ == "__main__":
    main()
