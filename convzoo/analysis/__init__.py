"""Cost and shape analysis: exact params and MACs, conv arithmetic, receptive fields, and the timing
loop behind every latency convzoo reports (:mod:`.timing`).

    >>> from convzoo.analysis import profile
    >>> print(profile(model, (3, 224, 224)).table())

``profile`` counts multiply-adds (MACs) the way the papers do (MobileNetV1's "Mult-Adds"; the
"FLOPs" of EfficientNet and ConvNeXt are also MACs); ``Profile.flops`` is 2 x MACs. See
docs/analysis.md for the convention.
"""
from .arithmetic import conv_output_size, conv_transpose_output_size, separable_cost_ratio
from .cost import count_macs, count_params, measure_latency_ms, measure_train_step_ms
from .counting import conv_macs
from .profile import LayerStats, Profile, profile
from .receptive_field import RFLayer, receptive_field
from .timing import interleaved_medians, interleaved_times, median_ms, pooled_medians, round_ratios, time_calls

__all__ = ["profile", "Profile", "LayerStats", "receptive_field", "RFLayer", "conv_output_size",
           "conv_transpose_output_size", "separable_cost_ratio", "conv_macs", "time_calls", "median_ms",
           "interleaved_medians", "interleaved_times", "pooled_medians", "round_ratios", "count_macs",
           "count_params", "measure_latency_ms", "measure_train_step_ms"]
