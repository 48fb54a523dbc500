"""The command line's words: every subcommand and option says what it does and its default, at 80 columns, and
output piped into a reader that stops early (`| head -2`) ends quietly."""

import argparse
import io
import subprocess
import sys

import pytest
from readme import readme_commands, readme_outputs

from tinygrad_gd.cli import build_parser, main


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, action


def test_every_subcommand_and_option_has_help_naming_its_default():
    """Issue 9: `descend --optimizer`, train's dataset, --lr, --epochs, --seed, `example --dtype` had no help."""
    _, action = subcommands()
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    assert set(helps) == set(action.choices) and all(helps.values())
    for name, sub in action.choices.items():
        assert sub.description, f"{name} has no description"
        for option in sub._actions:
            if isinstance(option, argparse._HelpAction):
                continue
            label = f"{name} {'/'.join(option.option_strings) or option.dest}"
            assert option.help, f"{label} has no help"
            if option.option_strings:  # an option, not a positional: its default is said
                assert "default" in option.help, f"{label} does not say its default: {option.help!r}"


def test_the_odd_momentum_help_is_plain_words():
    _, action = subcommands()
    momentum = next(a for a in action.choices["descend"]._actions if "--momentum" in a.option_strings)
    assert "replaces the 0.9 of momentum and nesterov" in momentum.help and "/" not in momentum.help


@pytest.mark.parametrize("argv", [[], ["example"], ["graph"], ["train"], ["descend"], ["lr-find"]])
def test_help_fits_80_columns(capsys, monkeypatch, argv):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as leaving:
        main([*argv, "--help"])
    out = capsys.readouterr().out
    assert leaving.value.code == 0 and out.startswith("usage: tinygrad-gd")
    assert max(len(line) for line in out.splitlines()) <= 80, [line for line in out.splitlines() if len(line) > 80]


def test_w_caret_2_says_to_write_w_star_star_2(capsys):
    for command in (["descend", "w^2", "w=1"], ["graph", "w^2", "w=1"]):
        code = main(command)
        err = capsys.readouterr().err
        assert code != 0 and "write w ** 2" in err and "exclusive or" in err


def test_html_with_three_variables_is_refused_before_the_table(capsys, tmp_path):
    page = tmp_path / "page.html"
    code = main(["descend", "x ** 2 + y ** 2 + z ** 2", "x=1", "y=1", "z=1", "--html", str(page)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and not page.exists()
    assert "--html draws the path of 1 or 2 variables, not 3 (x, y, z)" in captured.err


class ClosedPipe:
    """A stdout whose reader has gone, as `| head -2` leaves it after two lines."""

    def __init__(self, lines=2):
        self.lines = lines

    def write(self, text):
        self.lines -= text.count("\n")
        if self.lines < 0:
            raise BrokenPipeError(32, "Broken pipe")
        return len(text)

    def flush(self):
        if self.lines < 0:
            raise BrokenPipeError(32, "Broken pipe")

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno")  # as pytest's capture says: not a real file


@pytest.mark.parametrize("argv", [
    ["descend", "(w - 2) ** 2", "w=5"],
    ["descend", "(w - 2) ** 2", "w=5", "--lr", "0.1,0.9"],
    ["example", "--dtype", "float32"],
    ["train", "moons", "--epochs", "1"],
    ["lr-find", "moons", "--steps", "10"],
    ["descend", "--help"],
    ["--help"],
])
def test_a_closed_pipe_ends_quietly_with_exit_code_0(capsys, monkeypatch, argv):
    """Issue 9: `descend ... | head -2` ended "tinygrad-gd descend: [Errno 32] Broken pipe" with exit code 2."""
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


def test_graph_into_a_closed_pipe_ends_quietly(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdout", ClosedPipe(lines=0))
    assert main(["graph", "w * w", "w=2", "-o", str(tmp_path / "g.svg")]) == 0 and capsys.readouterr().err == ""


def test_a_real_pipe_closed_by_its_reader(tmp_path):
    """The whole process, as a shell runs it: the reader stops after two lines of a long table."""
    process = subprocess.Popen([sys.executable, "-m", "tinygrad_gd", "descend", "(w - 2) ** 2", "w=5", "--steps",
                                "20000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 0 and err == b""
    assert first[0].startswith(b"sgd on (w - 2) ** 2")


def test_the_readmes_example_and_graph_commands_run_and_fit_80_columns(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the pictures they draw land here
    commands = [argv for name in ("example", "graph") for argv, _ in readme_commands(name) + readme_outputs(name)]
    assert len(commands) >= 2
    for argv in commands:
        code = main(argv)
        out = capsys.readouterr().out
        assert code in (0, None) and out and max(map(len, out.splitlines())) <= 80, argv


def test_the_readmes_pasted_example_output_is_what_it_prints(capsys):
    outputs = readme_outputs("example")
    assert outputs
    for argv, expected in outputs:
        main(argv)
        assert capsys.readouterr().out.splitlines() == expected
