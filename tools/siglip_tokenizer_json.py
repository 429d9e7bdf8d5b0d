#!/usr/bin/env python3
"""A SigLIP (1) tokenizer.json from its spiece.model, laid out as transformers'
SentencePiece converters lay out T5-style models (Precompiled NFKC, Metaspace,
Unigram, `$A </s>`). google/siglip-* repos ship only spiece.model; webclip reads
tokenizer.json and does SiglipTokenizer's Python-side canonicalize_text itself
(src/tokenizer/canonicalize.rs), so this file plus that gives the slow
tokenizer's ids (tests/tokenizer.rs checks it on tests/fixtures/tokenizer-siglip).

    tools/.venv/bin/python tools/siglip_tokenizer_json.py spiece.model tokenizer.json

Used by tools/publish-models.sh and tools/make_tokenizer_fixtures_siglip.py.
Needs transformers (its vendored sentencepiece protobuf), not sentencepiece.
"""

import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors


def siglip_tokenizer_json(spiece_path):
    """The model as transformers' SentencePiece converters lay it out (T5-style)."""
    from transformers.convert_slow_tokenizer import import_protobuf

    proto = import_protobuf().ModelProto()
    with open(spiece_path, "rb") as f:
        proto.ParseFromString(f.read())
    vocab = [(p.piece, p.score) for p in proto.pieces]
    tok = Tokenizer(models.Unigram(vocab, unk_id=proto.trainer_spec.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=["$A", "</s>"], pair=["$A", "</s>", "$B", "</s>"], special_tokens=[("</s>", 1)]
    )
    tok.add_special_tokens(
        [AddedToken(t, normalized=False, special=True) for t in ("<pad>", "</s>", "<unk>")]
    )
    return tok


if __name__ == "__main__":
    siglip_tokenizer_json(sys.argv[1]).save(sys.argv[2])
