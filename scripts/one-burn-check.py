#!/usr/bin/env python3
"""Checks, without compiling, that the documented commands reuse one build of burn.

For each command below, `cargo +nightly <cmd> --unit-graph -Z unstable-options` lists every
compilation unit cargo would build, with its resolved features and profile. A third-party unit
whose features or profile settings differ from the test build's is a second compilation of that
crate — and of everything above it (burn, wgpu, CubeCL: 20+ minutes). Exit status 1 when any
differs; then run `cargo hakari generate` (see .config/hakari.toml).

Needs a nightly toolchain (`rustup toolchain install nightly --profile minimal`) for
`--unit-graph` only; nothing is built. Run from the repository root:

    python3 scripts/one-burn-check.py
"""
import json
import subprocess
import sys

COMMANDS = {
    "cargo xtask test / cargo xtask bench": ["test", "--release", "--workspace", "--all-features", "--no-run"],
    "cargo build --release -p sparsekit-cli": ["build", "--release", "-p", "sparsekit-cli"],
    "cargo run --release --example fashion_mnist_sparse": ["build", "--release", "--example", "fashion_mnist_sparse"],
    "cargo bench": ["bench", "--no-run"],
}


def units(args):
    cmd = ["cargo", "+nightly", *args, "--unit-graph", "-Z", "unstable-options"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    found = {}
    for u in json.loads(out.stdout)["units"]:
        if u["pkg_id"].startswith("path+file"):
            continue  # workspace members
        profile = dict(u["profile"])
        profile.pop("name")  # `bench` and `release` share artifacts when their settings agree
        key = (u["pkg_id"].split("#")[-1], u["platform"] or "host", u["target"]["name"], u["mode"])
        found.setdefault(key, set()).add((tuple(sorted(u["features"])), json.dumps(profile, sort_keys=True)))
    return found


def main():
    names = list(COMMANDS)
    base = units(COMMANDS[names[0]])
    bad = 0
    for name in names[1:]:
        got = units(COMMANDS[name])
        if not any(k[0].startswith(("burn", "wgpu", "cubecl")) for k in got):
            # A burn-free command (the CLI on files): it compiles a few small crates of its own,
            # never a second burn — which is what this check is about.
            print(f"{name}: {len(got)} third-party units, no burn / wgpu / CubeCL at all")
            continue
        differ = sorted(k for k in got if k in base and got[k] - base[k])
        print(f"{name}: {len(got)} third-party units, {len(differ)} built differently from `{names[0]}`")
        for k in differ[:20]:
            print(f"    {k[0]} ({k[2]}, {k[3]}): {sorted(v[0] for v in got[k])} vs {sorted(v[0] for v in base[k])}")
        bad += len(differ)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
