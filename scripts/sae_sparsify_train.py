#!/usr/bin/env python3
"""Trains EleutherAI sparsify's TopK SparseCoder on a sparsekit activation shard directory, with
sparsify's own `Trainer` and its default settings, and saves it in sparsify's directory format
(cfg.json + sae.safetensors), so that `sparsekit sae eval` scores it with the same code as ours.

  python scripts/sae_sparsify_train.py --activations DIR --output OUT --tokens N
      [--batch 4096] [--k 32] [--expansion 32] [--seed 0] [--threads T] [--device cpu]
      [--log-every 10] [--keep-checkpoints]

Written against eai-sparsify 1.3.3 (scripts/python-requirements.txt); trainer.py line numbers
below refer to that version.

Faithful to sparsify (the real code runs, nothing is re-implemented):
  * `sparsify.Trainer(cfg, dataset, model).fit()` does the training: init (trainer.py 93-101:
    torch.manual_seed(seed), SparseCoder(d, SparseCoderConfig(k, expansion_factor), float32),
    encoder = nn.Linear init, W_dec = unit-norm copy of the encoder weight, zero biases), the
    optimizer chosen by `TrainConfig.optimizer` (default "signum": ScheduleFreeWrapper(SignSGD,
    momentum=0.95), lr = 5e-3 / sqrt(num_latents / 2**14), no lr scheduler, so
    `lr_warmup_steps` (Adam/Muon only) does not apply; 106-178), b_dec = mean of the first
    batch (411-419), W_dec renormalised to unit norm before every forward (421-423), loss =
    fvu + auxk_alpha * auxk + multi_topk_fvu / 8 (480-485; auxk_alpha defaults to 0, so no
    dead mask is passed and the AuxK term is 0), remove_gradient_parallel_to_decoder_directions
    then optimizer.step / zero_grad (551-557), num_tokens_since_fired (567-576), its periodic
    checkpoints (578-579, which toggle the Schedule-Free wrapper eval/train) and its final
    save (630), where the Schedule-Free wrapper is switched to eval so that the weights saved
    are the averaged x point, not the y point gradients are taken at (690-697).
  * Every TrainConfig / SparseCoderConfig field keeps its default except: sae.k and
    sae.expansion_factor (--k, --expansion; the defaults are 32 and 32), init_seeds ([--seed];
    default [0]), batch_size (1 "sequence", see below), hookpoints (the stand-in layer),
    save_dir / run_name (a temporary directory), log_to_wandb (True, but `wandb` is replaced by
    an in-process logger: the trainer's own per-step `info` dict gives the fvu and dead
    fraction we print; nothing goes to the network).
  * The metrics are sparsify's: fvu of the training batch (`fvu/<hook>`), dead fraction =
    mean(num_tokens_since_fired > dead_feature_threshold) (`dead_pct/<hook>`, threshold
    10_000_000 tokens by default, so it stays 0 for runs under 10M tokens).
  * OUT holds exactly the cfg.json and sae.safetensors of the trainer's final checkpoint
    (written by SparseCoder.save_to_disk); they load with SparseCoder.load_from_disk.

What differs (the data source only):
  * No transformer: a stand-in model (`ShardModel`) whose hooked layer `layers.0` maps row
    indices to the shard activations held in memory. The trainer's `input_ids` are these row
    indices (so `exclude_tokens` must stay empty, its default).
  * Batches: sparsify streams batch_size=32 sequences of ctx_len=2048 tokens (65,536 tokens per
    step, the dataset pre-shuffled per sequence, one pass). Here a step is `--batch` token rows
    drawn from a per-token shuffle of all rows (seeded by --seed, a fresh permutation per pass),
    passes repeated until `--tokens`, rounded up to whole batches; every batch is full. Note the
    default --batch 4096 is 16x fewer tokens per step than sparsify's default; pass
    --batch 65536 for sparsify's tokens-per-step.
  * On CPU the bf16 autocast of SparseCoder.forward is off (it is a CUDA autocast) and
    SPARSIFY_DISABLE_TRITON=1 selects the eager embedding_bag decoder; on CUDA the trainer's
    set_float32_matmul_precision("high") (TF32) and bf16 autocast apply as in sparsify.
  * Cosmetic: the trainer's tqdm bar is disabled (the step log replaces it) and its prints go
    to stderr.

Logs (stderr): the settings in use, then every --log-every steps: step, fvu, dead fraction,
tokens/s. stdout: one JSON line {"steps", "tokens", "seconds", "tokens_per_s",
"final_fvu_train_batch", "dead_fraction", "optimizer", "lr", "auxk_alpha", "threads", ...}.
"""

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

HOOK = "layers.0"


