#!/usr/bin/env python3
"""Which matrices should a q4 file keep in q8? Which 4-bit scheme? (run by hand)

Quantizes the matrices webclip packs (model_file::is_matrix: linear layers, patch
embedding, token table, projections, SigLIP's heads) of a Hub-layout CLIP or SigLIP
(`model_type` "clip" or "siglip" in config.json) with a *policy* that gives each
matrix a format from its Hugging Face name, dequantizes, and prints the smallest
cosine of image and text features against the unquantized model (float32) on the
model's own expected/ inputs: expected/pixel_values.npy and expected/cases.json's
`input_ids` (CLIP: unpadded, padded here with a mask; SigLIP: already padded).
Each row also gives what the policy costs on a ViT-B/32 (CLIPConfig() defaults) and
on a SigLIP base/16 (SiglipConfig() defaults): the file size in MB (10^6 bytes)
with today's all-q4 file (88.1 MB for B/32, docs/model-file.md) as the base.

    tools/.venv/bin/python tools/quant_study.py DIR                 # every policy
    tools/.venv/bin/python tools/quant_study.py DIR -p 'q4,q8 edges'  # some (labels or row numbers)
    tools/.venv/bin/python tools/quant_study.py DIR --isolate       # which group costs most
    tools/.venv/bin/python tools/quant_study.py --list              # policies and their cost only
    tools/.venv/bin/python tools/quant_study.py DIR --sharpen 8      # q/k x 8 first: sharper attention

A random B/32 (tools/make_vitb32.py) attends almost uniformly (mean largest attention
weight 0.02 over 50 tokens); `--sharpen 4` makes it 0.05-0.07, `--sharpen 8` 0.26-0.40
(vision tower, first image).

Formats (src/ops/format/quantize.rs, blocks of 32 along k padded with zeros, f16
scales): `q8` (max|w| / 127); `q4` as webclip writes it (ggml's q4_0 scale times
16 factors in [0.8, 1.1], least squared error); `q4 plain` (ggml's q4_0); `q4 lsq`
(the scale refit by least squares from 32 starts: same format, slower writer);
`q4_1` and `q4_1 search` (with a per-block minimum: a format change); `+sort`
after a q4 format: each MLP's hidden units sorted by the size (RMS) of their fc2
column before quantizing, so that fc2's blocks hold columns of like size (a
converter would permute fc1's rows and bias and fc2's columns: the same function,
no format change; simulated by quantizing fc2 permuted and permuting back). `--isolate`
quantizes one group of matrices at a time to q4 (the rest stay f32) to show which
group dominates the error.

Policies are rules on names only (plus the tower's layer count for "last layer"),
the same for CLIP and SigLIP names where both have the tensor: "edges" are the
patch embedding, visual/text projections and SigLIP's heads (vision_model.head.*,
text_model.head.weight); the token table is separate (12.6 MB in q8 on B/32).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

BLOCK = 32
B32_Q4_FILE_MB = 88.1  # docs/model-file.md: ViT-B/32 with every matrix in q4

HEADS = (
    "vision_model.head.attention.in_proj_weight",
    "vision_model.head.attention.out_proj.weight",
    "vision_model.head.mlp.fc1.weight",
    "vision_model.head.mlp.fc2.weight",
    "text_model.head.weight",
)


def is_matrix(name: str) -> bool:
    """As model::schema::is_matrix."""
    in_layer = ".encoder.layers." in name
    return (in_layer and (name.endswith("_proj.weight") or name.endswith(".mlp.fc1.weight") or name.endswith(".mlp.fc2.weight"))) or name in (
        "vision_model.embeddings.patch_embedding.weight",
        "visual_projection.weight",
        "text_projection.weight",
        "text_model.embeddings.token_embedding.weight",
        *HEADS,
    )


# ----------------------------------------------------------------------------- quantizers


def blocks(w: np.ndarray):
    n = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    kp = -(-k // BLOCK) * BLOCK
    flat = np.zeros((n, kp), np.float32)
    flat[:, :k] = w.reshape(n, k)
    return flat.reshape(n, kp // BLOCK, BLOCK), k


def f16(x):
    return x.astype(np.float16).astype(np.float32)


def q8(b):
    d = f16(np.abs(b).max(-1, keepdims=True) / 127)
    d[d == 0] = 1
    return np.clip(np.round(b / d), -127, 127) * d


def least_error(b, candidates):
    """Per block, the candidate reconstruction with the least squared error."""
    best, best_err = None, None
    for r in candidates:
        err = ((r - b) ** 2).sum(-1, keepdims=True)
        if best is None:
            best, best_err = r, err
        else:
            best = np.where(err < best_err, r, best)
            best_err = np.minimum(err, best_err)
    return best


def q4_levels(b, d):
    """Levels -8..7 times the scale d (f16)."""
    d = f16(d)
    return np.clip(np.round(b / np.where(d == 0, 1, d)), -8, 7) * d


def q4_0(b, factors=(1.0,)):
    extreme = np.take_along_axis(b, np.abs(b).argmax(-1)[..., None], -1)
    return least_error(b, (q4_levels(b, extreme / -8 * f) for f in factors))


def q4_webclip(b):
    """What webclip writes: q4_0's scale times 16 factors in [0.8, 1.1] (Q4_SCALE_CANDIDATES)."""
    return q4_0(b, 0.8 + 0.3 * np.arange(16, dtype=np.float32) / 15)


