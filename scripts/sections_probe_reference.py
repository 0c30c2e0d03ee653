#!/usr/bin/env python3
"""The reference of `sparsekit eval --task debian-sections`: the same texts, embedded by
sentence-transformers, and scikit-learn's LogisticRegression (lbfgs, multinomial) as the probe.

    python scripts/sections_probe_reference.py --model DIR --corpus descriptions.jsonl [--limit N]

Records and text exactly as sparsekit-models' `eval` module: the first N records of the train
and test splits in file order (sorted by package), text = synopsis + "\\n" + description,
features standardised on the train split. Prints one JSON object.
"""
import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--C", type=float, default=1.0)
    a = ap.parse_args()
    split = {"train": [], "test": []}
    with open(a.corpus, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            s = split.get(r["split"])
            if s is not None and (a.limit is None or len(s) < a.limit):
                s.append((r["synopsis"] + "\n" + r["description"], r["section"]))
    model = SentenceTransformer(a.model, device="cpu")
    t = time.perf_counter()
    x = {k: model.encode([t for t, _ in v], batch_size=a.batch, convert_to_numpy=True) for k, v in split.items()}
    embed_s = time.perf_counter() - t
    y = {k: [s for _, s in v] for k, v in split.items()}
    scaler = StandardScaler().fit(x["train"])
    t = time.perf_counter()
    clf = LogisticRegression(C=a.C, max_iter=2000).fit(scaler.transform(x["train"]), y["train"])
    probe_s = time.perf_counter() - t
    acc = float(np.mean(clf.predict(scaler.transform(x["test"])) == np.array(y["test"])))
    print(json.dumps({"task": "debian-sections", "probe": "sklearn LogisticRegression (lbfgs)",
                      "C": a.C, "train": len(y["train"]), "test": len(y["test"]),
                      "classes": len(set(y["train"])), "accuracy": acc,
                      "embed_seconds": embed_s, "probe_seconds": probe_s}))


if __name__ == "__main__":
    main()
