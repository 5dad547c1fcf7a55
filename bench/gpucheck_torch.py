#!/usr/bin/env python3
"""gpucheck_torch.py — the anchor of the GPU check (bench/gpu-check.sh): the shapes of
bench_gpucheck measured with PyTorch, fp32, on the same GPU, so that relvec's figures are read
against what the hardware and a mature library do on this machine:

  copy      a device-to-device copy of 2 GiB: bytes read + written per second (the memory
            ceiling; a pass that only reads the corpus reads at about this rate)
  upload    the rows x dims corpus from a pageable NumPy array to the device (x.cuda()), and
            from pinned memory (the PCIe ceiling)
  top-1     exact top-k of one query by cosine: the corpus normalized once, then
            torch.matmul(q, xn.T) + torch.topk, median over --reps queries (CUDA events)
  top-100   the same for a batch of --queries queries
  matmul    sim-rows x dims times dims x anchors, fp32 (TF32 off), GFLOP/s
Writes JSON (--json FILE). Without torch or without CUDA it writes {"skipped": reason} and
exits 0, so the check goes on without its anchor.
"""

import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--sim-rows", type=int, default=5000)
    ap.add_argument("--dims", type=int, default=768)
    ap.add_argument("--anchors", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()

    def done(obj):
        with open(a.json, "w") as f:
            json.dump(obj, f, indent=2)
        print("torch figures written to %s" % a.json)

    try:
        import numpy as np
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no anchor here"
        print("torch: skipped (%s)" % e)
        return done({"skipped": "torch not importable: %s" % e})
    if not torch.cuda.is_available():
        print("torch: skipped (no CUDA device)")
        return done({"skipped": "torch %s sees no CUDA device" % torch.__version__})

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0),
           "rows": a.rows, "dims": a.dims, "queries": a.queries, "k": a.k,
           "sim_rows": a.sim_rows, "anchors": a.anchors}
    print("torch %s on %s" % (torch.__version__, out["device"]))

    def timed(fn, reps, warm=3):
        """median milliseconds of fn() by CUDA events"""
        for _ in range(warm):
            fn()
        torch.cuda.synchronize()
        ts = []
        for i in range(reps):
            s = torch.cuda.Event(enable_timing=True)
            e = torch.cuda.Event(enable_timing=True)
            s.record()
            fn(i)
            e.record()
            e.synchronize()
            ts.append(s.elapsed_time(e))
        ts.sort()
        n = len(ts)
        return ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])

    # memory ceiling: a 2 GiB device-to-device copy, read + written bytes
    src = torch.empty(512 << 20, dtype=torch.float32, device=dev).uniform_(-1, 1)
    dst = torch.empty_like(src)
    ms = timed(lambda i=0: dst.copy_(src), 10)
    out["copy_tbps"] = 2 * src.numel() * 4 / (ms * 1e-3) * 1e-12
    print("  copy 2 GiB device to device: %.3f ms, %.2f TB/s (read + write)" % (ms, out["copy_tbps"]))
    del src, dst

    # upload of the corpus: pageable NumPy array, and pinned host memory
    g = np.random.default_rng(1)
    xh = (g.random((a.rows, a.dims), dtype=np.float32) * 2 - 1)
    nbytes = xh.nbytes
    best = None
    for _ in range(2):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        xd = torch.from_numpy(xh).to(dev)
        torch.cuda.synchronize()
        t = time.perf_counter() - t0
        best = t if best is None or t < best else best
        del xd
    out["upload_pageable_gbps"] = nbytes / best * 1e-9
    xp = torch.from_numpy(xh).pin_memory()
    best = None
    for _ in range(2):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        xd = xp.to(dev, non_blocking=True)
        torch.cuda.synchronize()
        t = time.perf_counter() - t0
        best = t if best is None or t < best else best
        del xd
    out["upload_pinned_gbps"] = nbytes / best * 1e-9
    del xp
    print("  upload %.2f GB: pageable %.2f GB/s, pinned %.2f GB/s"
          % (nbytes * 1e-9, out["upload_pageable_gbps"], out["upload_pinned_gbps"]))

    # exact cosine top-k: the corpus normalized once (as a vector database keeps it)
    x = torch.from_numpy(xh).to(dev)
    del xh
    xn = torch.nn.functional.normalize(x, dim=1)
    del x
    q = torch.empty((max(a.queries, a.reps), a.dims), device=dev).uniform_(-1, 1)
    qn = torch.nn.functional.normalize(q, dim=1)

    def top1(i=0):
        s = torch.matmul(qn[i % qn.shape[0]:i % qn.shape[0] + 1], xn.t())
        return torch.topk(s, a.k, dim=1)

    def top100(i=0):
        s = torch.matmul(qn[:a.queries], xn.t())
        return torch.topk(s, a.k, dim=1)

    out["top1_ms"] = timed(top1, a.reps)
    print("  top-%d one query (matmul + topk): %.3f ms" % (a.k, out["top1_ms"]))
    out["top100_ms"] = timed(top100, min(a.reps, 10))
    print("  top-%d %d queries (matmul + topk): %.3f ms" % (a.k, a.queries, out["top100_ms"]))
    del xn, q, qn
    torch.cuda.empty_cache()

    # fp32 matrix product of the similarity matrix's shape
    xs = torch.empty((a.sim_rows, a.dims), device=dev).uniform_(-1, 1)
    an = torch.empty((a.anchors, a.dims), device=dev).uniform_(-1, 1)
    ms = timed(lambda i=0: torch.matmul(xs, an.t()), 20)
    out["matmul_ms"] = ms
    out["matmul_gflops"] = 2.0 * a.sim_rows * a.anchors * a.dims / (ms * 1e-3) * 1e-9
    print("  matmul %dx%dx%d fp32: %.3f ms, %.0f GFLOP/s"
          % (a.sim_rows, a.dims, a.anchors, ms, out["matmul_gflops"]))
    done(out)


if __name__ == "__main__":
    sys.exit(main())
