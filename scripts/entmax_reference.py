"""Reference outputs of the Python `entmax` package (1.3) for `sparsekit normalize`'s parity test
(crates/sparsekit-cli/tests/normalize_python.rs).

Usage: entmax_reference.py OUTDIR

Writes, per case, the input logits X (float32 values; the float64 file holds the same values),
an output gradient G, and the package's outputs P and input gradients DX (torch.autograd with
grad_output G) computed in float64 and in float32:
    OUTDIR/<case>_x_f32.npy, _x_f64.npy, _g_f32.npy, _g_f64.npy,
    OUTDIR/<case>_<fn>_p_f32.npy, _p_f64.npy, _dx_f32.npy, _dx_f64.npy
and OUTDIR/manifest.json: [{"case", "fn" (sparsemax | entmax15 | entmax), "alpha" (or null),
"dim", "shape"}]. Cases: random rows, adversarial rows (ties, all equal, +-1e4, -inf masks, a
fully masked row, a single unmasked entry), dims other than the last, long rows at small scale.
"""

import json
import sys

import numpy as np
import torch
from entmax import entmax15, entmax_bisect, sparsemax

out = sys.argv[1]
rng = np.random.default_rng(20260517)
ninf = -np.inf


def adversarial():
    x = rng.standard_normal((6, 9)).astype(np.float32) * 2
    x[0, :] = [1.0, 1.0, 1.0, 0.5, 0.5, -2.0, 1.0, 0.25, 0.5]  # ties
    x[1, :] = 3.0  # all equal
    x[2, :] = [1e4, -1e4, 1e4 - 0.5, 9999.75, -1e4, 0.0, 1e4, 1e4 - 3.0, 1e4 - 1.0]
    x[3, [1, 4, 5]] = ninf  # partial mask
    x[4, :] = ninf  # fully masked
    x[5, :] = ninf
    x[5, 7] = -5.0  # single unmasked entry
    return x


cases = {
    "random": (rng.standard_normal((5, 17)).astype(np.float32) * 3, -1),
    "adversarial": (adversarial(), -1),
    "dim1": (rng.standard_normal((3, 6, 4)).astype(np.float32) * 2, 1),
    "dim0": (rng.standard_normal((7, 3)).astype(np.float32), 0),
    "long": (rng.standard_normal((2, 1000)).astype(np.float32) * 0.1, -1),
}
fns = [("sparsemax", None), ("entmax15", None), ("entmax", 1.25), ("entmax", 1.5),
       ("entmax", 2.0), ("entmax", 3.0)]


def apply(name, alpha, x, dim):
    if name == "sparsemax":
        return sparsemax(x, dim=dim)
    if name == "entmax15":
        return entmax15(x, dim=dim)
    return entmax_bisect(x, alpha=alpha, dim=dim)


manifest = []
for case, (x32, dim) in cases.items():
    g32 = rng.standard_normal(x32.shape).astype(np.float32)
    for tag, dt in (("f32", np.float32), ("f64", np.float64)):
        np.save(f"{out}/{case}_x_{tag}.npy", x32.astype(dt))
        np.save(f"{out}/{case}_g_{tag}.npy", g32.astype(dt))
    for name, alpha in fns:
        fname = name if alpha is None else f"{name}{alpha}"
        # The package fails on a fully masked row (sparsemax raises, the others give NaN): it
        # runs on the other rows, and the fully masked rows are NaN in the reference files.
        valid = np.isfinite(x32).any(axis=dim)
        assert dim == -1 or valid.all()
        if dim != -1:
            valid = np.ones(x32.shape[:1], dtype=bool)
        for tag, dt, npdt in (("f32", torch.float32, np.float32), ("f64", torch.float64, np.float64)):
            p_out = np.full(x32.shape, np.nan, dtype=npdt)
            dx_out = np.full(x32.shape, np.nan, dtype=npdt)
            x = torch.tensor(x32[valid], dtype=dt, requires_grad=True)
            p = apply(name, alpha, x, dim)
            p.backward(torch.tensor(g32[valid], dtype=dt))
            p_out[valid] = p.detach().numpy()
            dx_out[valid] = x.grad.numpy()
            np.save(f"{out}/{case}_{fname}_p_{tag}.npy", p_out)
            np.save(f"{out}/{case}_{fname}_dx_{tag}.npy", dx_out)
        manifest.append({"case": case, "fn": name, "alpha": alpha, "file": fname,
                         "dim": dim, "shape": list(x32.shape)})
with open(f"{out}/manifest.json", "w") as f:
    json.dump(manifest, f)
print("OK", len(manifest))
