#!/usr/bin/env python3
"""Benchmark webclip against transformers' CLIPModel (PyTorch, CPU, fp32) in one run.

Usage: python3 tools/bench.py MODEL_DIR [--runs N] [--texts N]

Both sides embed one image (batch 1) and N texts, medians over --runs after a
warm-up. webclip runs on whatever adapter wgpu picks (lavapipe on a machine
without a GPU); torch uses every CPU core. Prints a JSON report with the ratio
torch / webclip (> 1: webclip is faster). Developer machines only (needs torch).
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import time

import torch
from transformers import CLIPModel

ROOT = pathlib.Path(__file__).resolve().parent.parent


def median_ms(runs, fn):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--texts", type=int, default=4)
    args = ap.parse_args()

    binary = ROOT / "target/release/webclip"
    subprocess.run(["cargo", "build", "--release", "--bin", "webclip"], cwd=ROOT, check=True)
    out = subprocess.run([str(binary), "bench", "--json", "--model", args.model, "--runs", str(args.runs), "--texts", str(args.texts)],
                         check=True, capture_output=True, text=True).stdout
    ours = json.loads(out.strip().splitlines()[-1])

    start = time.perf_counter()
    model = CLIPModel.from_pretrained(args.model, dtype=torch.float32).eval()
    load_ms = (time.perf_counter() - start) * 1e3
    size = model.config.vision_config.image_size
    pixels = torch.rand(1, 3, size, size) * 2 - 1
    ids = torch.full((args.texts, 9), 49407)  # "a photo of a thing number i" is 9 tokens
    ids[:, 0] = 49406
    ids[:, 1:8] = torch.randint(300, 40000, (args.texts, 7))
    with torch.inference_mode():
        image_ms = median_ms(args.runs, lambda: model.get_image_features(pixel_values=pixels))
        text_ms = median_ms(args.runs, lambda: model.get_text_features(input_ids=ids))

    report = {
        "webclip": ours,
        "torch_cpu": {"threads": torch.get_num_threads(), "load_ms": load_ms, "image_ms": image_ms, "text_ms": text_ms},
        "ratio_torch_over_webclip": {"image": image_ms / ours["image_ms"], "text": text_ms / ours["text_ms"]},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
