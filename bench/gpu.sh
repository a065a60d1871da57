#!/usr/bin/env bash
# GPU checks for a lent CUDA machine, one script, < 8 minutes: AMP (bf16, fp16) + channels_last +
# torch.compile throughput, convzoo vs timm, for efficientnet_b0 / mobilenet_v2 / convnext_tiny at
# 224x224 batch 64; an fp16 training step with GradScaler; SyncBatchNorm under torchrun (1 process).
# Usage: bash bench/gpu.sh [OUT_DIR]   (writes OUT_DIR/gpu.txt; default $OUT or ./gpu-out)
set -euo pipefail
OUT_DIR=${1:-${OUT:-gpu-out}}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python}
export PYTHONPATH=${PYTHONPATH:-$(pwd)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT_DIR/gpu.txt"

timeout 300 "$PY" - <<'PY' 2>&1 | tee -a "$OUT_DIR/gpu.txt"
import time, torch, timm, convzoo
from convzoo.export import optimize
TIMM = {"efficientnet_b0": "efficientnet_b0", "mobilenet_v2": "mobilenetv2_100", "convnext_tiny": "convnext_tiny"}
dev = torch.device("cuda")
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")

def rate(fn, x, n=30):
    for _ in range(5):
        fn(x)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n):
        fn(x)
    torch.cuda.synchronize()
    return n * x.shape[0] / (time.perf_counter() - t)

for name, tname in TIMM.items():
    x = torch.randn(64, 3, 224, 224, device=dev)
    cz = convzoo.create_model(name).to(dev).eval()
    tm = timm.create_model(tname).to(dev).eval().to(memory_format=torch.channels_last)
    for prec in ("fp32", "bf16", "fp16"):
        for comp in (False, True):
            ours = optimize(cz, precision=prec, compile=comp, example_input=x[:1])
            dt = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
            tcomp = torch.compile(tm) if comp else tm
            def theirs(x, m=tcomp, dt=dt):
                with torch.inference_mode(), torch.autocast("cuda", dtype=dt or torch.float32, enabled=dt is not None):
                    return m(x.contiguous(memory_format=torch.channels_last))
            def run_ours(x, m=ours):
                with torch.inference_mode():
                    return m(x)
            a, b = rate(run_ours, x), rate(theirs, x)
            print(f"{name:16s} {prec} compile={comp!s:5s} convzoo {a:8.0f} img/s  timm {b:8.0f} img/s  ratio {a / b:.2f}", flush=True)

# fp16 training step with GradScaler
m = convzoo.create_model("efficientnet_b0", num_classes=10).to(dev).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
scaler = torch.amp.GradScaler("cuda")
x = torch.randn(64, 3, 224, 224, device=dev).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (64,), device=dev)
for i in range(12):
    if i == 2:
        torch.cuda.synchronize(); t = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.float16):
        loss = torch.nn.functional.cross_entropy(m(x), y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
torch.cuda.synchronize()
print(f"fp16 + GradScaler train step, efficientnet_b0 b64: {(time.perf_counter() - t) / 10 * 1e3:.1f} ms, "
      f"loss {loss.item():.3f} finite={torch.isfinite(loss).item()}, scale {scaler.get_scale():.0f}")
PY

# SyncBatchNorm under torchrun with one process (the distributed trainer's --sync-bn path)
timeout 150 "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m convzoo train \
  --model mobilenet_v2 --dataset digits --image-size 32 --epochs 1 --sync-bn --amp bf16 --device cuda \
  --out "$OUT_DIR/syncbn-run" --no-progress 2>&1 | tail -n 3 | tee -a "$OUT_DIR/gpu.txt"
