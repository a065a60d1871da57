"""Peak training memory of one forward + backward step, with and without the memory-saving switches.

Each configuration runs in a fresh subprocess: build the model, make the batch, reset the process's
resident-set high-water mark (Linux ``/proc/self/clear_refs``), run forward + backward, and report
``VmHWM - VmRSS(before)``: the extra memory the step needed, everything counted (activations,
gradients, allocator slack). Also reported: bytes autograd saved for backward (``saved_tensors_hooks``),
which is the activation memory alone.

Usage: python bench/train_memory.py [--model efficientnet_b0] [--batch 32] [--size 224]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, re, sys, torch, convzoo
from convzoo.export.benchmark import _reset_peak_rss, _status_kb
name, batch, size, ckpt, mem_eff = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
torch.set_num_threads(2)
torch.manual_seed(0)
m = convzoo.create_model(name).train()
m.set_grad_checkpointing(ckpt != "off", granularity=ckpt if ckpt != "off" else "block")
if mem_eff:
    m.set_memory_efficient(True)
x = torch.randn(batch, *m.default_cfg["input_size"][:1], size, size)
saved = [0]
def pack(t):
    saved[0] += t.numel() * t.element_size()
    return t
assert _reset_peak_rss()
base = _status_kb("VmRSS")
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    loss = m(x).logsumexp(1).mean()
loss.backward()
peak = _status_kb("VmHWM") - base
print(json.dumps({"peak_mb": peak / 1024, "saved_mb": saved[0] / 2**20}))
"""


def run(model, batch, size, ckpt, mem_eff):
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(batch), str(size), ckpt,
                          str(int(mem_eff))], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnet_b0")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args(argv)
    configs = [("baseline", "off", False), ("memory-efficient SiLU", "off", True),
               ("checkpointing per stage", "stage", False),
               ("checkpointing per block (default)", "block", False),
               ("per block + memory-efficient SiLU", "block", True)]
    res = {}
    for label, ckpt, me in configs:
        res[label] = run(args.model, args.batch, args.size, ckpt, me)
        print(f"{label:34s} peak {res[label]['peak_mb']:8.0f} MB   saved for backward "
              f"{res[label]['saved_mb']:8.0f} MB", flush=True)
    base = res["baseline"]["peak_mb"]
    print(f"\n| {args.model}, batch {args.batch}, {args.size}x{args.size}, train step | peak MB | "
          "vs baseline | saved-for-backward MB |\n|---|---|---|---|")
    for label, r in res.items():
        print(f"| {label} | {r['peak_mb']:.0f} | {100 * (r['peak_mb'] / base - 1):+.0f}% | {r['saved_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
