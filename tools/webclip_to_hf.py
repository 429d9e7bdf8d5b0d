#!/usr/bin/env python3
"""A webclip model file back to a Hugging Face CLIP directory, its matrices dequantized
(docs/model-file.md), so that transformers runs exactly the weights a file ships
(e.g. the demo model, committed only as q4). Run by hand (numpy, safetensors):

    tools/.venv/bin/python tools/webclip_to_hf.py www/models/demo/model-q4.webclip /tmp/demo-hf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The Hugging Face shape of every matrix, from config.json (as src/model/model_file.rs)."""
    out = {}
    for tower in ("vision", "text"):
        c = config[f"{tower}_config"]
        w, f = c["hidden_size"], c["intermediate_size"]
        for i in range(c["num_hidden_layers"]):
            p = f"{tower}_model.encoder.layers.{i}."
            for name in ("q", "k", "v", "out"):
                out[f"{p}self_attn.{name}_proj.weight"] = (w, w)
            out[p + "mlp.fc1.weight"] = (f, w)
            out[p + "mlp.fc2.weight"] = (w, f)
        out[f"{tower}_projection.weight" if tower == "text" else "visual_projection.weight"] = (config["projection_dim"], w)
    v, t = config["vision_config"], config["text_config"]
    out["vision_model.embeddings.patch_embedding.weight"] = (v["hidden_size"], v.get("num_channels", 3), v["patch_size"], v["patch_size"])
    out["text_model.embeddings.token_embedding.weight"] = (t["vocab_size"], t["hidden_size"])
    return out


def unpack(values: np.ndarray, scales: np.ndarray | None, weights: str, n: int, k: int) -> np.ndarray:
    """[n, k] from a K-major packed matrix (units of 4 k; q4 bytes hold 2 k each)."""
    if weights == "q4":
        lo, hi = (values & 0x0F).astype(np.int8) - 8, (values >> 4).astype(np.int8) - 8
        q = np.stack([lo, hi], axis=-1).reshape(values.shape[0], values.shape[1], 8)  # [kp/8, np, 8]
        kmajor = q.transpose(0, 2, 1).reshape(-1, q.shape[1])  # [kp, np]
    else:
        kmajor = values.transpose(0, 2, 1).reshape(-1, values.shape[1])  # [kp, np]
    w = kmajor.astype(np.float64)
    if scales is not None:
        w = w * np.repeat(scales.astype(np.float64), 32, axis=0)[: w.shape[0]]
    return np.ascontiguousarray(w[:k, :n].T, dtype=np.float32)


def main(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tensors = {}
    with safe_open(str(src), "numpy") as f:
        meta = f.metadata()
        assert meta.get("format") == "webclip" and meta.get("webclip.version") == "1", f"{src}: not a webclip model file of version 1"
        weights = meta["webclip.weights"]
        config = json.loads(meta["config.json"])
        matrices = shapes(config)
        for name in f.keys():
            if name.endswith(".scales"):
                continue
            if name in matrices:
                shape = matrices[name]
                n, k = shape[0], int(np.prod(shape[1:]))
                scales = f.get_tensor(name + ".scales") if weights in ("q8", "q4") else None
                # Contiguous: save_file writes an array's buffer as it lies in memory.
                tensors[name] = unpack(f.get_tensor(name), scales, weights, n, k).reshape(shape)
            else:
                tensors[name] = f.get_tensor(name).astype(np.float32)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    for key in ("config.json", "tokenizer.json", "preprocessor_config.json"):
        (out / key).write_text(meta[key])
    print(f"{out}: {len(tensors)} tensors from {src} ({weights} dequantized to f32)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
