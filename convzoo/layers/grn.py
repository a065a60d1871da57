"""Global Response Normalization (ConvNeXt V2, Woo et al. 2023, arXiv:2301.00808, Sec. 3.2, Eq. 1-3)."""
from __future__ import annotations

import torch
from torch import nn

from .checks import InputChecked, check_channels, check_dims, eager


class GlobalResponseNorm(InputChecked):
    """x + (weight * (x * N(G(x))) + bias): per-channel feature competition, no statistics kept.

    G(x)_c = ||x_c||_2 over the spatial axes (Eq. 1: global aggregation); N(G)_c = G_c / (mean_c G +
    eps) (Eq. 2: divisive normalisation across channels); the calibrated input is added to ``x``
    (Eq. 3) with learnable ``weight`` (the paper's gamma) and ``bias`` (beta), both initialised to 0,
    so a fresh GRN is the identity. ``channels_last=True`` takes (N, *S, C), as inside the ConvNeXt V2
    block's MLP (Linear layers on channels-last data); False takes (N, C, *S). 1D/2D/3D (``dims``).
    NOTE: parameters are (C,) vectors named ``weight``/``bias`` as timm's ``GlobalResponseNorm``, not
    the official code's (1, 1, 1, C) ``gamma``/``beta``; the arithmetic (``x.norm`` then ``addcmul``)
    is timm's, so a loaded timm checkpoint gives the same bits.
    Shape: (N, *S, C) -> (N, *S, C), or (N, C, *S) -> (N, C, *S).
    """

    def __init__(self, channels: int, *, eps: float = 1e-6, channels_last: bool = True, dims: int = 2):
        super().__init__()
        check_channels(channels=channels)
        self.channels, self.dims, self.eps = channels, check_dims(dims), float(eps)
        self.channels_last = bool(channels_last)
        # axes fixed here, so tracing never branches on the input's rank
        self.spatial_axes = list(range(1, dims + 1)) if channels_last else list(range(2, dims + 2))
        self.channel_axis = -1 if channels_last else 1
        self.param_shape = [1] * (dims + 1) + [-1] if channels_last else [1, -1] + [1] * dims
        self.weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                self._check(x)
        g = x.norm(p=2, dim=self.spatial_axes, keepdim=True)                 # Eq. 1
        n = g / (g.mean(dim=self.channel_axis, keepdim=True) + self.eps)     # Eq. 2
        return x + torch.addcmul(self.bias.view(self.param_shape),           # Eq. 3
                                 self.weight.view(self.param_shape), x * n)

    def _check(self, x: torch.Tensor) -> None:
        axes = {1: "L", 2: "H, W", 3: "T, H, W"}[self.dims]
        layout = f"(N, {axes}, C)" if self.channels_last else f"(N, C, {axes})"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"GlobalResponseNorm expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != self.dims + 2:
            raise ValueError(f"GlobalResponseNorm(dims={self.dims}, channels_last={self.channels_last}) "
                             f"expected a {self.dims + 2}-D input {layout}, got shape {tuple(x.shape)}")
        if x.shape[self.channel_axis] != self.channels:
            raise ValueError(f"GlobalResponseNorm expected {self.channels} channels on axis "
                             f"{self.channel_axis} {layout}, got shape {tuple(x.shape)}")

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}, channels_last={self.channels_last}, dims={self.dims}"
