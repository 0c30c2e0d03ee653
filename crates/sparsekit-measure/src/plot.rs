//! Line charts as SVG text, drawn with `plotters` (SVG backend only: no fonts or system
//! libraries are needed to build or render). One writer for the bench report's speedup plots
//! (`cargo xtask bench`) and the examples' accuracy plots.

use std::ops::Range;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// Line colours, in series order (matplotlib's `tab10`, cycled).
const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// One line of a [`Chart`]: points joined in the order of `x`, each marked.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(x, y)` points; non-finite ones (and, on a log axis, `y ≤ 0`) are left out.
    pub points: Vec<(f64, f64)>,
    /// Dashed line (e.g. rows that prove correctness only).
    pub dashed: bool,
}

/// A line chart: a title, axis labels, series and an optional horizontal reference line.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Caption above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// A dashed horizontal line at this y (always inside the y range), e.g. break-even or the
    /// dense model's accuracy.
    pub reference_y: Option<f64>,
    /// The lines, in legend order.
    pub series: Vec<Series>,
    /// Width and height in pixels.
    pub size: (u32, u32),
}

/// Why a chart could not be drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum PlotError {
    /// No series has a drawable point.
    NoPoints,
    /// plotters failed to draw (its message).
    Draw(String),
}

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlotError::NoPoints => write!(f, "no drawable points"),
            PlotError::Draw(e) => write!(f, "drawing the chart: {e}"),
        }
    }
}

impl std::error::Error for PlotError {}

impl Chart {
    /// An empty 720 × 440 chart with linear axes.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            reference_y: None,
            series: Vec::new(),
            size: (720, 440),
        }
    }

    fn drawable(&self, (x, y): (f64, f64)) -> bool {
        x.is_finite() && y.is_finite() && (!self.log_y || y > 0.0)
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> Result<String, PlotError> {
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|&p| self.drawable(p))
            .collect();
        if pts.is_empty() {
            return Err(PlotError::NoPoints);
        }
        let (mut x0, mut x1) = (f64::MAX, f64::MIN);
        let (mut y0, mut y1) = (f64::MAX, f64::MIN);
        let reference = self.reference_y.filter(|&r| self.drawable((0.0, r)));
        for (x, y) in pts.iter().copied().chain(reference.map(|r| (pts[0].0, r))) {
            (x0, x1) = (x0.min(x), x1.max(x));
            (y0, y1) = (y0.min(y), y1.max(y));
        }
        let x = padded(x0, x1, 0.05);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            if self.log_y {
                self.draw(&root, x, ((y0 / 1.25)..(y1 * 1.25)).log_scale())
            } else {
                self.draw(&root, x, padded(y0, y1, 0.08))
            }
            .map_err(|e| PlotError::Draw(e.to_string()))?;
        }
        Ok(svg)
    }

    fn draw<DB: DrawingBackend, Y>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
        x: Range<f64>,
        y: Y,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
    where
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        root.fill(&WHITE)?;
        let (x_lo, x_hi) = (x.start, x.end);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()?;
        if let Some(r) = self.reference_y.filter(|&r| self.drawable((0.0, r))) {
            chart.draw_series(DashedLineSeries::new(
                [(x_lo, r), (x_hi, r)],
                6,
                4,
                BLACK.stroke_width(1),
            ))?;
        }
        for (i, s) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let mut p: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|&p| self.drawable(p))
                .collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            let line = color.stroke_width(2);
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(p.clone(), 4, 4, line))?;
            } else {
                chart.draw_series(LineSeries::new(p.clone(), line))?;
            }
            let dashed = s.dashed;
            chart
                .draw_series(p.iter().map(|&pt| Circle::new(pt, 3, color.filled())))?
                .label(&s.label)
                .legend(move |(x, y)| {
                    let style = color.stroke_width(2);
                    if dashed {
                        PathElement::new([(x, y), (x + 8, y)], style)
                    } else {
                        PathElement::new([(x, y), (x + 20, y)], style)
                    }
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0x88, 0x88, 0x88))
            .label_font(("sans-serif", 11))
            .draw()?;
        root.present()
    }
}

/// `lo..hi` widened by `frac` of its length on each side (by `frac` itself when empty).
fn padded(lo: f64, hi: f64, frac: f64) -> Range<f64> {
    let pad = if hi - lo > 1e-12 {
        (hi - lo) * frac
    } else {
        frac.max(lo.abs() * frac)
    };
    (lo - pad)..(hi + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(log_y: bool) -> Chart {
        let mut c = Chart::new("spmm: speedup", "sparsity", "speedup");
        c.log_y = log_y;
        c.reference_y = Some(1.0);
        c.series = vec![
            Series {
                label: "csr 4096×4096×64 flex".into(),
                points: vec![(0.98, 8.0), (0.9, 2.0), (0.7, 0.8)],
                dashed: false,
            },
            Series {
                label: "csr <wgpu> & co".into(),
                points: vec![(0.9, 0.5), (0.98, f64::NAN)],
                dashed: true,
            },
        ];
        c
    }

    #[test]
    fn draws_every_series_with_its_points_and_legend() {
        for log_y in [false, true] {
            let svg = chart(log_y).to_svg().unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            // 3 + 1 finite points, drawn as circles (the legend uses lines).
            assert_eq!(svg.matches("<circle").count(), 4, "log_y = {log_y}");
            assert!(svg.contains("csr 4096×4096×64 flex"));
            assert!(
                svg.contains("csr &lt;wgpu&gt; &amp; co"),
                "labels are escaped"
            );
            assert!(svg.contains("spmm: speedup") && svg.contains("sparsity"));
        }
    }

    #[test]
    fn a_single_point_and_no_point() {
        let mut c = Chart::new("t", "x", "y");
        c.series.push(Series {
            label: "one".into(),
            points: vec![(0.5, 80.0)],
            dashed: false,
        });
        assert_eq!(c.to_svg().unwrap().matches("<circle").count(), 1);
        c.series[0].points = vec![(f64::NAN, 1.0)];
        assert_eq!(c.to_svg(), Err(PlotError::NoPoints));
        c.log_y = true;
        c.series[0].points = vec![(0.5, 0.0)];
        assert_eq!(c.to_svg(), Err(PlotError::NoPoints));
    }
}
