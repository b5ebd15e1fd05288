#!/usr/bin/env bash
# The GPU benchmark of docs/performance.md, one prepared script (run from the repository root on a
# machine with CUDA, after `make test` has built .venv):
#   bash benchmarks/gpu.sh [OUT_DIR]
# 1. CUDA parity: the simulator on CUDA against CPU (probabilities, and the adjoint backward's gradients);
# 2. training throughput (coordinate-steps per second) at Nq = 6, 8, 10, batches 2^14 .. 2^18;
# 3. a kodim02 encode at a low-rate configuration (Nq 6, M 12) with the default schedule;
# 4. COIN (5x20) on kodim02 at the paper's 50,000 iterations.
# Every part's output goes to OUT_DIR (default gpu-results/) and to the terminal.
set -euo pipefail
OUT=${1:-gpu-results}
mkdir -p "$OUT"
PY=.venv/bin/python
KODIM=../shared/data/kodak/kodim02.png
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -m pytest -q tests/test_sim_parity.py tests/test_adjoint.py -k cuda 2>&1 | tee "$OUT/parity.txt"
$PY benchmarks/train_throughput.py --device cuda --qubits 6,8,10 --batches 14,15,16,17,18 | tee "$OUT/throughput.txt"
if [ -f "$KODIM" ]; then
  ( time .venv/bin/quinr encode "$KODIM" -o "$OUT/kodim02-nq6.qinr" --qubits 6 --embed 12 --device cuda ) 2>&1 \
    | tee "$OUT/encode.txt"
  $PY - "$KODIM" <<'PYEOF' 2>&1 | tee "$OUT/coin.txt"
import sys, time
from quinr.baselines import coin
from quinr.signal import load_signal
sig = load_signal(sys.argv[1])
t0 = time.perf_counter()
res = coin.encode(sig, "5x20", iters=50_000, device="cuda")
print(f"COIN 5x20, 50,000 iterations on CUDA: {res.psnr:.2f} dB at {res.bpp:.4f} bpp in {time.perf_counter() - t0:.0f} s")
PYEOF
else
  echo "kodim02 not found at $KODIM: encode and COIN parts skipped" | tee "$OUT/encode.txt"
fi
