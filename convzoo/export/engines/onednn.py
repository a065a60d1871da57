"""TorchScript + PyTorch's oneDNN Graph fuser (CPU, fp32 / bf16): :mod:`convzoo.export.onednn_graph`."""
from __future__ import annotations

from ..form import inference_form, uses_channels_last
from ..onednn_graph import OneDNNGraphInference, load_onednn_graph, onednn_graph
from ._base import Engine


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, **options):
    """Trace the inference form at ``example_input``'s shape and run it through the fuser."""
    if options:
        raise ValueError(f"the onednn engine takes no options {sorted(options)}")
    if example_input is None:
        raise ValueError('compile="onednn" traces the model: pass example_input (a batch of the '
                         'input size it will run at)')
    form = inference_form(model, example_input, fold_bn=fold_bn, channels_last=channels_last)
    return onednn_graph(form, uses_channels_last(form, channels_last), example_input, precision)


def load(file, chosen: dict, threads=None) -> OneDNNGraphInference:
    """A saved TorchScript graph (``model.ts``) run through the fuser."""
    return load_onednn_graph(file, chosen["precision"])


ENGINE = Engine("onednn", "TorchScript + oneDNN Graph fuser", {"cpu": ("fp32", "bf16")}, build,
                optimize=("onednn",), runner=OneDNNGraphInference, format="torchscript", load=load)
