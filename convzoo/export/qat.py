"""Quantization-aware training: int8 whose rounding the weights have learned to absorb.

Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
Inference" (fake quantization in the forward pass, straight-through gradients; BN folded into the
conv it follows, as the int8 kernel will run it), through PyTorch's PT2E flow:

    trained fp32 model --torch.export, train mode--> graph
      --prepare_qat_pt2e(X86InductorQuantizer, is_qat=True)--> fake-quantized graph (per-channel
        weights faked with the scales convert_pt2e will use, observed activations, conv + BN kept
        trainable)
      --``epochs`` passes over the train batches at a low rate (AdamW, cosine to 0; BN on its running
        statistics throughout, the observers frozen for the last pass, so the scales convert_pt2e
        bakes in are the ones the weights were fitted to)-->
      --move_exported_model_to_eval, convert_pt2e--> the int8 graph
      --AOTInductor with freezing--> a QuantizedModel (backend "pt2e"), as post-training PT2E gives:
        the compile engine's int8, saved as a package

Post-training quantization rounds weights trained without knowing it; on the small, depthwise-heavy
nets (EfficientNet-Lite, MobileNet) that costs points (docs/edge.md), which these passes win back.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from .._extras import require


def qat(model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]], *, epochs: int = 2,
        lr: float = 1e-4, weight_decay: float = 0.0, seed: int = 0, batch: Optional[int] = None,
        progress: Optional[Callable[[int, float], None]] = None) -> nn.Module:
    """The int8 model (a ``QuantizedModel``, backend "pt2e", saveable) after ``epochs`` of quantization-aware training
    of ``model`` on ``batches`` (``(x prepared as in training, y)``, e.g. ``prepared_batches(train,
    size)``); ``model`` is untouched. ``progress(epoch, mean loss)`` after each epoch; ``batch``: the
    batch the package is compiled for (None: any batch), as for :func:`~convzoo.export.quantize`.

    Shape: as ``model`` (N, C, *S) -> (N, classes)."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1 for quantization-aware training, got {epochs}")
    if not batches:
        raise ValueError("quantization-aware training needs training batches, got none")
    prepared = prepare(model, batches[0][0])
    train_fake_quantized(prepared, batches, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed,
                         progress=progress)
    info = dict(qat_epochs=epochs, qat_lr=lr, input_size=list(batches[0][0].shape[1:]),
                train_samples=sum(len(y) for _, y in batches))
    return convert(prepared, batches[0][0], info, batch=batch)


def training_graph(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """``model`` exported for training in float (a copy: BN unfolded, TF padding frozen for ``example``'s
    size, re-parameterizable blocks merged first, a dynamic batch axis): what :func:`prepare` quantizes,
    and, trained as it is, the fp32 control of a QAT measurement."""
    from .form import inference_form
    form = inference_form(model, example[:1], fold_bn=False, static_padding=True).train()
    for p in form.parameters():
        p.requires_grad_(True)
    try:
        return torch.export.export(form, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},)).module()
    except Exception as e:
        raise ValueError(f"cannot export {type(model).__name__} for quantization-aware training: "
                         f"{str(e).splitlines()[0]}") from None


def prepare(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The fake-quantized training graph of ``model``: :func:`training_graph` with the X86 inductor
    quantizer's QAT annotations (per-channel weights, observed activations)."""
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "deploy", "PT2E quantization-aware training")
    xiq = require("torchao.quantization.pt2e.quantizer.x86_inductor_quantizer", "deploy",
                  "PT2E quantization-aware training")
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(_qat_config(xiq))
    return pt2e.prepare_qat_pt2e(training_graph(model, example), quantizer)


