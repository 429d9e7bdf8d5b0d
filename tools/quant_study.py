#!/usr/bin/env python3
"""Which 4-bit scheme keeps a CLIP's embeddings closest to f32? (run by hand)

Quantizes every matrix webclip packs (linear layers, patch embedding, token
table, projections) of a Hub-layout CLIP with several schemes, dequantizes, and
prints the smallest cosine of image and text features against the f32 model on
the model's own expected/ inputs (tools/make_vitb32.py writes them):

    tools/.venv/bin/python tools/quant_study.py /work/vitb32

Schemes: webclip's q8 and q4 (src/ops/format.rs: blocks of 32 along k, f16
scales; q4 as ggml's q4_0), q4 with a per-block scale search minimising the
squared error, q4 with a minimum (ggml's q4_1), and q4 keeping some tensors in q8.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPModel, CLIPTokenizer

BLOCK = 32


def is_matrix(name: str) -> bool:
    """As model_file::is_matrix."""
    in_layer = ".encoder.layers." in name
    return (in_layer and (name.endswith("_proj.weight") or name.endswith(".mlp.fc1.weight") or name.endswith(".mlp.fc2.weight"))) or name in (
        "vision_model.embeddings.patch_embedding.weight",
        "visual_projection.weight",
        "text_projection.weight",
        "text_model.embeddings.token_embedding.weight",
    )


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


SCHEMES = {
    "q8": lambda name, b: q8(b),
    "q4 (q4_0)": lambda name, b: q4_0(b),
    "q4, scale search": lambda name, b: q4_0(b, np.linspace(0.8, 1.1, 31)),
    "q4_1 (with minimum)": lambda name, b: q4_1(b),
    "q4_1, scale search": lambda name, b: q4_1_search(b),
    "q4, least-squares scale": lambda name, b: q4_0_fit(b),
    "q4, fc2 and out_proj in q8": lambda name, b: q8(b) if ("fc2" in name or "out_proj" in name) else q4_0(b),
    "q4, embeddings and projections in q8": lambda name, b: q8(b) if "embedding" in name or "projection" in name else q4_0(b),
}


def features(model, tok, pixels, texts):
    with torch.no_grad():
        ids = tok(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
        pooled = lambda out: (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()  # noqa: E731 (transformers 4 and 5)
        return pooled(model.get_image_features(pixel_values=pixels)), pooled(model.get_text_features(**ids))


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def main(model_dir: Path) -> None:
    torch.set_num_threads(2)
    model = CLIPModel.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    tok = CLIPTokenizer.from_pretrained(model_dir)
    cases = json.loads((model_dir / "expected/cases.json").read_text())
    pixels = torch.from_numpy(np.load(model_dir / "expected/pixel_values.npy"))
    ref_img, ref_txt = features(model, tok, pixels, cases["texts"])
    original = {k: v.clone() for k, v in model.state_dict().items()}
    for scheme, fn in SCHEMES.items():
        state = {}
        for name, w in original.items():
            if not is_matrix(name):
                continue
            b, k = blocks(w.numpy())
            r = fn(name, b).reshape(b.shape[0], -1)[:, :k].reshape(w.shape)
            state[name] = torch.from_numpy(r.astype(np.float32))
        model.load_state_dict(state, strict=False)
        img, txt = features(model, tok, pixels, cases["texts"])
        ci, ct = cosines(img, ref_img), cosines(txt, ref_txt)
        print(f"{scheme:40s} images {ci.min():.6f}  texts {ct.min():.6f}  (each text: {' '.join(f'{c:.4f}' for c in ct)})")
        model.load_state_dict(original)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/vitb32"))
