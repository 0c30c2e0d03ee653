//! `report-<suite>.svg`: speedup over dense against sparsity, one line per (format, shape,
//! device). Plain SVG text (no plotting crate, no fonts needed to build or render).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{Row, Shape};

const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 52.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG for one suite's rows (software-adapter rows drawn dashed), or `None` without rows.
pub fn speedup_svg(suite: &str, rows: &[Row]) -> Option<String> {
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
    if series.is_empty() {
        return None;
    }
    let pts = series.values().flatten();
    let (mut x0, mut x1) = (f64::MAX, f64::MIN);
    let (mut y0, mut y1) = (1.0f64, 1.0f64); // always show the break-even line
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 - x0 < 1e-9 {
        x0 -= 0.05;
        x1 += 0.05;
    }
    let (pad_x, ly0, ly1) = ((x1 - x0) * 0.05, (y0 / 1.25).log10(), (y1 * 1.25).log10());
    let (x0, x1) = (x0 - pad_x, x1 + pad_x);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP + (1.0 - (y.log10() - ly0) / (ly1 - ly0)) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}: speedup over dense vs sparsity</text>"#,
        LEFT + pw / 2.0,
        esc(suite)
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    // y ticks: 1-2-5 decades in range (log scale).
    for e in -3..=4 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(e);
            let lv = v.log10();
            if lv < ly0 || lv > ly1 {
                continue;
            }
            let y = sy(v);
            let (stroke, dash) = if v == 1.0 {
                ("#000", r#" stroke-dasharray="6 4""#)
            } else {
                ("#ddd", "")
            };
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}"{dash}/>"#,
                LEFT + pw
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{v}×</text>"#,
                LEFT - 6.0,
                y + 4.0
            );
        }
    }
    // x ticks every 0.05 (or 0.1 on wide ranges).
    let step = if x1 - x0 > 0.4 { 0.1 } else { 0.05 };
    let mut t = (x0 / step).ceil() * step;
    while t <= x1 + 1e-9 {
        let x = sx(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/>"##,
            TOP + ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{:.2}</text>"#,
            TOP + ph + 16.0,
            t
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">sparsity</text>"#,
        LEFT + pw / 2.0,
        H - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">dense median / sparse median (log)</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    for (i, ((format, shape, device), mut p)) in series.into_iter().enumerate() {
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = COLORS[i % COLORS.len()];
        let dash = if device.ends_with("(software)") {
            r#" stroke-dasharray="3 3""#
        } else {
            ""
        };
        let path: Vec<String> = p
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for &(x, y) in &p {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{} {} {}: {:.2}× at {}</title></circle>"#,
                sx(x),
                sy(y),
                esc(&format),
                shape,
                esc(&device),
                y,
                x
            );
        }
        let ly = TOP + 10.0 + i as f64 * 18.0;
        let lx = W - RIGHT + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>"#,
            lx + 22.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{} {} {}</text>"#,
            lx + 28.0,
            ly + 4.0,
            esc(&format),
            shape,
            esc(&device)
        );
    }
    s.push_str("</svg>\n");
    Some(s)
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
        assert_eq!(
            svg.matches("<polyline").count(),
            2,
            "flex and the software adapter"
        );
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(
            svg.contains("stroke-dasharray=\"3 3\""),
            "software adapter drawn dashed"
        );
        assert!(speedup_svg("train", &r.results).is_none());
        let one = speedup_svg("sddmm", &r.results).unwrap();
        assert_eq!(one.matches("<circle").count(), 1);
    }
}
