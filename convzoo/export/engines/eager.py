"""Eager PyTorch: the inference form as it is (fp32), or with bf16 weights (CPU) / autocast (CUDA)."""
from __future__ import annotations

from ..form import inference_form, uses_channels_last
from ..layout import input_to_channels_last
from ..precision import to_reduced
from ..runner import ModuleRunner
from ._base import Engine


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, **options) -> ModuleRunner:
    """Folded eval copy, channels_last weights and input (2D/3D), ``precision`` weights."""
    if options:
        raise ValueError(f"the eager engine takes no options {sorted(options)}")
    x1 = None if example_input is None else example_input[:1]
    form = inference_form(model, x1, fold_bn=fold_bn, channels_last=channels_last)
    cl = uses_channels_last(form, channels_last)
    if precision != "fp32":
        module = to_reduced(form, precision, cl)
    else:
        module = form
        if cl:
            module.register_forward_pre_hook(input_to_channels_last)
    return ModuleRunner(module, precision, example_input=example_input)


def load(file, chosen: dict, threads=None) -> ModuleRunner:
    """A saved ``torch.export`` program (``model.pt2``) as an eager runner."""
    import torch
    return ModuleRunner(torch.export.load(str(file)).module(), chosen["precision"])


ENGINE = Engine("eager", "PyTorch eager, BN folded, channels_last",
                {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "bf16", "fp16")}, build, autocast=True,
                optimize=(False,), roles=("reference",), runner=ModuleRunner, format="torch.export", load=load)
