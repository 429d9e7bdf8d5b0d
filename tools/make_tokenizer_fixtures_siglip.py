#!/usr/bin/env python3
"""Tiny SigLIP and SigLIP 2 tokenizers, with the ids transformers gives them.

Writes two fixture folders for `tests/tokenizer.rs` (webclip's
`SentencePieceTokenizer`):

tests/fixtures/tokenizer-siglip/    SigLIP: a SentencePiece Unigram model
    spiece.model      a tiny T5-style SentencePiece model (pad 0, </s> 1, <unk> 2,
                      nmt_nfkc, dummy prefix), trained here on a made-up corpus;
    tokenizer.json    the same model as a `tokenizers` file, in the layout of
                      transformers' SentencePiece converters (Precompiled + " {2,}"
                      normalizer, Metaspace, "$A </s>" post-processor);
    cases.json        {"texts": [...], "input_ids": [[64 ids], ...]}.
tests/fixtures/tokenizer-siglip2/   SigLIP 2: Gemma's tokenizer (BPE, byte fallback)
    tokenizer.json    a tiny Gemma-layout file: Replace(" " -> "▁") normalizer,
                      BPE with byte_fallback over <0x00>..<0xFF>, "$A <eos>"
                      post-processor (as google/siglip2-* were saved: no <bos>,
                      <eos> added), Gemma's decoder;
    cases.json        as above.

The expectations are transformers' own, through the classes transformers 5.24 picks
for a checkpoint whose config.json says `"model_type": "siglip"`:
- SigLIP: `SiglipTokenizer`, the *slow* SentencePiece tokenizer (transformers has no
  fast SigLIP tokenizer; AutoTokenizer refuses to load one without `sentencepiece`).
  It lowercases, deletes ASCII punctuation, collapses whitespace and strips
  (`canonicalize_text`) before SentencePiece: none of that is in a tokenizer.json.
- SigLIP 2: `GemmaTokenizer` (the Hub's `tokenizer_class`), which rebuilds its
  normalizer as Replace(" " -> "▁"): no lowercasing (only model_type "siglip2",
  the NaFlex checkpoints, gets `Siglip2Tokenizer`, which lowercases).
Both called as the zero-shot pipeline calls them for SigLIP:
`padding="max_length", max_length=64, truncation=True`.

Needs, beyond tools/requirements.txt: sentencepiece==0.2.3 (the slow tokenizer
and the trainer). Usage:

    python tools/make_tokenizer_fixtures_siglip.py [--retrain]

Both tokenizers are trained only when missing (or with --retrain: neither trainer
gives the same pieces from run to run), so the committed spiece.model and
tokenizer-siglip2/tokenizer.json, and with them every id, stay put across runs.
"""

import argparse
import json
import os
import random
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGLIP_DIR = os.path.join(ROOT, "tests", "fixtures", "tokenizer-siglip")
SIGLIP2_DIR = os.path.join(ROOT, "tests", "fixtures", "tokenizer-siglip2")
MAX_LENGTH = 64

try:
    import sentencepiece as spm
except ImportError:
    sys.exit("needs sentencepiece: pip install sentencepiece==0.2.3")

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, SiglipTokenizer

from siglip_tokenizer_json import siglip_tokenizer_json

WORDS = (
    "a an the photo picture image drawing painting sketch render of with and on in at "
    "cat cats dog dogs bird car truck tree trees house red green blue yellow black white "
    "small big large old young running sitting sleeping flying man woman child people "
    "street city beach mountain river water sky night day sun snow rain forest field "
    "golden retriever tabby kitten puppy apple banana pizza coffee cup table chair "
    "naïve café über straße crème brûlée jalapeño 東京 タワー 猫 犬 写真 "
    "one two three 2024 1999 42 7"
).split()
PUNCT_LINES = [
    "hello, world! it's (fine).",
    "a photo of a \"cat\"; really?",
    "e-mail: me@example.com #tag $5 100% a&b [x] {y} <z> ~ ^ _ ` | \\ /",
]


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def corpus_lines():
    rng = random.Random(0)
    lines = []
    for _ in range(4000):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))))
    return lines + PUNCT_LINES * 30


def cases():
    """Texts every fixture is checked on: ordinary labels and the hard ones."""
    long_text = " ".join(["a photo of a golden retriever on the beach"] * 20)
    return [
        "a photo of a cat",
        "A Photo Of A CAT",
        "a photo of a cat.",
        "Hello, World! It's (fine).",
        "e-mail: me@example.com #tag $5 100% a&b [x] {y} <z> ~ ^ _ ` | \\ /",
        "!!!",
        "...,;:",
        "",
        " ",
        "   a   photo   ",
        "\ta\tphoto\nof\r\na cat\n",
        "a\u00a0photo\u3000of\u2003a\u2028cat",
        "a\x1cphoto\x1fof a cat",
        "a\u200bphoto",
        "▁a ▁photo",
        "東京タワー の 写真",
        "猫と犬",
        "😀 a cat 🐈‍⬛ 👍🏽",
        "naïve café crème brûlée",
        "nai\u0308ve cafe\u0301",
        "ＡＢＣ　ｆｕｌｌｗｉｄｔｈ！",
        "ΟΔΟΣ σοφίας",
        "İstanbul STRASSE Straße",
        "ﬁne ligature ½ ²",
        "“smart quotes” — dash … ellipsis",
        "&amp; &lt;tag&gt;",
        "0123456789 3.14 1,000,000",
        "jalapeño pizza 🍕",
        long_text,
        " ".join(["cat"] * 63),
        " ".join(["cat"] * 64),
        "x" * 500,
        # Special tokens typed in a label: </s> and <unk> are SigLIP's (the text after
        # them gets no "▁"), <pad> is text for SiglipTokenizer.
        "a </s> b",
        "</s> a cat",
        "a photo of a cat</s>",
        "a <unk> cat",
        "<pad> cat <eos>",
    ]


