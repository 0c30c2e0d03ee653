//! Shards written here are readable from Python with `safetensors.numpy.load_file` and the
//! manifest with `json`, as the module docs of `sparsekit_data::shards` describe.

use std::collections::BTreeMap;
use std::process::Command;

use sparsekit_data::shards::ShardWriter;

#[test]
fn python_reads_the_shards() {
    let Some(py) = sparsekit_testenv::python(&["numpy", "safetensors"]) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("acts");
    let d = 5;
    let mut meta = BTreeMap::new();
    meta.insert("model".to_string(), "all-MiniLM-L6-v2".to_string());
    meta.insert("layer".to_string(), "3".to_string());
    let mut w = ShardWriter::create(&dir, d, 4, meta).unwrap();
    let lens = [3usize, 6, 0, 2];
    let mut row = 0;
    let mut want_act = Vec::new();
    let mut want_tok = Vec::new();
    let mut want_text = Vec::new();
    let mut want_pos = Vec::new();
    for (text, &n) in lens.iter().enumerate() {
        let act: Vec<f32> = (0..n * d)
            .map(|i| ((row * d + i) as f32) * 0.25 - 3.0)
            .collect();
        let tok: Vec<u32> = (0..n).map(|i| (row + i) as u32 * 7 + 101).collect();
        let pos: Vec<u32> = (0..n as u32).collect();
        w.push_text(&act, &tok, &pos).unwrap();
        want_act.extend(act);
        want_tok.extend(tok.iter().map(|&x| x as i64));
        want_text.extend(std::iter::repeat_n(text as i64, n));
        want_pos.extend(pos.iter().map(|&x| x as i64));
        row += n;
    }
    let m = w.finish().unwrap();
    assert_eq!(m.shards.len(), 3);

    let script = r#"
import json, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.json"))
assert m["format"] == "sparsekit-activations" and m["version"] == 1 and m["dtype"] == "f32"
parts = [load_file(f"{d}/{s['file']}") for s in m["shards"]]
for i, (s, p) in enumerate(zip(m["shards"], parts)):
    assert p["activations"].dtype == np.float32 and p["activations"].shape == (s["tokens"], m["d"])
    for k in ["token_ids", "text_index", "position"]:
        assert p[k].dtype == np.int64 and p[k].shape == (s["tokens"],), k
    with safe_open(f"{d}/{s['file']}", "np") as f:
        md = f.metadata()
    assert md["d"] == str(m["d"]) and md["shard"] == str(i), md
x = np.concatenate([p["activations"] for p in parts])
assert x.shape == (m["tokens"], m["d"])
out = {"d": m["d"], "tokens": m["tokens"], "texts": m["texts"], "meta": m["meta"],
       "activations": x.ravel().tolist()}
for k in ["token_ids", "text_index", "position"]:
    out[k] = np.concatenate([p[k] for p in parts]).tolist()
print(json.dumps(out))
"#;
    let o = Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["d"], 5);
    assert_eq!(v["tokens"], 11);
    assert_eq!(v["texts"], 4);
    assert_eq!(v["meta"]["layer"], "3");
    let act: Vec<f32> = serde_json::from_value(v["activations"].clone()).unwrap();
    assert_eq!(act, want_act);
    let ints = |k: &str| -> Vec<i64> { serde_json::from_value(v[k].clone()).unwrap() };
    assert_eq!(ints("token_ids"), want_tok);
    assert_eq!(ints("text_index"), want_text);
    assert_eq!(ints("position"), want_pos);
}
