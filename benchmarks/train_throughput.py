"""Training throughput: coordinate-steps per second of one model step (forward, backward, AdamW).

    python benchmarks/train_throughput.py [--device cpu|cuda] [--qubits 6,8,10] [--batches 14,15,16,17,18]

For each Nq (M = 3 Nq, R = 2, E = 1, three outputs: the model path training takes) and each batch
2^k, the median wall time of ``--repeats`` steps after a warm-up step, and batch / time. On CUDA
every step is synchronised before the clock stops. Prints a table; ``benchmarks/gpu.sh`` runs it on
a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def step_seconds(nq: int, batch: int, device: str, repeats: int) -> float:
    from quinr import ModelConfig, QuINR
    from quinr.train import TrainConfig, _param_groups

    cfg = ModelConfig(n_qubits=nq, embed_dim=3 * nq, out_features=3)
    model = QuINR(cfg, seed=0).to(device)
    opt = torch.optim.AdamW(_param_groups(model, TrainConfig()))
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, 2, generator=g) * 2 - 1).to(device)
    y = torch.rand(batch, 3, generator=g).to(device)

    def one() -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    one()
    return statistics.median(one() for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--qubits", default="6,8,10")
    ap.add_argument("--batches", default="12,13,14", help="log2 of the batch sizes (GPU: 14,15,16,17,18)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device on this machine")
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'Nq':>3} {'batch':>7} {'s/step':>9} {'coord-steps/s':>14}")
    for nq in (int(q) for q in args.qubits.split(",")):
        for k in (int(b) for b in args.batches.split(",")):
            s = step_seconds(nq, 1 << k, args.device, args.repeats)
            print(f"{nq:>3} {1 << k:>7} {s:9.4f} {(1 << k) / s:14,.0f}", flush=True)


if __name__ == "__main__":
    main()
