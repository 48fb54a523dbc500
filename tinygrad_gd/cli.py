"""The `tinygrad-gd` command line: `example` (the article's snippet), and more subcommands as they land."""

import argparse
import os
import sys

import numpy as np

from tinygrad_gd.optim import BY_NAME


def run_example(dtype="float64", out=None):
    """The gradient-descent article's PyTorch snippet, written with tinygrad_gd line for line."""
    from tinygrad_gd import Value, no_grad

    out = out or sys.stdout
    # Create a tensor representing a weight, tracking gradients
    w = Value([5.0], requires_grad=True, dtype=dtype)
    # Define a simple loss function: (w - 2)^2. Minimum is at w=2.
    loss = (w - 2) ** 2
    # Backward pass: Calculate the gradient (slope) of the loss with respect to w
    loss.backward()
    # Perform a single Gradient Descent step
    learning_rate = 0.1
    with no_grad():
        w -= learning_rate * w.grad  # Update weight: w_new = w_old - (lr * gradient)

    print(f"Gradient: {w.grad.item()}", file=out)
    print(f"Updated Weight: {w.item()}", file=out)  # Weight moves closer to 2.0
    if np.dtype(dtype) == np.float32:
        print("(float32 cannot hold 4.4 exactly; the nearest float32 is 4.400000095367432,\nwhich PyTorch prints "
              "too, because its default dtype is float32)", file=out)
    return w, loss


FORMULAS = ("numbers, names, + - * / ** (a power is **, not ^) and exp log sqrt abs tanh sigmoid relu; the text is "
            "checked, never run as Python")
HIKERS = ", ".join(BY_NAME)


def add_descend_parser(commands):
    descend = commands.add_parser("descend", help="watch an optimizer walk down a formula, step by step",
                                  description=f"Minimise a formula of a few numbers, print every step, then a "
                                              f"verdict on the whole run. Formulas may use {FORMULAS}.")
    descend.add_argument("expression", help='the loss, e.g. "(w - 2) ** 2" (quote it)')
    descend.add_argument("start", nargs="*", metavar="NAME=VALUE",
                         help="starting values, e.g. w=5 (a variable left out starts at a random point, see --seed)")
    descend.add_argument("--lr", type=_learning_rates,
                         help="learning rate (default 0.1; 1, the full step, for newton); several, comma-separated "
                              "(0.1,0.5,0.9,1.1), compare them")
    descend.add_argument("--steps", type=int, default=20, help="number of steps (default 20)")
    descend.add_argument("--optimizer", choices=[*BY_NAME, "newton"], default="sgd", metavar="NAME",
                         help=f"the hiker (default sgd): {HIKERS}, or newton, which divides each slope by the "
                              f"curvature the map computes")
    descend.add_argument("--momentum", type=float, metavar="BETA",
                         help="the momentum β, such as 0.5: replaces the 0.9 of momentum and nesterov, or adds "
                              "momentum to sgd and rmsprop (default 0 for those); the other optimizers refuse it")
    descend.add_argument("--show-state", action="store_true",
                         help="also print what the optimizer carries after each step (momentum buffer, Adam's m "
                              "and v) and moved, each variable's change with its sign (default: off)")
    descend.add_argument("--show-curvature", action="store_true",
                         help="also print f'' (λmax for several variables) per step and the critical learning rate "
                              "2/f'' (default: off)")
    descend.add_argument("--seed", type=_seed,
                         help="seed for the starting values left out (default: a different random start each run)")
    descend.add_argument("--plot", metavar="FILE.png",
                         help="save the loss curve and the path (needs matplotlib; default: no plot)")
    descend.add_argument("--html", metavar="OUT.html",
                         help="write a page with the graph backprop fills at each step beside the path (1 or 2 "
                              "variables); with several --lr, one page with a switch between them (default: none)")


MAX_DRAWN_STEPS = 100_000  # --plot and --html hold every step: 1.4 KB each


