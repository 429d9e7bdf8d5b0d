#!/usr/bin/env python3
"""Native half of BENCHMARKS.md: webclip on this machine's wgpu adapter and on its
CPU engine against transformers' CLIPModel on PyTorch (CPU, fp32, eager), same
checkpoint, same run; and webclip's kernels (both engines) against numpy's sgemm
(OpenBLAS) on the same shapes.

Usage: python3 tools/bench.py MODEL_DIR [--runs N] [--out tools/out/bench-native.json]

Medians over --runs after a warm-up (half the runs for batch 8 and 100 texts).
On a machine without a GPU, wgpu runs on lavapipe, which executes on this CPU:
numpy's sgemm on the same cores is then the kernels' roofline. Developer
machines only (needs torch; see tools/requirements.txt).
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import time

import numpy as np
import torch
import transformers
from transformers import CLIPModel, CLIPTokenizerFast

ROOT = pathlib.Path(__file__).resolve().parent.parent


def timed(runs, fn):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "runs": runs}


def webclip(*args):
    binary = ROOT / "target/release/webclip"
    out = subprocess.run([str(binary), *args, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def torch_side(model_dir, runs):
    start = time.perf_counter()
    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    load_ms = (time.perf_counter() - start) * 1e3
    tokenizer = CLIPTokenizerFast.from_pretrained(model_dir)
    size = model.config.vision_config.image_size
    one = torch.rand(1, 3, size, size) * 2 - 1
    eight = one.repeat(8, 1, 1, 1)
    # The prompts `webclip bench` encodes.
    labels = lambda n: tokenizer([f"a photo of a thing number {i}" for i in range(n)], padding=True, return_tensors="pt")
    four, hundred = labels(4), labels(100)
    with torch.inference_mode():
        start = time.perf_counter()
        model.get_image_features(pixel_values=one)
        first_image_ms = (time.perf_counter() - start) * 1e3
        return {
            "threads": torch.get_num_threads(),
            "load_ms": load_ms,
            "first_image_ms": first_image_ms,
            "image": timed(runs, lambda: model.get_image_features(pixel_values=one)),
            "image_batch8": timed(max(1, (runs + 1) // 2), lambda: model.get_image_features(pixel_values=eight)),
            "texts4": timed(runs, lambda: model.get_text_features(**four)),
            "texts100": timed(max(1, (runs + 1) // 2), lambda: model.get_text_features(**hundred)),
        }


def sgemm(shapes, runs):
    """numpy float32 matmul (OpenBLAS sgemm) on each (m, n, k): GFLOP/s, median of runs."""
    out = []
    rng = np.random.default_rng(0)
    for m, n, k in shapes:
        x, w = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        reps = min(200, max(1, int(2e9 / (2 * m * n * k))))  # ~10 ms per sample at 200 GFLOP/s
        t = timed(runs, lambda: [x @ w for _ in range(reps)])
        out.append({"m": m, "n": n, "k": k, "median_ms": t["median_ms"] / reps, "gflops": 2 * m * n * k / (t["median_ms"] / reps) / 1e6})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "tools/out/bench-native.json"))
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--bin", "webclip"], cwd=ROOT, check=True)
    kernels = webclip("bench-kernels", "--engine", "webgpu", "--samples", str(args.runs))
    cpu_kernels = webclip("bench-kernels", "--engine", "cpu", "--samples", str(args.runs))
    ours = webclip("bench", "--engine", "webgpu", "--model", args.model, "--runs", str(args.runs))
    # The CPU engine on the checkpoint as it is (f32) and quantized while loading (q8).
    cpu = {w: webclip("bench", "--engine", "cpu", "--weights", w, "--model", args.model, "--runs", str(args.runs)) for w in ("f32", "q8")}
    theirs = torch_side(args.model, args.runs)
    shapes = [tuple(t["dims"]) for t in kernels["kernels"] if t["kernel"] == "matmul" and t["family"] == "registers"]
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__},
        "webclip": ours,
        "webclip_cpu": cpu,
        "torch_cpu": theirs,
        "kernels": kernels,
        "cpu_kernels": cpu_kernels,
        "sgemm": sgemm(shapes, args.runs),
    }
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
