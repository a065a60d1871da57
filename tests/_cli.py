"""The command line in this process for the seam and reliability tests: ``cli`` -> (code, stdout,
stderr), ``ok`` (must succeed), ``refused`` (one line, exit 2, no traceback), and the tiny runs."""
from __future__ import annotations

import contextlib
import io
import re

from convzoo.cli import main
from convzoo.export.precision import cpu_precision_support

CLS = ["--model", "variant_conv", "--model-arg", "widths=(8,16)", "--model-arg", "depth=1", "--batch-size", "32",
       "--epochs", "1", "--limit-train", "128", "--no-progress"]
SEG = ["--task", "segmentation", "--model", "mobilenet_v2", "--model-arg", "width_mult=0.35", "--model-arg",
       "head=unet", "--dataset", "seg_digits", "--data-arg", "size=16", "--batch-size", "8", "--epochs", "1",
       "--no-progress"]
# int8 needs VNNI or AMX: on a CPU without them quantize refuses, and the tests check that refusal
INT8 = bool(cpu_precision_support().get("int8"))
NO_INT8 = "this CPU has no native int8 support"


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def ok(*argv) -> str:
    code, out, err = cli(*argv)
    assert code == 0, f"convzoo {' '.join(map(str, argv))}: {err}"
    return out


def refused(result, pattern: str) -> None:
    code, _, err = result
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]