def run_descend(args, out=None):
    """`tinygrad-gd descend`: the table of steps, then the verdict (converged, oscillated or diverged)."""
    from tinygrad_gd.atomic import all_or_nothing
    from tinygrad_gd.descent import Summary, descent_steps, figure_class, format_rows, plot_descent
    from tinygrad_gd.expr import parse, parse_assignments

    out = out or sys.stdout
    if args.steps < 1:
        raise ValueError(f"Invalid steps: {args.steps} (at least 1)")
    if args.lr is None:
        args.lr = [1.0 if args.optimizer == "newton" else 0.1]
    if args.html and args.optimizer == "newton":
        raise ValueError("--html replays plain optimizer steps; newton's step needs the curvature: leave out --html")
    if args.plot and len(args.lr) > 1:
        raise ValueError(f"--plot draws one learning rate, not {len(args.lr)}: give one --lr (or use --html)")
    if args.plot:
        figure_class()  # a missing matplotlib is said before the table, not after it
    for path in (args.plot, args.html):  # before the table is printed, not after
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise FileNotFoundError(f"cannot write {path}: the folder {os.path.dirname(os.path.abspath(path))} "
                                    f"does not exist")
    if (args.plot or args.html) and args.steps > MAX_DRAWN_STEPS:
        raise ValueError(f"Invalid steps: {args.steps} with --plot or --html, which keep every step to draw it "
                         f"(at most {MAX_DRAWN_STEPS:,}); the table alone streams any number of steps")
    expression = parse(args.expression)
    if args.html and len(expression.variables) > 2:  # before the table is printed, not after
        raise ValueError(f"--html draws the path of 1 or 2 variables, not {len(expression.variables)} "
                         f"({', '.join(expression.variables)}): leave out --html, or use --plot")
    runs = []
    for lr in args.lr:
        rows = descent_steps(expression, parse_assignments(args.start), args.optimizer, lr, args.steps,
                             args.momentum, args.seed, curvature=args.show_curvature)
        print(*[""] * bool(runs), f"{args.optimizer} on {expression.source} with lr {lr:g}", sep="\n", file=out)
        # rows are printed as they come; only the verdict's summary is kept
        summary, records = Summary(args.optimizer, lr, args.momentum), []
        keep = records.append if args.plot or args.html else lambda record: None
        for line in format_rows((keep(r) or summary.add(r) for r in rows), args.show_state, args.show_curvature,
                                last_step=args.steps):
            print(line, file=out)
        print(summary.verdict().text(), file=out)
        runs.append((lr, records, summary))
    plot = page = None
    with all_or_nothing():  # the plot and the page are written both, or neither
        if args.plot:
            plot = plot_descent(records, expression, args.plot)
        if args.html:
            from tinygrad_gd import viz
            from tinygrad_gd.optim import make_optimizer

            hikers = [lambda weights, lr=lr: make_optimizer(args.optimizer, weights, lr, args.momentum)
                      for lr in args.lr]
            verdicts = [summary.verdict() for _, _, summary in runs]
            page = viz.descent_html(expression, runs[0][1][0].values, hikers, args.steps, args.html,
                                    verdicts=[v.kind for v in verdicts],
                                    explanations=[v.message for v in verdicts])
    if plot:
        print(f"plot saved to {plot}", file=out)
    if page:
        print(f"map and hiker side by side: {page}", file=out)


def draw_example(path, dtype="float64"):
    """The example's graph before the step (so w still reads 5), with every gradient filled by backward."""
    from tinygrad_gd import Value, viz

    w = Value([5.0], requires_grad=True, dtype=dtype, name="w")
    loss = (w - 2) ** 2
    loss.backward()
    return viz.render(loss, path)


def run_graph(args, out=None):
    """`tinygrad-gd graph`: evaluate the formula with the safe parser, backpropagate, draw; 1 on a bad input."""
    from tinygrad_gd import Value, viz
    from tinygrad_gd.atomic import all_or_nothing
    from tinygrad_gd.expr import parse, parse_assignments

    out = out or sys.stdout
    try:
        if args.no_grad and args.frames:
            raise ValueError("--frames steps through the backward walk, which --no-grad leaves out: use one")
        expression = parse(args.expression)
        weights = {n: Value(x, requires_grad=True, name=n) for n, x in parse_assignments(args.values).items()}
        loss = expression(**weights)  # names a missing or unknown variable
        if not args.no_grad and loss.requires_grad:
            loss.backward()
        with all_or_nothing():  # the picture and the page are written both, or neither
            dot = viz.to_dot(loss, show_grad=not args.no_grad, rankdir=args.rankdir, max_nodes=args.max_nodes)
            graph = viz.render(dot, args.output)
            frames = viz.backprop_html(loss, args.frames, max_nodes=args.max_nodes, rankdir=args.rankdir) \
                if args.frames else None
        print(f"Graph: {graph}", file=out)
        if frames:
            print(f"Backward walk: {frames}", file=out)
    except (ValueError, RuntimeError, OSError) as error:  # ExpressionError is a ValueError
        _fail("graph", error)
        return 1
    return 0


