#!/usr/bin/env python3
"""Sentence embeddings of a text file by sentence-transformers (the reference of `sparsekit
embed`), and optionally its speed.

    python scripts/minilm_reference.py --model DIR --input TEXTS.txt --output REF.npy \
        [--batch 32] [--threads N] [--time REPEATS]

One text per line (UTF-8, the trailing newline dropped, as `sparsekit embed` reads it). The
output is a float32 `.npy` of shape [n, dim]. With --time, the encode is repeated and one JSON
line `{"sentences_per_s": …, "median_seconds": …, "min_seconds": …, "threads": …, …}` (over
the repeats, after one untimed warm-up encode) is printed to stdout. CPU only; HF_HUB_OFFLINE is set, nothing is downloaded.
"""
import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--time", type=int, default=0, help="repeat the encode this many times and print speed")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    with open(a.input, encoding="utf-8") as f:
        texts = f.read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    model = SentenceTransformer(a.model, device="cpu")
    emb = model.encode(texts, batch_size=a.batch, convert_to_numpy=True)
    if a.output:
        np.save(a.output, emb.astype(np.float32))
    if a.time > 0:
        times = []
        for _ in range(a.time):
            t = time.perf_counter()
            model.encode(texts, batch_size=a.batch, convert_to_numpy=True)
            times.append(time.perf_counter() - t)
        median = float(np.median(times))
        print(json.dumps({"sentences_per_s": len(texts) / median, "median_seconds": median,
                          "min_seconds": min(times), "threads": torch.get_num_threads(),
                          "batch": a.batch, "texts": len(texts)}))


if __name__ == "__main__":
    main()