def parse_args():
    p = argparse.ArgumentParser(
        description="Train sparsify's TopK SparseCoder on sparsekit activation shards "
        "with sparsify's Trainer and default settings."
    )
    p.add_argument("--activations", required=True, type=Path, help="shard directory")
    p.add_argument("--output", required=True, type=Path, help="sparsify SAE directory to write")
    p.add_argument("--tokens", required=True, type=int, help="token budget (rounded up to batches)")
    p.add_argument("--batch", type=int, default=4096, help="token rows per step (default 4096)")
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--expansion", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="init seed and data shuffle seed")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all CPUs)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--log-every", type=int, default=10, help="log every N steps (default 10)")
    p.add_argument(
        "--keep-checkpoints",
        type=Path,
        default=None,
        help="keep the trainer's checkpoint directory here (default: a removed temp dir)",
    )
    a = p.parse_args()
    for name in ("tokens", "batch", "k", "expansion", "log_every"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    if a.threads is not None and a.threads <= 0:
        p.error("--threads must be > 0")
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_activations(directory, np):
    """All rows of a sparsekit shard directory as one float32 array [tokens, d]; validates the
    manifest as crates/sparsekit-data/src/shards.rs (ShardReader::open / load) does."""
    from safetensors import safe_open

    if not (directory / "manifest.json").is_file():
        raise SystemExit(f"{directory}: no manifest.json (not a shard directory)")
    m = json.loads((directory / "manifest.json").read_text())
    if m.get("format") != "sparsekit-activations" or m.get("version") != 1:
        raise SystemExit(f"{directory}: not a sparsekit-activations v1 shard directory")
    if m.get("dtype") != "f32" or not m.get("d"):
        raise SystemExit(f"{directory}: dtype {m.get('dtype')!r}, d {m.get('d')!r}")
    d, total = m["d"], m["tokens"]
    if sum(s["tokens"] for s in m["shards"]) != total:
        raise SystemExit(f"{directory}: manifest tokens do not add up")
    if total == 0:
        raise SystemExit(f"{directory}: no tokens")
    acts = np.empty((total, d), np.float32)
    row = 0
    for s in m["shards"]:
        with safe_open(str(directory / s["file"]), framework="np") as f:
            x = f.get_tensor("activations")
        if x.dtype != np.float32 or x.shape != (s["tokens"], d):
            raise SystemExit(f"{directory / s['file']}: activations {x.dtype} {x.shape}")
        acts[row : row + len(x)] = x
        row += len(x)
    return acts, m


def main():
    a = parse_args()
    if a.device == "cpu":
        # sparsify picks a Triton decoder when Triton is importable; it only runs on CUDA.
        os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")

    import numpy as np
    import torch
    from torch import nn

    threads = a.threads or os.cpu_count()
    torch.set_num_threads(threads)

    with contextlib.redirect_stdout(sys.stderr):  # sparsify prints; stdout is for the JSON
        from schedulefree import ScheduleFreeWrapper
        import sparsify.trainer
        from sparsify import SparseCoder, SparseCoderConfig, TrainConfig, Trainer

    # The trainer's progress bar (trainer.py 302-307) would interleave with our step log.
    tqdm = sparsify.trainer.tqdm
    sparsify.trainer.tqdm = lambda *args, **kwargs: tqdm(*args, **{**kwargs, "disable": True})

    t_load = time.perf_counter()
    acts_np, _ = load_activations(a.activations, np)
    n_rows, d = acts_np.shape
    device = torch.device(a.device)
    acts = torch.from_numpy(acts_np).to(device)
    steps = math.ceil(a.tokens / a.batch)
    log(
        f"activations: {a.activations} ({n_rows} tokens x d {d}, "
        f"loaded in {time.perf_counter() - t_load:.1f}s); {steps} steps x {a.batch} tokens "
        f"= {steps * a.batch} tokens ({steps * a.batch / n_rows:.2f} passes); "
        f"device {device}, {threads} threads"
    )

    class IndexBatches(torch.utils.data.Dataset):
        """Item i: the i-th block of `batch` row indices of an endless stream of permutations of
        all rows (a fresh permutation per pass, seeded by (seed, pass)), as `input_ids`."""

        def __init__(self):
            self.perms = {}

        def __len__(self):
            return steps

        def perm(self, p):
            if p not in self.perms:
                self.perms = {q: v for q, v in self.perms.items() if q >= p - 1}
                self.perms[p] = np.random.default_rng([a.seed, p]).permutation(n_rows)
            return self.perms[p]

        def __getitem__(self, i):
            start, end = i * a.batch, (i + 1) * a.batch
            pieces = []
            while start < end:
                p, off = divmod(start, n_rows)
                take = min(end - start, n_rows - off)
                pieces.append(self.perm(p)[off : off + take])
                start += take
            return {"input_ids": torch.from_numpy(np.concatenate(pieces))}

    class ActivationSource(nn.Module):
        """The hooked 'layer': returns the stored activations of the given rows."""

        def forward(self, input_ids):
            return acts[input_ids.to(acts.device)]  # [sequences, batch, d]

    class ShardModel(nn.Module):
        """The part of a transformers PreTrainedModel that sparsify's Trainer touches (base_model,
        config.num_hidden_layers, device, dummy_inputs, named modules, forward); no parameters."""

        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([ActivationSource()])
            self.config = types.SimpleNamespace(num_hidden_layers=1)

        @property
        def base_model(self):
            return self

        @property
        def device(self):
            return device

        @property
        def dummy_inputs(self):
            return {"input_ids": torch.zeros(1, 1, dtype=torch.long)}

        def forward(self, input_ids):
            return self.layers[0](input_ids)

    class StepLogger(types.ModuleType):
        """Replaces `wandb` for the trainer (trainer.py 262-276, 584-619): receives the
        trainer's per-step info dict and prints every `every` steps."""

        def __init__(self, every):
            super().__init__("wandb")
            self.every = every
            self.last = {}
            self.logged_step = 0
            self.t = time.perf_counter()

        def init(self, **_):
            self.t = time.perf_counter()

        def log(self, info, step):
            self.last = dict(info)
            if step % self.every == 0 or step == steps:
                now = time.perf_counter()
                tps = (step - self.logged_step) * a.batch / (now - self.t)
                self.logged_step, self.t = step, now
                log(
                    f"step {step:6d}  fvu {info[f'fvu/{HOOK}']:.5f}  "
                    f"dead {info[f'dead_pct/{HOOK}']:.4f}  {tps:,.0f} tokens/s"
                )

    ckpt_root = a.keep_checkpoints or Path(tempfile.mkdtemp(prefix="sparsify-run-"))
    cfg = TrainConfig(
        SparseCoderConfig(k=a.k, expansion_factor=a.expansion),
        batch_size=1,  # one dataset item = one batch of --batch token rows
        hookpoints=[HOOK],
        init_seeds=[a.seed],
        log_to_wandb=True,  # into StepLogger
        save_dir=str(ckpt_root),
        run_name="run",
    )
    if cfg.grad_acc_steps != 1 or cfg.micro_acc_steps != 1 or cfg.loss_fn != "fvu":
        raise SystemExit("unexpected sparsify TrainConfig defaults")

    logger = StepLogger(a.log_every)
    sys.modules["wandb"] = logger  # `import wandb` inside Trainer.fit gets the logger
    try:
        with contextlib.redirect_stdout(sys.stderr):
            trainer = Trainer(cfg, IndexBatches(), ShardModel())
            opt = trainer.optimizers[0]
            opt_name = type(opt).__name__
            if isinstance(opt, ScheduleFreeWrapper):
                opt_name = f"ScheduleFreeWrapper({type(opt.base).__name__}, momentum={opt.momentum})"
            elif len(trainer.optimizers) > 1:
                opt_name = "+".join(type(o).__name__ for o in trainer.optimizers)
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            sae = trainer.saes[HOOK]
            log(
                f"sparsify TrainConfig: optimizer {cfg.optimizer!r} -> {opt_name}, lr {lr:.6g} "
                f"(cfg.lr {cfg.lr}), lr_warmup_steps {cfg.lr_warmup_steps} "
                f"({'used' if trainer.lr_schedulers else 'not used: no lr scheduler'}), "
                f"auxk_alpha {cfg.auxk_alpha}, dead_feature_threshold "
                f"{cfg.dead_feature_threshold}, k {cfg.sae.k}, num_latents {sae.num_latents}, "
                f"normalize_decoder {cfg.sae.normalize_decoder}, multi_topk {cfg.sae.multi_topk}, "
                f"k_decay_steps {cfg.k_decay_steps}, save_every {cfg.save_every}"
            )
            t0 = time.perf_counter()
            trainer.fit()
            seconds = time.perf_counter() - t0
    finally:
        sys.modules.pop("wandb", None)

    # The trainer's final save (trainer.py 630 -> 686-697: Schedule-Free eval, save_to_disk).
    final = ckpt_root / "run" / HOOK
    a.output.mkdir(parents=True, exist_ok=True)
    for name in ("cfg.json", "sae.safetensors"):
        shutil.copyfile(final / name, a.output / name)
    if a.keep_checkpoints is None:
        shutil.rmtree(ckpt_root, ignore_errors=True)
    with contextlib.redirect_stdout(sys.stderr):
        SparseCoder.load_from_disk(a.output)  # it loads as sparsify loads it
    log(f"saved {a.output} (sparsify SparseCoder: cfg.json + sae.safetensors)")

    dead = (
        (trainer.num_tokens_since_fired[HOOK] > cfg.dead_feature_threshold)
        .float()
        .mean()
        .item()
    )
    tokens = steps * a.batch
    print(
        json.dumps(
            {
                "steps": steps,
                "tokens": tokens,
                "seconds": round(seconds, 3),
                "tokens_per_s": round(tokens / seconds, 1),
                "final_fvu_train_batch": logger.last.get(f"fvu/{HOOK}"),
                "dead_fraction": dead,
                "optimizer": opt_name,
                "lr": lr,
                "auxk_alpha": cfg.auxk_alpha,
                "threads": threads,
                "dead_feature_threshold": cfg.dead_feature_threshold,
                "k": cfg.sae.k,
                "num_latents": sae.num_latents,
                "d_in": d,
                "batch": a.batch,
                "device": str(device),
                "sparsify": __import__("sparsify").__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
