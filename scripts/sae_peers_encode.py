#!/usr/bin/env python3
"""Encode-only peers of the bench runner's `sae` suite (the shared `peers/sae_attn_peers.py`
times training steps only): the top-k code of one batch of activations, inference mode.

- torch: `pre = (x - b_dec) @ W_enc + b_enc; vals, idx = pre.topk(k); vals.relu()`, as the
  shared script's training step encodes;
- sparsify: `SparseCoder.encode(x)` (EleutherAI sparsify's fused encoder), when the
  `eai-sparsify` package imports.

Runs with the peers Python (`PEERS_PY`, else ~/.cache/sparsekit-peers/bin/python):

    python scripts/sae_peers_encode.py --shape 768,24576,32,4096 [--shape …] \
        [--threads N] [--samples N]

Prints one JSON line per shape: {"bench": "sae_topk_encode", "d_in", "d_sae", "k", "batch",
"threads", "samples", "torch_encode_s", "torch_tokens_per_s", "sparsify_encode_s",
"sparsify_tokens_per_s"} (medians over the samples after one untimed call; the sparsify keys
are absent when sparsify does not import). Inputs are random normal, as the bench's.
"""
import argparse
import json
import os
import time

os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")

import torch  # noqa: E402


def median_seconds(f, samples):
    f()
    ts = []
    for _ in range(samples):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    ts.sort()
    n = len(ts)
    return ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])


def torch_encode(d_in, d_sae, k, batch, samples):
    torch.manual_seed(0)
    w_enc = torch.randn(d_in, d_sae) / d_in**0.5
    b_enc = torch.zeros(d_sae)
    b_dec = torch.zeros(d_in)
    x = torch.randn(batch, d_in)

    @torch.inference_mode()
    def encode():
        pre = (x - b_dec) @ w_enc + b_enc
        vals, idx = pre.topk(k, dim=-1, sorted=False)
        return vals.relu(), idx

    return median_seconds(encode, samples)


def sparsify_encode(d_in, d_sae, k, batch, samples):
    try:
        from sparsify import SparseCoder, SparseCoderConfig
    except Exception:
        return None
    torch.manual_seed(0)
    sae = SparseCoder(d_in, SparseCoderConfig(num_latents=d_sae, k=k), device="cpu")
    x = torch.randn(batch, d_in)

    @torch.inference_mode()
    def encode():
        return sae.encode(x)

    return median_seconds(encode, samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", action="append", required=True,
                    help="d_in,d_sae,k,batch (repeatable)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--samples", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for s in a.shape:
        d_in, d_sae, k, batch = (int(v) for v in s.split(","))
        r = {"bench": "sae_topk_encode", "d_in": d_in, "d_sae": d_sae, "k": k, "batch": batch,
             "threads": a.threads, "samples": a.samples}
        t = torch_encode(d_in, d_sae, k, batch, a.samples)
        r["torch_encode_s"] = t
        r["torch_tokens_per_s"] = batch / t
        t = sparsify_encode(d_in, d_sae, k, batch, a.samples)
        if t is not None:
            r["sparsify_encode_s"] = t
            r["sparsify_tokens_per_s"] = batch / t
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
