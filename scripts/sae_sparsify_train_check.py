#!/usr/bin/env python3
"""Checks scripts/sae_sparsify_train.py against an independent replay of sparsify's training
step: rebuilds the same run from sparsify's primitives (SparseCoder, SignSGD, ScheduleFreeWrapper)
following eai-sparsify 1.3.3's trainer.py line by line, and compares the saved weights bit for
bit.

  python scripts/sae_sparsify_train.py --activations DIR --output OUT --tokens T --batch B \\
      [--k K] [--expansion E] [--seed S] --threads 2
  python scripts/sae_sparsify_train_check.py --activations DIR --output OUT --batch B \\
      [--k K] [--expansion E] [--seed S] --threads 2

(same --threads on both: CPU reductions depend on the thread count). Exit status 1 on mismatch.
"""

import argparse
import json
import math
import os
import sys

os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file as load_np  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from schedulefree import ScheduleFreeWrapper  # noqa: E402
from sparsify import SparseCoder, SparseCoderConfig  # noqa: E402
from sparsify.sign_sgd import SignSGD  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--activations", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, default=None, help="default: from OUT's run (tokens/batch)")
    p.add_argument("--tokens", type=int, default=None)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--expansion", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    if a.steps is None and a.tokens is None:
        p.error("give --steps or --tokens")
    steps = a.steps if a.steps is not None else math.ceil(a.tokens / a.batch)
    torch.set_num_threads(a.threads)

    m = json.load(open(f"{a.activations}/manifest.json"))
    X = np.concatenate([load_np(f"{a.activations}/{s['file']}")["activations"] for s in m["shards"]])
    n = len(X)
    order = np.concatenate(
        [np.random.default_rng([a.seed, q]).permutation(n) for q in range(steps * a.batch // n + 1)]
    )

    torch.manual_seed(a.seed)  # trainer.py 95-101
    sae = SparseCoder(X.shape[1], SparseCoderConfig(k=a.k, expansion_factor=a.expansion), "cpu",
                      dtype=torch.float32)
    lr = 5e-3 / (sae.num_latents / 2**14) ** 0.5  # trainer.py 163-173
    opt = ScheduleFreeWrapper(SignSGD([dict(params=sae.parameters(), lr=lr)]), momentum=0.95)
    opt.train()
    for i in range(steps):
        x = torch.from_numpy(X[order[i * a.batch : (i + 1) * a.batch]])
        if i == 0:
            sae.b_dec.data = x.mean(0)  # trainer.py 411-419
        sae.set_decoder_norm_to_unit_norm()  # 421-423
        out = sae(x=x, y=x, dead_mask=None, total_variance=(x - x.mean(0)).pow(2).sum())  # 452-460
        (out.fvu + 0.0 * out.auxk_loss + out.multi_topk_fvu / 8).div(1).backward()  # 480-485
        sae.remove_gradient_parallel_to_decoder_directions()  # 551-553
        opt.step()  # 555-557
        opt.zero_grad()
        if (i + 2) % 1000 == 0:  # periodic checkpoint, step = i + 1 (549, 578-579, 690-715)
            opt.eval()
            opt.train()
    opt.eval()  # final save (630, 690-697)

    got = load_file(f"{a.output}/sae.safetensors")
    ok = True
    for k, v in sae.state_dict().items():
        same = torch.equal(got[k], v)
        ok &= same
        print(f"{k:16s} {str(tuple(v.shape)):14s} max|diff| {(got[k] - v).abs().max().item():.3g}"
              f"  {'bitwise equal' if same else 'DIFFERS'}")
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
