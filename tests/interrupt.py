"""A Ctrl-C at a chosen moment, for the tests that prove a step or a load is never half-applied (issue 12)."""

import sys


def interrupt_at(n):
    """A trace hook raising KeyboardInterrupt at the n-th line event in any frame: a Ctrl-C at that point.

    Install it with `sys.settrace(interrupt_at(n))` and run the step; try n = 1, 2, 3, ... until the step completes.
    """
    count = [0]

    def hook(frame, event, arg):
        if event == "line":
            count[0] += 1
            if count[0] == n:
                sys.settrace(None)
                raise KeyboardInterrupt
        return hook

    return hook
