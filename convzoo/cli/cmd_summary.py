"""``convzoo summary MODEL``: per-layer table of output shapes, params, MACs and receptive field."""
from __future__ import annotations

import argparse
import json

HELP = "per-layer table of a model: type, output shape, params, MACs, receptive field"

EPILOG = """Each row is a layer (a leaf module, or a module that does work itself) with its own params
and the MACs of the ops it ran. RF is the receptive field of the layer's output in input samples
(per axis when they differ), followed through the data flow; "-" after global pooling.
MACs count convs and matmuls as the papers do; FLOPs = 2 x MACs.

examples:
  convzoo summary mobilenet_v2
  convzoo summary efficientnet_b0 --input-size 3 300 300
  convzoo summary waveform_m5 --json"""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("summary", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered model name (see convzoo list)")
    p.add_argument("--input-size", nargs="+", metavar="N",
                   help='input size C H W (or C L, C T H W); "3 224 224", "3,224,224" and '
                        '"3x224x224" all work (default: the model\'s default_cfg input_size)')
    p.add_argument("--batch-size", type=t("batch_size"), default=1, help="batch size (MACs scale with it)")
    p.add_argument("--num-classes", type=t("num_classes"), help="classifier width (default: the model's)")
    p.add_argument("--in-chans", type=t("in_chans"), help="input channels (default: the model's)")
    p.add_argument("--max-rows", type=t("max_rows"), help="show only the first N layers")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from convzoo.cli._common import parse_input_size
    from convzoo.catalog import profile_model
    from convzoo.registry import model_entrypoint

    model_entrypoint(args.model)          # unknown name -> one-line error with close names
    kwargs = {k: v for k, v in (("num_classes", args.num_classes), ("in_chans", args.in_chans))
              if v is not None}
    size = parse_input_size(args.input_size) if args.input_size else None
    prof = profile_model(args.model, size, batch_size=args.batch_size, **kwargs)
    if args.json:
        print(json.dumps(dict(name=args.model, **prof.to_dict()), indent=2))
        return 0
    print(f"{args.model}: {prof.model}, input {'x'.join(map(str, prof.input_shape))}")
    print(prof.table(max_rows=args.max_rows))
    return 0