def q4_1(b):
    lo, hi = f16(b.min(-1, keepdims=True)), b.max(-1, keepdims=True)
    d = f16((hi - lo) / 15)
    safe = np.where(d == 0, 1, d)
    return np.clip(np.round((b - lo) / safe), 0, 15) * d + lo


def q4_1_search(b):
    """q4_1 with the range shrunk from either end, keeping the least squared error."""
    lo0, hi0 = b.min(-1, keepdims=True), b.max(-1, keepdims=True)

    def candidate(shrink_lo, shrink_hi):
        span = hi0 - lo0
        lo = f16(lo0 + shrink_lo * span)
        d = f16((hi0 - shrink_hi * span - lo) / 15)
        return np.clip(np.round((b - lo) / np.where(d == 0, 1, d)), 0, 15) * d + lo

    grid = np.linspace(0, 0.2, 9)
    return least_error(b, (candidate(a, c) for a in grid for c in grid))


def q4_0_fit(b):
    """q4_0 whose scale is refit by least squares (d = <q, w> / <q, q>, then q
    rounded again) from many starting scales of either sign."""
    amax = np.abs(b).max(-1, keepdims=True)

    def fit(start):
        d = amax * start
        for _ in range(3):
            q = np.clip(np.round(b / np.where(d == 0, 1, d)), -8, 7)
            qq = (q * q).sum(-1, keepdims=True)
            d = np.where(qq > 0, (q * b).sum(-1, keepdims=True) / np.where(qq > 0, qq, 1), d)
        return q4_levels(b, d)

    starts = np.concatenate([np.linspace(-1 / 6.0, -1 / 9.0, 16), np.linspace(1 / 9.0, 1 / 6.0, 16)])
    return least_error(b, (fit(s) for s in starts))


# format -> (dequantized blocks, bytes per weight in the file)
FORMATS = {
    "f32": (None, 4.0),
    "q8": (q8, 1.0625),
    "q4": (q4_webclip, 0.5625),
    "q4 plain": (q4_0, 0.5625),
    "q4 lsq": (q4_0_fit, 0.5625),
    "q4_1": (q4_1, 0.625),
    "q4_1 search": (q4_1_search, 0.625),
}


# ----------------------------------------------------------------------------- policies


def layer_of(name: str):
    """('vision' | 'text', layer index) for a tensor inside an encoder layer, else None."""
    m = re.match(r"(vision|text)_model\.encoder\.layers\.(\d+)\.", name)
    return (m.group(1), int(m.group(2))) if m else None


def is_edge(name: str) -> bool:
    """Patch embedding, projections and SigLIP's heads (not the token table)."""
    return name in ("vision_model.embeddings.patch_embedding.weight", "visual_projection.weight", "text_projection.weight", *HEADS)