def _seed(text):
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if seed < 0:  # NumPy's own words ("expected non-negative integer") name no option
        raise argparse.ArgumentTypeError(f"{seed} is negative: a seed is a whole number, 0 or more")
    return seed


def _learning_rates(text):
    """`0.1` or `0.1,0.5,0.9,1.1`: one number or several to compare."""
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or a comma-separated list of numbers: {text!r}") from None
    if len(rates) > 12:
        raise argparse.ArgumentTypeError(f"{len(rates)} learning rates: compare at most 12 on one page")
    return rates


def _batch_size(text):
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if size < 0:
        raise argparse.ArgumentTypeError(f"{size}: use 0 for full-batch descent, 1 for stochastic, or a batch size")
    return size


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tinygrad-gd",
        description="Backpropagation is the map, gradient descent is the hiker, the loss is the score.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="one of these (tinygrad-gd COMMAND --help for its options):")
    example = commands.add_parser("example", help="run the article's (w - 2)**2 example: gradient 6.0, weight 4.4",
                                  description="The gradient-descent article's PyTorch snippet, line for line: "
                                              "one backward and one step of lr 0.1 on the loss (w - 2) ** 2, "
                                              "from w = 5.")
    example.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                         help="float64 (default: prints 4.4) or float32 (PyTorch's default dtype: prints "
                              "4.400000095367432)")
    example.add_argument("--graph", metavar="FILE.svg",
                         help="also draw the example's graph, filled by backward (default: none)")
    graph = commands.add_parser("graph", help='draw the graph of a formula: graph "(w - 2) ** 2" w=5 -o graph.svg',
                                description=f"Evaluate a formula at the given values, backpropagate, and draw the "
                                            f"graph it recorded with every value and gradient. Formulas may use "
                                            f"{FORMULAS}.")
    graph.add_argument("expression", help='the formula, e.g. "w * w + 3 * w" (quote it)')
    graph.add_argument("values", nargs="*", metavar="NAME=NUMBER", help="a value for every variable, e.g. w=5")
    graph.add_argument("-o", "--output", default="graph.svg",
                       help="the picture (default graph.svg): .svg (always works), .png (needs Graphviz's dot), "
                            ".dot (the source)")
    graph.add_argument("--frames", metavar="OUT.html",
                       help="also write the backward walk as an HTML stepper (default: none)")
    graph.add_argument("--no-grad", action="store_true",
                       help="draw the forward pass only, without backward (default: off)")
    graph.add_argument("--rankdir", choices=["LR", "TB", "RL", "BT"], default="LR",
                       help="which way the graph runs: LR left to right (default), TB top to bottom, RL, BT")
    graph.add_argument("--max-nodes", type=int, default=100, metavar="N",
                       help="draw at most N nodes, the ones nearest the result (default 100); the page has at most "
                            "N frames")
    train = commands.add_parser("train", help="train an MLP on two moons or a small CNN on 8x8 digits",
                                description="Train a demo model with the loss (the score), backward (the map) and "
                                            "an optimizer (the hiker), then say whether it learned.")
    train.add_argument("dataset", choices=["moons", "digits"],
                       help="moons: an MLP 2-16-16-2 on 200 noisy two-moons points (training accuracy); digits: "
                            "a small CNN on 8x8 handwritten digits (accuracy on a held-out 20%%)")
    train.add_argument("--optimizer", default="adam", choices=list(BY_NAME), metavar="NAME",
                       help=f"the hiker (default adam): {HIKERS}")
    train.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    train.add_argument("--epochs", type=int, default=50, help="passes over the training data (default 50)")
    train.add_argument("--batch-size", type=_batch_size, default=32,
                       help="examples per step (default 32); 0 for full-batch descent, 1 for stochastic")
    train.add_argument("--seed", type=_seed, default=0,
                       help="seed for the first weights, the batch order and the moons (default 0)")
    train.add_argument("--plot", metavar="FILE.png",
                       help="save the loss curve (and the moons' decision boundary; default: no plot)")
    add_descend_parser(commands)
    lr_find = commands.add_parser("lr-find", help="find a learning rate: the range test on moons or digits",
                                  description="Train a few mini-batches while raising the learning rate "
                                              "exponentially, watch the loss, suggest a rate; the model is "
                                              "restored afterwards.")
    lr_find.add_argument("dataset", choices=["moons", "digits"],
                         help="moons (an MLP 2-16-16-2) or digits (a small CNN on 8x8 digits), as in train")
    lr_find.add_argument("--optimizer", default="sgd", choices=list(BY_NAME), metavar="NAME",
                         help=f"the hiker (default sgd): {HIKERS}")
    lr_find.add_argument("--start-lr", type=float, default=1e-7, help="the first, smallest rate (default 1e-07)")
    lr_find.add_argument("--end-lr", type=float, default=10.0, help="the last, largest rate (default 10)")
    lr_find.add_argument("--steps", type=int, default=100, help="mini-batch steps (default 100)")
    lr_find.add_argument("--batch-size", type=_batch_size, default=32,
                         help="examples per step (default 32); 0 for full-batch descent")
    lr_find.add_argument("--suggest", choices=["steepest", "minimum"], default="steepest",
                         help="steepest (default): where the smoothed loss falls fastest; minimum: the rate of the "
                              "lowest loss / 10")
    lr_find.add_argument("--seed", type=_seed, default=0,
                         help="seed for the first weights, the batch order and the moons (default 0)")
    lr_find.add_argument("--plot", metavar="FILE.png",
                         help="save the loss against the rate (needs matplotlib; default: no plot)")
    return parser


