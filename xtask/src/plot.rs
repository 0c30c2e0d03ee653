//! `report-<suite>.svg`: speedup over dense against sparsity, one line per (format, shape,
//! device), drawn by the project's one plot writer (`sparsekit_measure::plot`, on plotters).

use std::collections::BTreeMap;

use sparsekit_measure::plot::{Chart, PlotError, Series};

use crate::report::{Row, Shape};

/// The SVG for one suite's rows (software-adapter rows drawn dashed), or `None` without rows.
pub fn speedup_svg(suite: &str, rows: &[Row]) -> Option<String> {
    // The model suite has no sparsity axis (dense MiniLM vs PyTorch): its table says it all.
    if suite == "model" {
        return None;
    }
    if suite == "attention" {
        return attention_scaling_svg(rows);
    }
    let mut series: BTreeMap<(String, Shape, String), Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.suite == suite && r.speedup_vs_dense > 0.0 && r.speedup_vs_dense.is_finite())
    {
        let dev = if r.is_software_adapter() {
            format!("{} (software)", r.device)
        } else {
            r.device.clone()
        };
        series
            .entry((r.format.clone(), r.shape, dev))
            .or_default()
            .push((r.sparsity, r.speedup_vs_dense));
    }
    let mut chart = Chart::new(
        format!("{suite}: speedup over dense vs sparsity"),
        "sparsity",
        "dense median / sparse median (log)",
    );
    chart.log_y = true;
    chart.reference_y = Some(1.0); // break-even
    chart.series = series
        .into_iter()
        .map(|((format, shape, device), points)| Series {
            dashed: device.ends_with("(software)"),
            label: format!("{format} {shape} {device}"),
            points,
        })
        .collect();
    match chart.to_svg() {
        Ok(svg) => Some(svg),
        Err(PlotError::NoPoints) => None,
        Err(e) => {
            eprintln!("xtask: no {suite} plot: {e}");
            None
        }
    }
}

/// The attention suite's plot: forward time against sequence length (log–log), sparse layouts
/// beside dense burn and torch SDPA: dense grows as L², a fixed-width layout as L.
fn attention_scaling_svg(rows: &[Row]) -> Option<String> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.suite == "attention" && r.op.starts_with("block_attention"))
    {
        // log₂ L on a linear axis (the plot writer has a log y axis only).
        let l = (r.shape.m as f64).log2();
        let kind = if r.op.ends_with("fwdbwd") {
            "fwd+bwd"
        } else {
            "fwd"
        };
        series
            .entry(format!("sparse {} {kind}", r.format))
            .or_default()
            .push((l, r.median_s));
        if r.baseline_median_s > 0.0 {
            let dense = series.entry(format!("dense burn {kind}")).or_default();
            if !dense.iter().any(|p| p.0 == l) {
                dense.push((l, r.baseline_median_s));
            }
        }
        if let Some(t) = r.extra.get("torch_sdpa_s").and_then(|v| v.as_f64()) {
            let torch = series
                .entry(format!("torch SDPA dense {kind}"))
                .or_default();
            if !torch.iter().any(|p| p.0 == l) {
                torch.push((l, t));
            }
        }
    }
    // A line needs two lengths.
    series.retain(|_, p| p.len() >= 2);
    let mut chart = Chart::new(
        "attention: time vs sequence length (B 1, H 8, d 64)",
        "log₂ L (10 = 1k … 14 = 16k)",
        "median seconds (log)",
    );
    chart.log_y = true;
    chart.series = series
        .into_iter()
        .map(|(label, mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                dashed: label.starts_with("dense") || label.starts_with("torch"),
                label,
                points,
            }
        })
        .collect();
    match chart.to_svg() {
        Ok(svg) => Some(svg),
        Err(PlotError::NoPoints) => None,
        Err(e) => {
            eprintln!("xtask: no attention plot: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn svg_has_one_line_per_series_and_is_well_formed_enough() {
        let r = sample_report();
        let svg = speedup_svg("spmm", &r.results).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("csr 4096×4096×64 flex"));
        assert!(
            svg.contains("csr 4096×4096×64 wgpu:llvmpipe (software)"),
            "flex and the software adapter"
        );
        assert!(speedup_svg("train", &r.results).is_none());
        assert!(
            speedup_svg("attention", &r.results).is_none(),
            "no attention rows"
        );
        let one = speedup_svg("sddmm", &r.results).unwrap();
        assert_eq!(one.matches("<circle").count(), 1);
    }
}