def kind(name: str) -> str:
    """q_proj, k_proj, v_proj, out_proj, fc1, fc2 for a layer's matrix."""
    return name.split(".")[-2]


def q4km_layer(i: int, n: int) -> bool:
    """llama.cpp's use_more_bits: the first and last eighth of the layers and every third between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def rule(q8_if, q4="q4"):
    """A policy: matrices for which q8_if(name, n_layers) holds in q8, the others in `q4`."""
    return lambda name, layers: "q8" if q8_if(name, layers) else q4


def bytes_per_weight(fmt: str) -> float:
    return FORMATS[fmt.partition("+")[0]][1]


def in_layers(kinds, towers=("vision", "text"), which=lambda i, n: True):
    """Layer matrices of these kinds in these towers at layer indices `which` picks."""

    def f(name, layers):
        lt = layer_of(name)
        return lt is not None and lt[0] in towers and kind(name) in kinds and which(lt[1], layers[lt[0]])

    return f


def any_of(*fs):
    return lambda name, layers: any(f(name, layers) for f in fs)


ALL = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
edge = lambda name, layers: is_edge(name)  # noqa: E731
token = lambda name, layers: name == "text_model.embeddings.token_embedding.weight"  # noqa: E731
first = lambda i, n: i == 0  # noqa: E731
last = lambda i, n: i == n - 1  # noqa: E731

POLICIES = {
    "q8": lambda name, layers: "q8",
    "q4": lambda name, layers: "q4",
    "q4 lsq": lambda name, layers: "q4 lsq",
    "q8 edges": rule(edge),
    "q8 edges+token": rule(any_of(edge, token)),
    "q8 edges+first": rule(any_of(edge, in_layers(ALL, which=first))),
    "q8 edges+last": rule(any_of(edge, in_layers(ALL, which=last))),
    "q8 edges+first+last": rule(any_of(edge, in_layers(ALL, which=lambda i, n: i in (0, n - 1)))),
    "q8 edges+first+text second": rule(
        any_of(edge, in_layers(ALL, which=first), in_layers(ALL, ("text",), lambda i, n: i == 1))
    ),
    "q8 edges+text first two": rule(any_of(edge, in_layers(ALL, ("text",), lambda i, n: i < 2))),
    "q8 edges+vision first": rule(any_of(edge, in_layers(ALL, ("vision",), first))),
    "q8 edges+text first": rule(any_of(edge, in_layers(ALL, ("text",), first))),
    "q8 edges+q/k": rule(any_of(edge, in_layers(("q_proj", "k_proj")))),
    "q8 edges+k": rule(any_of(edge, in_layers(("k_proj",)))),
    "q8 edges+v/out": rule(any_of(edge, in_layers(("v_proj", "out_proj")))),
    "q8 edges+vision q/k": rule(any_of(edge, in_layers(("q_proj", "k_proj"), ("vision",)))),
    "q8 edges+text q/k": rule(any_of(edge, in_layers(("q_proj", "k_proj"), ("text",)))),
    "q8 edges+text fc2": rule(any_of(edge, in_layers(("fc2",), ("text",)))),
    "q8 edges+Q4_K_M v/fc2": rule(any_of(edge, in_layers(("v_proj", "fc2"), which=q4km_layer))),
    "q8 edges (q4 lsq)": rule(edge, "q4 lsq"),
    "q8 edges+q/k (q4 lsq)": rule(any_of(edge, in_layers(("q_proj", "k_proj"))), "q4 lsq"),
    "q4_1 search": lambda name, layers: "q4_1 search",
    "q4+sort": lambda name, layers: "q4+sort",
    "q8 edges (q4+sort)": rule(edge, "q4+sort"),
    "q8 edges+text first (q4+sort)": rule(any_of(edge, in_layers(ALL, ("text",), first)), "q4+sort"),
    "q8 edges+first (q4+sort)": rule(any_of(edge, in_layers(ALL, which=first)), "q4+sort"),
    "q8 edges+fc2": rule(any_of(edge, in_layers(("fc2",)))),
}

# --isolate: each group alone in q4, every other matrix f32
GROUPS = {
    "patch embedding": lambda n, L: n == "vision_model.embeddings.patch_embedding.weight",
    "token table": token,
    "projections": lambda n, L: n in ("visual_projection.weight", "text_projection.weight"),
    "vision head": lambda n, L: n.startswith("vision_model.head."),
    "text head": lambda n, L: n == "text_model.head.weight",
    **{f"{t} {k}": in_layers((k,), (t,)) for t in ("vision", "text") for k in ALL},
    **{f"{t} layer first": in_layers(ALL, (t,), first) for t in ("vision", "text")},
    **{f"{t} layer last": in_layers(ALL, (t,), last) for t in ("vision", "text")},
    **{f"{t} first {k}": in_layers((k,), (t,), first) for t in ("vision", "text") for k in ALL},
    **{f"{t} last {k}": in_layers((k,), (t,), last) for t in ("vision", "text") for k in ALL},
}


# ----------------------------------------------------------------------------- sizes


def matrix_shapes(config) -> dict[str, tuple[int, int]]:
    """name -> (n, k) of every matrix a model of this config has (built on the meta device)."""
    from transformers import CLIPModel, SiglipModel

    cls = SiglipModel if config.model_type == "siglip" else CLIPModel
    with torch.device("meta"):
        model = cls(config)
    return {n: (t.shape[0], int(np.prod(t.shape[1:]))) for n, t in model.state_dict().items() if is_matrix(n)}


def n_layers(config) -> dict[str, int]:
    return {"vision": config.vision_config.num_hidden_layers, "text": config.text_config.num_hidden_layers}


def extra_mb(policy, shapes, layers) -> float:
    """MB (10^6 bytes) a policy's file has beyond the all-q4 one (padded shapes, as written)."""
    extra = 0.0
    for name, (n, k) in shapes.items():
        np_, kp = -(-n // 4) * 4, -(-k // BLOCK) * BLOCK
        extra += np_ * kp * (bytes_per_weight(policy(name, layers)) - FORMATS["q4"][1])
    return extra / 1e6


def reference_costs():
    from transformers import CLIPConfig, SiglipConfig

    out = {}
    for label, cfg in (("B/32", CLIPConfig()), ("SigLIP B/16", SiglipConfig())):
        out[label] = (matrix_shapes(cfg), n_layers(cfg))
    return out


# ----------------------------------------------------------------------------- model


def load(model_dir: Path, sharpen: float = 1.0):
    from transformers import AutoConfig, CLIPModel, SiglipModel

    config = AutoConfig.from_pretrained(model_dir)
    cls = SiglipModel if config.model_type == "siglip" else CLIPModel
    model = cls.from_pretrained(model_dir, dtype=torch.float32).eval()
    if sharpen != 1.0:  # every encoder layer's q_proj and k_proj (weights and biases): sharper attention
        with torch.no_grad():
            for name, t in model.named_parameters():
                if ".self_attn.q_proj." in name or ".self_attn.k_proj." in name:
                    t.mul_(sharpen)
    cases = json.loads((model_dir / "expected/cases.json").read_text())
    pixels = torch.from_numpy(np.load(model_dir / "expected/pixel_values.npy")).float()
    ids = cases["input_ids"]
    if config.model_type == "siglip":
        text = dict(input_ids=torch.tensor(ids))
    else:  # unpadded: pad with each text's last (end) token, masked; the causal mask hides it anyway
        width = max(map(len, ids))
        text = dict(
            input_ids=torch.tensor([r + [r[-1]] * (width - len(r)) for r in ids]),
            attention_mask=torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids]),
        )
    return model, config, pixels, text