def run_lr_find(args, out=None):
    """`tinygrad-gd lr-find`: the range test on a demo model; prints the curve in a few lines and the rate."""
    from tinygrad_gd import losses
    from tinygrad_gd.descent import figure_class
    from tinygrad_gd.train import demo_problem, lr_find

    out = out or sys.stdout
    if args.plot:  # a missing matplotlib or folder is said before the test runs, not after
        figure_class()
        if not os.path.isdir(os.path.dirname(os.path.abspath(args.plot))):
            raise FileNotFoundError(f"cannot write {args.plot}: the folder "
                                    f"{os.path.dirname(os.path.abspath(args.plot))} does not exist")
    model, data, _ = demo_problem(args.dataset, np.random.default_rng(args.seed), args.seed)
    result = lr_find(model, losses.cross_entropy, data, args.start_lr, args.end_lr, args.steps, args.optimizer,
                     args.batch_size or None, suggest=args.suggest, rng=args.seed)
    print(f"{args.dataset}: {args.optimizer}, lr from {args.start_lr:g} to {args.end_lr:g} over {args.steps} "
          f"mini-batches of {args.batch_size or 'all'}", file=out)
    print(result.summary(), file=out)
    if args.plot:
        from tinygrad_gd.descent import save_figure

        print(f"plot saved to {save_figure(result.plot().figure, args.plot)}", file=out)
    return result


def main(argv=None):
    """Run one subcommand; its exit code. Output piped into a reader that stops early (`| head -2`) ends quietly."""
    try:
        try:
            return _main(argv)  # --help leaves by SystemExit, having written (argparse ignores a closed pipe)
        finally:
            sys.stdout.flush()  # a pipe's buffer is written here, inside the try, not at exit
    except BrokenPipeError:
        try:  # the reader has gone: what is still buffered goes to /dev/null, so the exit does not complain
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file (a test's capture)
            pass
        return 0


def _fail(command, error):
    """Say an error in one line on stderr; a closed pipe is not an error to say (main ends quietly)."""
    if isinstance(error, BrokenPipeError):
        raise error
    print(f"tinygrad-gd {command}: {error}", file=sys.stderr)


def _main(argv):
    args = build_parser().parse_args(argv)
    if args.command == "descend":
        try:
            run_descend(args)
        except (ValueError, ImportError, OSError) as error:  # ExpressionError is a ValueError
            _fail("descend", error)
            return 2
    if args.command == "example":
        run_example(args.dtype)
        if args.graph:
            try:
                print(f"Graph: {draw_example(args.graph, args.dtype)}")
            except (ValueError, RuntimeError, OSError) as error:  # a missing folder, .png without dot, .html
                _fail("example", error)
                return 1
    elif args.command == "graph":
        return run_graph(args)
    elif args.command == "lr-find":
        try:
            run_lr_find(args)
        except (ImportError, ValueError, OSError) as error:
            _fail("lr-find", error)
            return 1
    elif args.command == "train":
        from tinygrad_gd.train import run_demo

        try:
            run_demo(args.dataset, args.optimizer, args.lr, args.epochs, args.batch_size or None, args.seed,
                     args.plot)
        except (ImportError, ValueError, OSError) as error:  # a diverged run is a verdict, not an error
            _fail("train", error)
            return 1
    return 0
