#!/usr/bin/env python3
"""Writes a small synthetic activation shard directory in sparsekit's format (the layout of
crates/sparsekit-data/src/shards.rs), for testing the SAE scripts without a model.

  python scripts/sae_make_synthetic_shards.py --output DIR [--d 64] [--tokens 20000]
      [--tokens-per-shard 8192] [--features 512] [--active 8] [--noise 0.05] [--seed 0]

Rows are sparse non-negative combinations of `--features` random unit directions (`--active`
of them per row, exponential magnitudes) plus a constant offset and Gaussian noise, so a TopK
SAE has structure to find. Texts are runs of 1..64 consecutive rows (text_index, position);
token_ids are random ids below 30522.

Written exactly as ShardWriter writes: `shard-00000.safetensors`, … with tensors `activations`
F32 [n, d], `token_ids` / `text_index` / `position` I64 [n], metadata {"format":
"sparsekit-activations", "d", "shard", "tokens"} (strings), and `manifest.json` last with
format, version 1, d, dtype "f32", tokens, texts, shards [{file, tokens}], meta.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

FORMAT = "sparsekit-activations"
VERSION = 1


def synthetic_rows(rng, n, d, features, active, noise):
    dirs = rng.standard_normal((features, d)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    offset = rng.standard_normal(d).astype(np.float32)
    idx = np.stack([rng.choice(features, active, replace=False) for _ in range(n)])
    mag = rng.exponential(1.0, (n, active)).astype(np.float32)
    x = np.einsum("na,nad->nd", mag, dirs[idx]) + offset
    x += noise * rng.standard_normal((n, d)).astype(np.float32)
    return x.astype(np.float32)


def texts_for(rng, n):
    """text_index and position of n rows split into texts of 1..64 rows."""
    text = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    i = t = 0
    while i < n:
        length = min(int(rng.integers(1, 65)), n - i)
        text[i : i + length] = t
        pos[i : i + length] = np.arange(length)
        i += length
        t += 1
    return text, pos, t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--tokens", type=int, default=20000)
    p.add_argument("--tokens-per-shard", type=int, default=8192)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--active", type=int, default=8)
    p.add_argument("--noise", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    out = a.output
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise SystemExit(f"{out} is not empty (shards are written into a new or empty directory)")

    rng = np.random.default_rng(a.seed)
    acts = synthetic_rows(rng, a.tokens, a.d, a.features, a.active, a.noise)
    text, pos, texts = texts_for(rng, a.tokens)
    tok = rng.integers(0, 30522, a.tokens, dtype=np.int64)

    shards = []
    for index, start in enumerate(range(0, a.tokens, a.tokens_per_shard)):
        end = min(start + a.tokens_per_shard, a.tokens)
        file = f"shard-{index:05}.safetensors"
        save_file(
            {
                "activations": np.ascontiguousarray(acts[start:end]),
                "token_ids": tok[start:end],
                "text_index": text[start:end],
                "position": pos[start:end],
            },
            str(out / file),
            metadata={
                "format": FORMAT,
                "d": str(a.d),
                "shard": str(index),
                "tokens": str(end - start),
            },
        )
        shards.append({"file": file, "tokens": end - start})

    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "d": a.d,
        "dtype": "f32",
        "tokens": a.tokens,
        "texts": texts,
        "shards": shards,
        "meta": {"model": "synthetic", "seed": str(a.seed)},
    }
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out / "manifest.json")
    print(json.dumps({"output": str(out), "d": a.d, "tokens": a.tokens, "shards": len(shards)}))


if __name__ == "__main__":
    main()