# --- SigLIP: SentencePiece Unigram --------------------------------------------------


def train_spiece(path):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(corpus_lines()))
        corpus = f.name
    prefix = path[: -len(".model")]
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=prefix,
        model_type="unigram",
        vocab_size=300,
        hard_vocab_limit=False,
        # T5's (and so SigLIP's) special pieces.
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        normalization_rule_name="nmt_nfkc",
        add_dummy_prefix=True,
        remove_extra_whitespaces=True,
        byte_fallback=False,
        character_coverage=0.9995,
        num_threads=1,
        minloglevel=2,
    )
    os.remove(corpus)
    os.remove(prefix + ".vocab")


def make_siglip(retrain):
    os.makedirs(SIGLIP_DIR, exist_ok=True)
    spiece = os.path.join(SIGLIP_DIR, "spiece.model")
    if retrain or not os.path.exists(spiece):
        train_spiece(spiece)
    siglip_tokenizer_json(spiece).save(os.path.join(SIGLIP_DIR, "tokenizer.json"))
    # The Hub's SigLIP tokenizer_config.json: these defaults (pad = </s>, lowercase).
    slow = SiglipTokenizer(vocab_file=spiece, model_max_length=MAX_LENGTH)
    assert slow.pad_token_id == 1 and slow.eos_token_id == 1, (slow.pad_token_id, slow.eos_token_id)
    texts = cases()
    ids = [
        slow(t, padding="max_length", max_length=MAX_LENGTH, truncation=True)["input_ids"]
        for t in texts
    ]
    write_json(
        os.path.join(SIGLIP_DIR, "cases.json"),
        {
            "made_by": "tools/make_tokenizer_fixtures_siglip.py: transformers SiglipTokenizer "
            "(slow, sentencepiece) on spiece.model, padding=max_length, max_length=64, truncation",
            "pad_id": slow.pad_token_id,
            "eos_id": slow.eos_token_id,
            "texts": texts,
            "input_ids": ids,
        },
    )


# --- SigLIP 2: Gemma BPE with byte fallback --------------------------------------------

GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]


def siglip2_tokenizer_json():
    """A tiny tokenizer in Gemma's layout, as google/siglip2-* were saved."""
    specials = GEMMA_SPECIALS + [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    trainer = trainers.BpeTrainer(
        vocab_size=900, special_tokens=specials, limit_alphabet=60, show_progress=False
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <eos>:0", pair="$A:0 <eos>:0 $B:1 <eos>:1", special_tokens=[("<eos>", 1)]
    )
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in GEMMA_SPECIALS])
    data = json.loads(tok.to_str())
    # BpeTrainer marks the byte pieces as added tokens: in Gemma they are plain vocab.
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] in GEMMA_SPECIALS]
    assert [data["model"]["vocab"][t] for t in GEMMA_SPECIALS] == [0, 1, 2, 3, 4]
    return data


def make_siglip2(retrain):
    os.makedirs(SIGLIP2_DIR, exist_ok=True)
    path = os.path.join(SIGLIP2_DIR, "tokenizer.json")
    if retrain or not os.path.exists(path):
        write_json(path, siglip2_tokenizer_json())
    with tempfile.TemporaryDirectory() as repo:
        # What AutoTokenizer reads in a google/siglip2-* checkpoint.
        with open(os.path.join(SIGLIP2_DIR, "tokenizer.json"), encoding="utf-8") as f:
            data = f.read()
        with open(os.path.join(repo, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(data)
        write_json(
            os.path.join(repo, "tokenizer_config.json"),
            {
                "tokenizer_class": "GemmaTokenizer",
                "add_bos_token": False,
                "add_eos_token": True,
                "padding_side": "right",
                "model_max_length": MAX_LENGTH,
                "pad_token": "<pad>",
                "eos_token": "<eos>",
                "bos_token": "<bos>",
                "unk_token": "<unk>",
                "mask_token": "<mask>",
            },
        )
        write_json(
            os.path.join(repo, "config.json"),
            {"model_type": "siglip", "text_config": {"max_position_embeddings": MAX_LENGTH}},
        )
        tok = AutoTokenizer.from_pretrained(repo)
        assert type(tok).__name__ == "GemmaTokenizer", type(tok).__name__
        texts = cases()
        ids = [
            tok(t, padding="max_length", max_length=MAX_LENGTH, truncation=True)["input_ids"]
            for t in texts
        ]
    write_json(
        os.path.join(SIGLIP2_DIR, "cases.json"),
        {
            "made_by": "tools/make_tokenizer_fixtures_siglip.py: transformers AutoTokenizer "
            "(GemmaTokenizer, model_type siglip), padding=max_length, max_length=64, truncation",
            "pad_id": tok.pad_token_id,
            "eos_id": tok.eos_token_id,
            "texts": texts,
            "input_ids": ids,
        },
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--retrain", action="store_true", help="train spiece.model and the Gemma-style BPE anew"
    )
    args = parser.parse_args()
    make_siglip(args.retrain)
    make_siglip2(args.retrain)
    print(f"wrote {SIGLIP_DIR} and {SIGLIP2_DIR}")


if __name__ == "__main__":
    main()
