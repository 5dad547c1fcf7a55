#!/usr/bin/env python3
"""gpucheck_table.py — the table of the GPU check (bench/gpu-check.sh): relvec's figures
(bench_gpucheck's JSON), the CPU twin's, and PyTorch's on the same GPU (gpucheck_torch.py's
JSON), each row with its target from the issue and pass / miss. Verdicts are given only on a
GPU: on a CPU-type device (the lavapipe rehearsal) every row says "rehearsal", and without
torch the rows measured against torch say "no torch".

Usage: gpucheck_table.py BENCH_JSON TORCH_JSON [--hbm-tbps 4.8]
"""

import json
import sys

HBM_TBPS_DATASHEET = 4.8    # H200 HBM3e, vendor datasheet


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"skipped": "cannot read %s: %s" % (path, e)}


def num(v, fmt):
    return "-" if v is None else fmt % v


def main(argv):
    hbm = HBM_TBPS_DATASHEET
    args = [a for a in argv[1:]]
    if "--hbm-tbps" in args:
        i = args.index("--hbm-tbps")
        hbm = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        print(__doc__)
        return 2
    b = load(args[0])
    t = load(args[1])
    have_torch = "skipped" not in t
    on_gpu = b.get("type") in ("discrete", "integrated", "virtual")
    rows, dims, sim_rows, anchors = b.get("rows"), b.get("dims"), b.get("sim_rows"), b.get("anchors")
    k, nq = b.get("k"), b.get("queries")

    def verdict(ok, needs_torch=False):
        if not on_gpu:
            return "rehearsal"
        if needs_torch and not have_torch:
            return "no torch"
        if ok is None:
            return "not measured"
        return "PASS" if ok else "MISS"

    lines = []
    head = ("figure", "relvec GPU", "CPU twin", "torch, same GPU", "target", "verdict")
    lines.append(head)

    # 1. one query: memory floor
    floor_ms = rows * dims * 4 / (hbm * 1e12) * 1e3 if rows and dims else None
    copy = t.get("copy_tbps") if have_torch else None
    floor_meas = rows * dims * 4 / (copy * 1e12) * 1e3 if copy else None
    g1, d1 = b.get("top1_ms"), b.get("top1_device_ms")
    tgt1 = 2 * floor_ms if floor_ms else None
    lines.append(("resident exact top-%s, 1 query, %s x %s cosine (ms/query)" % (k, rows, dims),
                  "%s (device %s)" % (num(g1, "%.3f"), num(d1, "%.3f")),
                  num(b.get("cpu_top1_ms"), "%.2f"),
                  num(t.get("top1_ms"), "%.3f"),
                  "<= 2 x read floor %s ms (%.1f TB/s) = %s%s" % (
                      num(floor_ms, "%.3f"), hbm, num(tgt1, "%.3f"),
                      "; floor at torch's copy rate %s ms" % num(floor_meas, "%.3f") if floor_meas else ""),
                  verdict(g1 <= tgt1 if g1 is not None and tgt1 else None)))

    # 2. a batch of queries against torch
    g2, d2, t2 = b.get("top100_ms"), b.get("top100_device_ms"), t.get("top100_ms")
    lines.append(("resident exact top-%s, %s queries (ms/batch)" % (k, nq),
                  "%s (device %s)" % (num(g2, "%.3f"), num(d2, "%.3f")),
                  num(b.get("cpu_top100_ms"), "%.1f"),
                  num(t2, "%.3f"),
                  "<= 1.2 x torch matmul + topk = %s" % num(1.2 * t2 if t2 else None, "%.3f"),
                  verdict(g2 <= 1.2 * t2 if g2 is not None and t2 else None, True)))

    # 2b. one pass of the kernel with a full batch (16 queries), for the record
    if b.get("top16_ms") is not None:
        lines.append(("resident exact top-%s, 16 queries (one pass; ms)" % k,
                      "%s (device %s)" % (num(b.get("top16_ms"), "%.3f"), num(b.get("top16_device_ms"), "%.3f")),
                      "-", "-", "reported", "info"))

    # 3. similarity matrix: kernel throughput against torch's fp32 matmul
    flop = 2.0 * sim_rows * anchors * dims if sim_rows else None
    sd, se = b.get("sim_device_ms"), b.get("sim_ms")
    gfl = flop / (sd * 1e-3) * 1e-9 if flop and sd else None
    tg = t.get("matmul_gflops")
    lines.append(("similarity matrix %s x %s x %s cosine (GFLOP/s of the kernel; ms end to end)"
                  % (sim_rows, dims, anchors),
                  "%s (%s ms with host copies)" % (num(gfl, "%.0f"), num(se, "%.2f")),
                  "%s ms" % num(b.get("cpu_sim_ms"), "%.1f"),
                  "%s GFLOP/s" % num(tg, "%.0f"),
                  ">= 50%% of torch fp32 matmul = %s" % num(0.5 * tg if tg else None, "%.0f"),
                  verdict(gfl >= 0.5 * tg if gfl and tg else None, True)))

    # 4. upload
    up, tp, tpin = b.get("upload_gbps"), t.get("upload_pageable_gbps"), t.get("upload_pinned_gbps")
    lines.append(("upload of %s x %s to device memory (GB/s)" % (rows, dims),
                  num(up, "%.2f"), "-",
                  "%s pageable, %s pinned" % (num(tp, "%.2f"), num(tpin, "%.2f")),
                  ">= 50%% of torch from pageable memory = %s" % num(0.5 * tp if tp else None, "%.2f"),
                  verdict(up >= 0.5 * tp if up and tp else None, True)))

    # 5. setup, for the record
    lines.append(("setup: instance / device / pipelines cold / warm (ms)",
                  "%s / %s / %s / %s" % (num(b.get("instance_ms"), "%.1f"), num(b.get("device_ms"), "%.1f"),
                                         num(b.get("pipelines_cold_ms"), "%.1f"),
                                         num(b.get("pipelines_warm_ms"), "%.1f")),
                  "-", "-", "reported (%s pipelines, %s bytes of cache data, file %s)" % (
                      b.get("pipelines"), b.get("pcache_bytes"), "used" if b.get("pcache_loaded") else "NOT used"),
                  "info"))
    lines.append(("setup: first dispatch after cold / warm pipelines (ms)",
                  "%s / %s" % (num(b.get("first_dispatch_cold_ms"), "%.1f"),
                               num(b.get("first_dispatch_warm_ms"), "%.1f")),
                  "-", "-", "reported", "info"))

    widths = [max(len(str(r[i])) for r in lines) for i in range(len(head))]
    print("GPU check on %s (%s; %s)%s" % (b.get("device"), b.get("type"), b.get("driver"),
                                          "" if have_torch else "; torch: " + t.get("skipped", "")))
    for n, r in enumerate(lines):
        print("| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    sw = b.get("sweep") or []
    if sw:
        print("few-query kernel, 1 query, device ms by workgroups aimed at (unrolled x4 / not): " +
              "; ".join("%d: %s" % (g, " / ".join(num(e["device_ms"], "%.3f") for u in (1, 0)
                                                   for e in sw if e["groups"] == g and e["unroll"] == u))
                        for g in sorted({e["groups"] for e in sw})))
    ex = b.get("top_exact")
    print("checks: device top-k %s the CPU's; similarity matrix max |diff| %s; recheck fallbacks: "
          "%s longer lists, %s full passes; subgroup size %s"
          % ("equals" if ex == 1 else ("DIFFERS from" if ex == 0 else "not compared with"),
             num(b.get("sim_maxdiff"), "%.2e"), b.get("knn_retries"), b.get("knn_full"),
             b.get("subgroup_size")))
    misses = sum(1 for r in lines[1:] if r[5] == "MISS")
    passes = sum(1 for r in lines[1:] if r[5] == "PASS")
    print("targets: %d pass, %d miss%s" % (passes, misses, "" if on_gpu else " (rehearsal: no verdicts)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