def features(model, pixels, text):
    pooled = lambda out: (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()  # noqa: E731 (transformers 4 and 5)
    with torch.no_grad():
        return pooled(model.get_image_features(pixel_values=pixels)), pooled(model.get_text_features(**text))


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


class Quantized:
    """Dequantized matrices, each computed once per format."""

    def __init__(self, original):
        self.original = original
        self.cache = {}

    def get(self, name, fmt):
        if fmt == "f32":
            return self.original[name]
        if (name, fmt) not in self.cache:
            w = self.original[name].numpy()
            base, _, sort = fmt.partition("+")
            if sort and name.endswith("mlp.fc2.weight"):
                # the converter would permute the MLP's hidden units (fc1 rows and bias, fc2
                # columns: the same function) so that fc2's columns of like size share blocks
                order = np.argsort(np.sqrt((w * w).mean(0)), kind="stable")
                r = np.empty_like(w)
                r[:, order] = self.quantize(w[:, order], base)
            else:
                r = self.quantize(w, base)
            self.cache[name, fmt] = torch.from_numpy(r.astype(np.float32))
        return self.cache[name, fmt]

    @staticmethod
    def quantize(w, fmt):
        b, k = blocks(w)
        return FORMATS[fmt][0](b).reshape(b.shape[0], -1)[:, :k].reshape(w.shape)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", nargs="?", default="/work/vitb32", type=Path)
    ap.add_argument("-p", "--policies", default="all", help="comma-separated labels or row numbers (see --list)")
    ap.add_argument("--isolate", action="store_true", help="each group of matrices alone in q4, the rest f32")
    ap.add_argument("--isolate-format", default="q4", help="the format --isolate gives each group (default q4)")
    ap.add_argument("--groups", default="", help="with --isolate: only groups whose name contains this")
    ap.add_argument("--sharpen", type=float, default=1.0, help="multiply every layer's q_proj and k_proj (weights, biases) by this first")
    ap.add_argument("--list", action="store_true", help="print the policies and their cost, quantize nothing")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)

    costs = reference_costs()
    labels = list(POLICIES)
    chosen = labels if args.policies == "all" else [labels[int(p)] if p.isdigit() else p for p in args.policies.split(",")]
    cost_cols = lambda pol: "  ".join(f"{k} {extra_mb(pol, *v):+6.2f} MB" for k, v in costs.items())  # noqa: E731
    if args.list:
        for i, label in enumerate(labels):
            print(f"{i:2d} {label:32s} {cost_cols(POLICIES[label])}  (B/32 file {B32_Q4_FILE_MB + extra_mb(POLICIES[label], *costs['B/32']):.1f} MB)")
        return

    model, config, pixels, text = load(args.model_dir, args.sharpen)
    layers = n_layers(config)
    ref_img, ref_txt = features(model, pixels, text)
    exp = args.model_dir / "expected"
    if (exp / "image_features.npy").exists() and args.sharpen == 1.0:
        ci, ct = cosines(ref_img, np.load(exp / "image_features.npy")), cosines(ref_txt, np.load(exp / "text_features.npy"))
        print(f"# {args.model_dir}: f32 features vs expected/: cosine >= {min(ci.min(), ct.min()):.7f}; {len(ref_img)} images, {len(ref_txt)} texts")
    original = {k: v.clone() for k, v in model.state_dict().items()}
    quant = Quantized(original)
    names = [n for n in original if is_matrix(n)]

    if args.isolate:
        fmt = args.isolate_format
        rows = [(g, lambda n, L, f=f: fmt if f(n, L) else "f32") for g, f in GROUPS.items() if args.groups in g]
        rows = [(g, p) for g, p in rows if any(p(n, layers) != "f32" for n in names)]
    else:
        rows = [(label, POLICIES[label]) for label in chosen]
    for label, policy in rows:
        t = time.time()
        model.load_state_dict({n: quant.get(n, policy(n, layers)) for n in names}, strict=False)
        img, txt = features(model, pixels, text)
        ci, ct = cosines(img, ref_img), cosines(txt, ref_txt)
        extra = "" if args.isolate else cost_cols(policy)
        print(f"{label:32s} images {ci.min():.6f}  texts {ct.min():.6f}  {extra}  ({time.time() - t:.0f} s)", flush=True)
        model.load_state_dict(original)


if __name__ == "__main__":
    main(sys.argv[1:])
