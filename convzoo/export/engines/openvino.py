"""OpenVINO (CPU plugin): fp32 / bf16 execution hints on the converted inference form, int8 by NNCF."""
from __future__ import annotations

from ..openvino import OpenVINOModule, to_openvino_model
from ._base import Engine


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, threads=None, calibration_data=None, **options):
    """``openvino.convert_model`` of the inference form (OpenVINO picks its own layout, so
    ``channels_last`` does not apply); int8: :func:`~convzoo.export.quantize` with NNCF."""
    if precision == "int8":
        from ..quantize import quantize
        return quantize(model, calibration_data, backend="openvino", threads=threads, **options)
    if options or calibration_data is not None:
        raise ValueError(f"the openvino engine at {precision} takes no calibration data or options")
    ov_model = to_openvino_model(model.cpu(), example_input[:1].cpu(), fold_bn=fold_bn)
    return OpenVINOModule(ov_model, threads=threads, precision=precision)


ENGINE = Engine("openvino", "OpenVINO CPU plugin; int8 by NNCF", {"cpu": ("fp32", "bf16", "int8")}, build,
                requires="openvino", takes_threads=True)
