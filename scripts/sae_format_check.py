#!/usr/bin/env python3
"""The Python side of crates/sparsekit-sae/tests/format_python.rs: SAE directories through the
real packages (sae-lens 6.54.12, eai-sparsify 1.3.3; pinned in scripts/python-requirements.txt).

  run    --format saelens|sparsify --dir D --input X.npy --out O [--dtype float32|float64]
         Loads D with sae_lens.SAE.load_from_disk / sparsify.SparseCoder.load_from_disk, encodes
         X (n x d_in) and decodes the code right away (SAELens keeps per-input normalisation state
         between the two), and writes O/code.npy (n x d_sae, dense), O/recon.npy (n x d_in), both
         float64, and O/info.json (class, config).

  create --format saelens|sparsify --arch standard|topk|jumprelu|gated|batchtopk --dir D
         --d-in N --d-sae M [--k K] [--seed S] [--normalize NAME] [--no-apply-b-dec]
         [--training-dir T] [--save-dtype float32|float16|bfloat16]
         Creates a random SAE with the package itself and saves it as the package does: SAELens
         through its *training* classes and save_inference_model (so BatchTopK becomes JumpReLU and
         TopK's rescale_acts_by_decoder_norm is folded, exactly as after training), plus a random
         sparsity.safetensors; with --training-dir also the training checkpoint (save_model).
         sparsify through SparseCoder.save_to_disk.

  many   SPEC.json
         Runs each argument list of the JSON list SPEC.json (e.g. [["run", "--format", ...], ...])
         in this one process (importing torch and sae_lens once).
"""

import argparse
import json
import os
import sys
from pathlib import Path

# sparsify picks a Triton decoder when Triton is importable; it only runs on CUDA tensors.
os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def run(a):
    dtype = DTYPES[a.dtype]
    x = torch.from_numpy(np.load(a.input).astype(np.float64)).to(dtype)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        if a.format == "saelens":
            from sae_lens import SAE

            sae = SAE.load_from_disk(a.dir, device="cpu", dtype=a.dtype)
            code = sae.encode(x)
            recon = sae.decode(code)
            info = {"class": type(sae).__name__, "cfg": sae.cfg.to_dict()}
            sp = Path(a.dir) / "sparsity.safetensors"
            if sp.exists():
                from safetensors.torch import load_file

                info["sparsity"] = load_file(str(sp))["sparsity"].tolist()
        else:
            from sparsify import SparseCoder

            sae = SparseCoder.load_from_disk(a.dir, device="cpu").to(dtype)
            enc = sae.encode(x)
            code = torch.zeros(x.shape[0], sae.num_latents, dtype=dtype)
            code.scatter_(-1, enc.top_indices, enc.top_acts.to(dtype))
            recon = sae.decode(enc.top_acts, enc.top_indices)
            info = {"class": type(sae).__name__, "cfg": {**sae.cfg.to_dict(), "d_in": sae.d_in}}
    np.save(out / "code.npy", code.to(torch.float64).numpy())
    np.save(out / "recon.npy", recon.to(torch.float64).numpy())
    (out / "info.json").write_text(json.dumps(info, default=str))


def randomize(module, gen, skip=()):
    """Every float parameter/buffer to N(0, 0.3²), except those named in skip."""
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if name in skip or not p.is_floating_point() or p.dim() == 0:
            continue
        p.data.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * 0.3)


def create(a):
    gen = torch.Generator().manual_seed(a.seed)
    d_in, d_sae = a.d_in, a.d_sae
    if a.format == "sparsify":
        from sparsify import SparseCoder, SparseCoderConfig

        sae = SparseCoder(d_in, SparseCoderConfig(num_latents=d_sae, k=a.k))
        randomize(sae, gen)
        with torch.no_grad():
            sae.encoder.weight.mul_(3.0 / d_in**0.5)
        sae.save_to_disk(a.dir)
        return

    import sae_lens.saes as S
    from safetensors.torch import save_file

    common = dict(
        d_in=d_in,
        d_sae=d_sae,
        apply_b_dec_to_input=not a.no_apply_b_dec,
        normalize_activations=a.normalize,
        metadata=S.sae.SAEMetadata(hook_name="blocks.0.hook_resid_post", model_name="sparsekit-test"),
    )
    if a.arch == "standard":
        sae = S.StandardTrainingSAE(S.StandardTrainingSAEConfig(**common))
    elif a.arch == "topk":
        # rescale_acts_by_decoder_norm is True by default in training: saved folded.
        sae = S.TopKTrainingSAE(S.TopKTrainingSAEConfig(k=a.k, **common))
    elif a.arch == "batchtopk":
        sae = S.BatchTopKTrainingSAE(S.BatchTopKTrainingSAEConfig(k=float(a.k), **common))
    elif a.arch == "jumprelu":
        sae = S.JumpReLUTrainingSAE(S.JumpReLUTrainingSAEConfig(**common))
    elif a.arch == "gated":
        sae = S.GatedTrainingSAE(S.GatedTrainingSAEConfig(**common))
    else:
        raise SystemExit(f"unknown architecture {a.arch}")
    randomize(sae, gen, skip=("threshold",))
    with torch.no_grad():
        # Decoder rows of varied norms (exercises TopK's decoder-norm folding).
        sae.W_dec.mul_(0.5 + torch.rand(d_sae, 1, generator=gen))
        if a.arch == "jumprelu":
            sae.threshold.copy_(torch.rand(d_sae, generator=gen) * 0.3)
        if a.arch == "batchtopk":
            sae.topk_threshold.fill_(0.15)
    if a.save_dtype != "float32":
        sae = sae.to(dtype=getattr(torch, a.save_dtype))
    sae.save_inference_model(a.dir)
    sparsity = torch.log10(torch.rand(d_sae, generator=gen) + 1e-10)
    save_file({"sparsity": sparsity}, str(Path(a.dir) / "sparsity.safetensors"))
    if a.training_dir:
        sae.save_model(a.training_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--format", choices=["saelens", "sparsify"], required=True)
    r.add_argument("--dir", required=True)
    r.add_argument("--input", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--dtype", choices=list(DTYPES), default="float64")
    c = sub.add_parser("create")
    c.add_argument("--format", choices=["saelens", "sparsify"], required=True)
    c.add_argument("--arch", default="topk")
    c.add_argument("--dir", required=True)
    c.add_argument("--d-in", type=int, required=True)
    c.add_argument("--d-sae", type=int, required=True)
    c.add_argument("--k", type=int, default=4)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--normalize", default="none")
    c.add_argument("--no-apply-b-dec", action="store_true")
    c.add_argument("--training-dir")
    c.add_argument("--save-dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    m = sub.add_parser("many")
    m.add_argument("spec")
    a = ap.parse_args()
    jobs = json.loads(Path(a.spec).read_text()) if a.cmd == "many" else [sys.argv[1:]]
    for args in jobs:
        j = ap.parse_args(args)
        {"run": run, "create": create}[j.cmd](j)


if __name__ == "__main__":
    sys.exit(main())