def _qat_config(xiq):
    """The X86 inductor quantizer's QAT config with the weights' fake quantization unfused.

    Its default fakes the weights with ``FusedMovingAvgObsFakeQuantize``, whose kernel picks a symmetric
    per-channel scale as max(|min| / 128, |max| / 127), while convert_pt2e quantizes the weights with the
    observer's max(|min|, |max|) / 127.5: every channel's int8 weights came out 0.4 % larger or smaller
    than those the passes trained, rounded to other integers (measured 2026-12-08 on Lite0: the stem's
    scales 0.05958 in the simulation, 0.05982 in the int8 graph, with 34 % of the stem's outputs a whole
    step or more apart). ``FakeQuantize`` takes its scale from the observer, as convert_pt2e does."""
    import dataclasses

    from torchao.quantization.pt2e import FakeQuantize, MovingAveragePerChannelMinMaxObserver
    config = xiq.get_default_x86_inductor_quantization_config(is_qat=True)
    weight = dataclasses.replace(config.weight, observer_or_fake_quant_ctr=FakeQuantize.with_args(
        observer=MovingAveragePerChannelMinMaxObserver, eps=2 ** -12))
    return dataclasses.replace(config, weight=weight)


def train_fake_quantized(prepared: nn.Module, batches, *, epochs: int, lr: float, weight_decay: float = 0.0,
                         seed: int = 0, progress=None, freeze_observers: bool = True) -> None:
    """``epochs`` passes of cross-entropy over ``batches`` (shuffled per pass by ``seed``), the rate
    cosine-decayed to 0. BN stays on its running statistics and dropout off throughout (BN folded into
    the conv is what int8 runs; a net fine-tuned with frozen BN, as Lite0 from its ImageNet file is,
    gave a loss of 5.1 on batch statistics vs 0.01 on its own); the observers are frozen for the last
    pass (when there are two or more and ``freeze_observers``), so the scales convert_pt2e bakes in are
    those the weights fit."""
    pt2e = require("torchao.quantization.pt2e", "deploy", "PT2E quantization-aware training")
    params = [p for p in prepared.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps, step = epochs * len(batches), 0
    gen = torch.Generator().manual_seed(seed)
    pt2e.move_exported_model_to_eval(prepared)              # BN on running statistics, dropout off
    for epoch in range(1, epochs + 1):
        if freeze_observers and epoch == epochs and epochs > 1:
            # torchao's disable_observer: torch.ao's (used here until 2026-12-08) does not reach torchao's
            # fake-quantize modules, and the scales kept moving through the last pass
            prepared.apply(pt2e.disable_observer)
        total = 0.0
        for i in torch.randperm(len(batches), generator=gen).tolist():
            x, y = batches[i]
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            loss = nn.functional.cross_entropy(prepared(x), y)
            if not torch.isfinite(loss):
                raise RuntimeError(f"quantization-aware training diverged (loss {loss.item()}) at epoch {epoch}; "
                                   f"lower the rate (now {lr:g})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            step += 1
        if progress is not None:
            progress(epoch, total / len(batches))


def int8_graph(prepared: nn.Module) -> nn.Module:
    """The trained fake-quantized graph converted to int8 ops (quantize / dequantize pairs around the
    convs, which inductor lowers to oneDNN's int8 kernels; eagerly it runs PyTorch's reference ops)."""
    pt2e = require("torchao.quantization.pt2e", "deploy", "PT2E quantization-aware training")
    convert_pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "deploy", "PT2E").convert_pt2e
    pt2e.move_exported_model_to_eval(prepared)
    return convert_pt2e(prepared)


def convert(prepared: nn.Module, example: torch.Tensor, info: Optional[dict] = None,
            batch: Optional[int] = None) -> nn.Module:
    """The trained fake-quantized graph as int8, compiled and wrapped as post-training PT2E is (the
    package checked against the int8 graph run eagerly on ``example``, a batch of real inputs)."""
    from .compiled import package_program
    from .quantize import QuantizedModel
    converted = int8_graph(prepared)
    package = package_program(converted, example[:1], "int8", check=example[:8], batch=batch)
    return QuantizedModel(package, "pt2e", info=info or {})


__all__ = ["qat", "training_graph", "prepare", "train_fake_quantized", "int8_graph", "convert"]
