#!/usr/bin/env python3
"""Renders BENCHMARKS.md from one run of tools/bench.py (native) and
tools/bench-browser/bench.mjs (browser). Called by tools/benchmark.sh.

Usage: python3 tools/write_benchmarks.py NATIVE_JSON BROWSER_JSON > BENCHMARKS.md
Needs only the standard library (and node, for the browser table).
"""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def ms(v):
    if v is None:
        return "–"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms" if v >= 10 else f"{v:.2f} ms"


def med(x):
    return None if not x or "median_ms" not in x else x["median_ms"]


def ratio(ours, theirs):
    return "–" if not ours or not theirs else f"{ours / theirs:.2f}"


ROWS = [("warm image, batch 1", lambda r: med(r.get("image_b1"))),
        ("cold: load to first image + 4 texts", lambda r: (r.get("cold") or {}).get("total_ms")),
        ("batch of 8 images", lambda r: med(r.get("image_b8"))),
        ("4 texts", lambda r: med(r.get("text4"))),
        ("100 texts", lambda r: med(r.get("text100")))]


def cpu_ratios(b):
    """The CPU section's ratios at each thread count: webclip's CPU engine (q8 model file, the
    default options; and the f32 checkpoint) against transformers.js WASM fp32 and q8."""
    cpu = b.get("cpu") or {}
    if not cpu:
        return []
    out = ["Ratios without WebGPU, webclip's CPU engine / transformers.js WASM at the same thread count (below 1:",
           "webclip is faster). Targets, 2 threads on an isolated page: q8 model file <= 0.5 of its fp32 and",
           "<= 1.0 of its q8 (warm image, 4 texts), cold <= its q8's; floors, 1 thread on a page that is not",
           "isolated: f32 and q8 faster than its fp32.", "",
           "| threads | measurement | webclip q8 | webclip f32 | tjs WASM fp32 | tjs WASM q8 | q8 / tjs fp32 | q8 / tjs q8 | f32 / tjs fp32 |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for threads, c in sorted(cpu.items()):
        ours, theirs = c.get("webclip", {}), c.get("transformers", {})
        for name, get in ROWS:
            q8, f32 = get(ours.get("q8", {})), get(ours.get("f32", {}))
            t32, t8 = get(theirs.get("wasm-fp32", {})), get(theirs.get("wasm-q8", {}))
            out.append(f"| {threads} | {name} | {ms(q8)} | {ms(f32)} | {ms(t32)} | {ms(t8)} | {ratio(q8, t32)} | {ratio(q8, t8)} | {ratio(f32, t32)} |")
    gpu_q8 = (b.get("webclip_formats") or {}).get("q8")
    best = max(cpu) if cpu else None
    cpu_q8 = (cpu.get(best, {}).get("webclip") or {}).get("q8")
    if gpu_q8 and cpu_q8:
        out += ["", f"What `auto` changed on this machine (q8 model file): before, WebGPU on SwiftShader; now the CPU engine with {best} thread(s):", "",
                "| measurement | WebGPU (SwiftShader) | CPU | CPU / WebGPU |", "| --- | --- | --- | --- |"]
        for name, get in ROWS:
            out.append(f"| {name} | {ms(get(gpu_q8))} | {ms(get(cpu_q8))} | {ratio(get(cpu_q8), get(gpu_q8))} |")
    return out


def browser_section(b, path):
    out = ["## Browser: webclip vs transformers.js, same Chromium (with WebGPU: the same adapter; without: the CPU)", ""]
    table = subprocess.run(["node", "bench.mjs", "--report", str(path.resolve())], cwd=ROOT / "tools/bench-browser", check=True, capture_output=True, text=True).stdout
    out += [table.strip(), ""]
    w, tjs = b.get("webclip", {}), b.get("transformers", {})
    webgpu = {k: v for k, v in tjs.items() if k.startswith("webgpu") and v.get("image_b1")}
    out += ["Ratios, webclip / peer (below 1: webclip is faster; the targets are <= 0.5 against the fastest",
            "transformers.js WebGPU configuration):", "",
            "| measurement | webclip | fastest tjs WebGPU (config) | webclip / it | tjs WebGPU fp32 | webclip / it | tjs WebGPU q4 | webclip / it |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, get in ROWS:
        ours = get(w)
        cands = [(get(v), k) for k, v in webgpu.items() if get(v)]
        best = min(cands) if cands else (None, "–")
        f32, q4 = (get(tjs.get(k, {})) for k in ("webgpu-fp32", "webgpu-q4"))
        out.append(f"| {name} | {ms(ours)} | {ms(best[0])} ({best[1]}) | {ratio(ours, best[0])} | {ms(f32)} | {ratio(ours, f32)} | {ms(q4)} | {ratio(ours, q4)} |")
    sizes = b.get("meta", {}).get("file_bytes", {})
    formats = b.get("webclip_formats", {})
    out += ["", "Download size of the model files and GPU memory per weight format (webclip keeps each format",
            "as it is in GPU memory; transformers.js' GPU memory is not reported by onnxruntime-web, and its",
            "WebGPU q8 runs its integer matmuls on the CPU):", "", "| format | model files | GPU memory |", "| --- | --- | --- |"]
    gpu = {"webclip": w.get("gpu_bytes"), **{f"webclip_{k}": v.get("gpu_bytes") for k, v in formats.items()}}
    labels = [("webclip", "webclip f32 (model.safetensors + tokenizer + configs)")]
    labels += [(f"webclip_{k}", f"webclip {k} (one model file)") for k in ("f16", "q8", "q4")]
    labels += [("onnx_fp32", "transformers.js fp32"), ("onnx_q8", "transformers.js q8"), ("onnx_q4", "transformers.js q4")]
    for key, label in labels:
        if key in sizes:
            mem = f"{gpu[key] / 1e6:.0f} MB" if gpu.get(key) else "–"
            out.append(f"| {label} | {sum(sizes[key].values()) / 1e6:.0f} MB | {mem} |")
    return out + [""] + cpu_ratios(b)


def native_section(n):
    ours, torch = n["webclip"], n["torch_cpu"]
    cpu = n.get("webclip_cpu") or {}
    cols = [("lavapipe", ours)] + [(f"CPU {w}", r) for w, r in cpu.items()]
    head = " | ".join(f"webclip {c}" for c, _ in cols)
    out = ["## Native: webclip (on lavapipe, and its CPU engine) vs PyTorch CPU eager, same checkpoint, same run", "",
           f"webclip on {ours['adapter']} ({ours['backend']}), kernel family `{ours['family']}`; "
           + (f"its CPU engine: \"{next(iter(cpu.values()))['description']}\" (f32: the checkpoint as it is; q8: quantized while loading); " if cpu else "")
           + f"torch {n['versions']['torch']} with {torch['threads']} threads, transformers {n['versions']['transformers']}.", "",
           f"| stage | {head} | torch | " + " | ".join(f"webclip {c} / torch" for c, _ in cols) + " |",
           "| --- " * (2 + 2 * len(cols)) + "|"]
    blank = " |" * len(cols)
    out.append(f"| read files | " + " | ".join(ms(r["read_files_ms"]) for _, r in cols) + f" | |{blank}")
    out.append(f"| compile kernels | " + " | ".join(ms(r["compile_ms"]) for _, r in cols) + f" | |{blank}")
    out.append(f"| load (parse, check, upload) | " + " | ".join(ms(r["load_ms"]) for _, r in cols) + f" | {ms(torch['load_ms'])} (from_pretrained) |{blank}")
    out.append(f"| first image (lavapipe: includes its shader JIT) | " + " | ".join(ms(r["first_image_ms"]) for _, r in cols)
               + f" | {ms(torch['first_image_ms'])} | " + " | ".join(ratio(r["first_image_ms"], torch["first_image_ms"]) for _, r in cols) + " |")
    for key, name in [("image", "one image"), ("image_batch8", "batch of 8 images"), ("texts4", "4 labels"), ("texts100", "100 labels")]:
        t = torch[key]
        cells = " | ".join(f"{ms(r[key]['median_ms'])} ({ms(r[key]['min_ms'])}–{ms(r[key]['max_ms'])})" for _, r in cols)
        out.append(f"| {name} (median of {ours[key]['runs']}; min–max) | {cells} | {ms(t['median_ms'])} | "
                   + " | ".join(ratio(r[key]["median_ms"], t["median_ms"]) for _, r in cols) + " |")
    return out


def kernel_section(n):
    k = n["kernels"]
    cpu = n.get("cpu_kernels")
    sgemm = {(s["m"], s["n"], s["k"]): s for s in n["sgemm"]}
    out = ["## Kernels on lavapipe and on the CPU engine, next to numpy's sgemm (OpenBLAS) on the same CPU", "",
           f"`webclip bench-kernels --engine webgpu` on {k['adapter']}: medians of 4 dispatches per sample; "
           + (f"`--engine cpu` (family `cpu`, {cpu['adapter']}): medians of 4 calls per sample. " if cpu else "")
           + "Both run on these same cores, so sgemm is the roofline.", "",
           "| family | kernel | weights | shape | median | GFLOP/s | sgemm GFLOP/s | % of sgemm |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for t in k["kernels"] + (cpu["kernels"] if cpu else []):
        roof = sgemm.get(tuple(t["dims"])) if t["kernel"] == "matmul" else None
        share = f"{100 * t['gflops'] / roof['gflops']:.0f}%" if roof else ""
        weights = t.get("weights", "f32") if t["kernel"] == "matmul" else ""
        roof_cell = f"{roof['gflops']:.0f}" if roof else ""
        out.append(f"| {t['family']} | {t['kernel']} | {weights} | {t['shape']} | {ms(t['median_ms'])} | {t['gflops']:.2f} | {roof_cell} | {share} |")
    return out


def main():
    native_path, browser_path = map(pathlib.Path, sys.argv[1:3])
    n, b = json.loads(native_path.read_text()), json.loads(browser_path.read_text())
    meta = b.get("meta", {})
    lines = ["# Benchmarks", "",
             "Regenerate (about 30 minutes on 2 cores; needs the developer setup of `tools/README.md`):", "",
             "```sh", "tools/benchmark.sh /work/vitb32", "```", "",
             f"One run, {meta.get('started', '?')}: a random-weight ViT-B/32 CLIP (`tools/make_vitb32.py`), the same",
             "checkpoint for every implementation (transformers.js gets it exported to ONNX by `tools/make_onnx.py`,",
             "which checks each export against transformers first). Machine: "
             f"{meta.get('host', {}).get('cpus', '?')} x {meta.get('host', {}).get('cpu_model', '?')}, no GPU. Both adapters are",
             "software GPUs running on these same 2 cores (Chromium's SwiftShader WebGPU in the browser, Mesa's",
             "lavapipe natively), and so are the CPU engines: the ratios, not the absolute times, are the result.", ""]
    lines += browser_section(b, browser_path) + [""] + native_section(n) + [""] + kernel_section(n) + [""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
