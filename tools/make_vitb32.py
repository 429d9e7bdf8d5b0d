#!/usr/bin/env python3
"""A full-size random-weight ViT-B/32 CLIP with reference outputs (not committed).

Same layout and reference procedure as tools/make_fixtures.py (whose code this
reuses): config.json, model.safetensors (fp32), preprocessor_config.json (old Hub
style, like openai/clip-vit-base-patch32), tokenizer.json (a copy), expected/.
The images named in expected/cases.json are those of tests/fixtures/images/; a
copy is also put in <out>/images/.

    python3 tools/make_vitb32.py [OUT_DIR]            # default /work/vitb32
    python3 tools/make_vitb32.py [OUT_DIR] --verify   # recompute and compare only
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_fixtures as mf  # noqa: E402

IMAGES = ["chelsea.png", "rocket.jpg"]
TEXTS = [
    "a photo of a cat",
    "a photo of a rocket",
    "a robot",
    "wall-e",
    mf.long_text(300),
    "🤖 ロボット 机器人",
]


def spec(out_dir: Path) -> mf.Spec:
    return mf.Spec(
        name="vitb32",
        out_dir=out_dir,
        seed=32,
        dtype=mf.torch.float32,
        config=dict(
            # CLIPConfig() defaults are ViT-B/32; token ids as in the openai/* Hub config
            text_config=dict(bos_token_id=0, eos_token_id=2, pad_token_id=1),
            logit_scale_init_value=mf.LN_100,
        ),
        images=IMAGES,
        texts=TEXTS,
        preprocessor_style="old",
        # same perturbation as the tiny models, smaller shared direction: in 512
        # dimensions a bias of 4 flattens the probabilities to ~uniform
        perturb=dict(mf.PERTURB, common_bias=1.0),
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default="/work/vitb32")
    ap.add_argument("--verify", action="store_true", help="recompute from the files on disk and compare; write nothing")
    args = ap.parse_args(argv)
    sp = spec(Path(args.out_dir).resolve())
    if args.verify:
        mf.verify_expected(sp.out_dir)
        return 0
    mf.require_tokenizer()
    mf.ensure_images(IMAGES)
    mf.generate(sp, "copy")
    (sp.out_dir / "images").mkdir(exist_ok=True)
    for name in IMAGES:
        shutil.copyfile(mf.IMAGES_DIR / name, sp.out_dir / "images" / name)
    mf.verify_expected(sp.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
