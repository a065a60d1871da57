"""OpenVINO (CPU plugin): fp32 / bf16 execution hints on the converted inference form, int8 by NNCF."""
from __future__ import annotations

from ..openvino import OpenVINOModule, load_ir, to_openvino_model
from ._base import Engine


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, threads=None, calibration_data=None, **options):
    """``openvino.convert_model`` of the inference form (OpenVINO picks its own layout, so
    ``channels_last`` does not apply); int8: :func:`~convzoo.export.quantize` with NNCF."""
    if precision == "int8":
        from ..quantize import quantize
        return quantize(model, calibration_data, backend=ENGINE.quantize_backend, threads=threads, **options)
    if options or calibration_data is not None:
        raise ValueError(f"the openvino engine at {precision} takes no calibration data or options")
    ov_model = to_openvino_model(model.cpu(), example_input[:1].cpu(), fold_bn=fold_bn)
    return OpenVINOModule(ov_model, threads=threads, precision=precision)


def load(file, chosen: dict, threads=None) -> OpenVINOModule:
    """A saved IR (``model.xml`` + ``model.bin``) at the execution hint it was chosen with
    (:func:`~convzoo.export.load_ir`: an IR with quantize nodes is int8)."""
    return load_ir(file, threads=threads, precision=chosen.get("hint"))


ENGINE = Engine("openvino", "OpenVINO CPU plugin; int8 by NNCF", {"cpu": ("fp32", "bf16", "int8")}, build,
                requires="openvino", threads=True, host=True, roles=("quantize",), quantize_backend="openvino",
                runner=OpenVINOModule, format="openvino", load=load)
