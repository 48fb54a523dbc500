"""The `tinygrad-gd` command line: `example` (the article's snippet), and more subcommands as they land."""

import argparse
import sys

import numpy as np


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
        print("(float32 cannot hold 4.4 exactly; the nearest float32 is 4.400000095367432, which PyTorch prints "
              "too, because its default dtype is float32)", file=out)
    return w, loss


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tinygrad-gd",
        description="Backpropagation is the map, gradient descent is the hiker, the loss is the score.")
    commands = parser.add_subparsers(dest="command", required=True)
    example = commands.add_parser("example", help="run the article's (w - 2)**2 example: gradient 6.0, weight 4.4")
    example.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "example":
        run_example(args.dtype)
    return 0
