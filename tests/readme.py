"""The README's command lines and the output it quotes, for the tests that check the README tells the truth."""

import pathlib
import shlex

README = pathlib.Path(__file__).parent.parent / "README.md"


def readme_commands(name):
    """(argv, comment) for each `tinygrad-gd <name> ...` line in README.md's code blocks."""
    text = README.read_text()
    lines = [line for block in text.split("```")[1::2] for line in block.splitlines()] + [""]
    return [(shlex.split(line.split("#")[0])[1:], (line.partition("#")[2] or nxt.partition("#")[2]).strip())
            for line, nxt in zip(lines, lines[1:], strict=False) if line.startswith(f"tinygrad-gd {name} ")]


def readme_outputs(name):
    """(argv, printed lines) for each README block that starts `$ tinygrad-gd <name> ...` and shows its output."""
    text = README.read_text()
    blocks = [block.strip("\n").splitlines() for block in text.split("```")[1::2]]
    return [(shlex.split(block[0][2:])[1:], block[1:]) for block in blocks
            if block and block[0].startswith(f"$ tinygrad-gd {name} ")]
