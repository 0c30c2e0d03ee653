#!/usr/bin/env python3
"""Writes the tiny random BERT fixture of crates/sparsekit-models' fast tests.

A 2-layer BERT (d = 32, 4 heads, FFN 64, 32 positions) with random weights (seeded), a small
WordPiece vocabulary, and a sentence-transformers layout (mean pooling, Normalize,
max_seq_length 16), saved as a model directory, plus `reference.safetensors` holding what
PyTorch computes on `TEXTS` (batched, padded to the longest): token ids, lengths, every layer's
six activation sites (forward hooks on Hugging Face's BertModel) and sentence-transformers'
embeddings. The Rust tests compare against these.

Run from the repository root with the project's Python environment:

    $(scripts/python-env.sh) scripts/make_tiny_bert.py crates/sparsekit-models/tests/fixtures/tiny-bert
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import BertConfig, BertModel, BertTokenizerFast

TEXTS = [
    "the cat sat on the mat",
    "a dog",
    "sparse networks keep only the weights that matter , and drop the rest of them quietly",
    "hello world",
    "data 42 is small",
]
WORDS = (
    "the cat sat on mat a dog sparse network networks keep only weights that matter and drop "
    "rest of them hello world data is small quiet ##ly ##s"
).split()


def main(out: str) -> None:
    torch.manual_seed(0)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "4", "2"]
    vocab += [w for w in WORDS if w not in vocab]
    vocab += [c for c in "abcdefghijklmnopqrstuvwxyz"] + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=os.path.join(out, "vocab.txt"), do_lower_case=True)
    tok.save_pretrained(out)

    config = BertConfig(
        vocab_size=len(vocab) + 3,  # a few rows the tokenizer never uses
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
    )
    model = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias values
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)

    with open(os.path.join(out, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 16, "do_lower_case": False}, f)
    with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
                   "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False}, f)
    with open(os.path.join(out, "modules.json"), "w") as f:
        json.dump([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ], f)

    # Token-level reference: one padded batch, truncated at 16 tokens.
    enc = tok(TEXTS, padding=True, truncation=True, max_length=16, return_tensors="pt")
    sites = {}
    hooks = []
    for i, layer in enumerate(model.encoder.layer):
        def grab(name):
            def f(_m, inp, out):
                sites[name] = (out[0] if isinstance(out, tuple) else out).detach().numpy().copy()
            return f

        def pre(_m, args, kwargs, i=i):
            x = args[0] if args else kwargs["hidden_states"]
            sites[f"layer{i}.resid_pre"] = x.detach().numpy().copy()

        hooks.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
        hooks.append(layer.attention.output.dense.register_forward_hook(grab(f"layer{i}.attn_out")))
        hooks.append(layer.attention.output.LayerNorm.register_forward_hook(grab(f"layer{i}.resid_mid")))
        hooks.append(layer.intermediate.register_forward_hook(grab(f"layer{i}.mlp_hidden")))
        hooks.append(layer.output.dense.register_forward_hook(grab(f"layer{i}.mlp_out")))
        hooks.append(layer.register_forward_hook(grab(f"layer{i}.resid_post")))
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state.numpy()
    for h in hooks:
        h.remove()

    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(out, device="cpu")
    emb = st.encode(TEXTS, batch_size=2, convert_to_numpy=True)

    ref = {
        "ids": enc["input_ids"].numpy().astype(np.int64),
        "lengths": enc["attention_mask"].numpy().sum(1).astype(np.int64),
        "last_hidden_state": hidden.astype(np.float32),
        "embeddings": emb.astype(np.float32),
    }
    ref.update({k: v.astype(np.float32) for k, v in sites.items()})
    save_file(ref, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "texts.txt"), "w") as f:
        f.write("\n".join(TEXTS) + "\n")
    print(f"wrote {out}: vocab {len(vocab)}, seq {enc['input_ids'].shape[1]}, embeddings {emb.shape}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/sparsekit-models/tests/fixtures/tiny-bert")
