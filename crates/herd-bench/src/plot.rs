//! A latency-by-percentile chart as a standalone SVG file, one line per series.
//!
//! The x axis is in "nines" (0%, 90%, 99%, 99.9%, ...: x = -log10(1 - q)), so the tail is
//! as wide as the body; the y axis is linear milliseconds from zero.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Chart width in pixels.
const WIDTH: f64 = 800.0;
/// Chart height in pixels.
const HEIGHT: f64 = 480.0;
/// Space left of the plot area, for the y labels.
const LEFT: f64 = 70.0;
/// Space right of the plot area.
const RIGHT: f64 = 20.0;
/// Space above the plot area, for the title.
const TOP: f64 = 40.0;
/// Space below the plot area, for the x labels.
const BOTTOM: f64 = 50.0;
/// Points per line.
const STEPS: usize = 200;
/// Line colours, taken in turn.
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// One line on the chart.
pub struct Series<'a> {
    /// Legend text.
    pub label: String,
    /// The latencies, in microseconds.
    pub histogram: &'a Histogram<u64>,
}

/// Renders the chart; series without samples are left out.
pub fn latency_svg(title: &str, series: &[Series<'_>]) -> String {
    let drawn: Vec<&Series<'_>> = series.iter().filter(|s| !s.histogram.is_empty()).collect();
    let most = drawn.iter().map(|s| s.histogram.len()).max().unwrap_or(1);
    // Show as many nines as the largest series can support, between 1 and 5.
    let nines = ((most as f64).log10().floor()).clamp(1.0, 5.0);
    let max_us = drawn
        .iter()
        .map(|s| s.histogram.max())
        .max()
        .unwrap_or(1)
        .max(1);
    let (top_ms, step_ms) = nice_axis(max_us as f64 / 1000.0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |n: f64| LEFT + n / nines * plot_w;
    let y_of = |ms: f64| TOP + plot_h - ms / top_ms * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Grid and y labels.
    let mut ms = 0.0;
    while ms <= top_ms + step_ms / 2.0 {
        let y = y_of(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            trim_number(ms)
        );
        ms += step_ms;
    }
    // x labels, one per nine.
    for n in 0..=nines as usize {
        let x = x_of(n as f64);
        let label = match n {
            0 => "0%".to_owned(),
            _ => format!("{}%", trim_number(100.0 - 100.0 / 10f64.powi(n as i32))),
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">latency (ms)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    // One polyline per series, and its legend entry.
    for (i, s) in drawn.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points = String::new();
        for step in 0..=STEPS {
            let n = nines * step as f64 / STEPS as f64;
            let q = 1.0 - 10f64.powf(-n);
            let ms = s.histogram.value_at_quantile(q) as f64 / 1000.0;
            let _ = write!(points, "{:.1},{:.1} ", x_of(n), y_of(ms));
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.trim_end()
        );
        let ly = TOP + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 12.0,
            LEFT + 32.0,
            LEFT + 38.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A round top for an axis reaching `max` and a tick step giving 4 to 10 ticks.
fn nice_axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

/// A number without trailing zeros: 0.5, 2, 99.9.
fn trim_number(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::new_histogram;

    #[test]
    fn axis_is_round() {
        assert_eq!(nice_axis(0.93), (1.0, 0.2));
        assert_eq!(nice_axis(7.0), (8.0, 2.0));
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
    }

    #[test]
    fn svg_has_one_line_per_series_with_samples() {
        let mut a = new_histogram();
        for us in 1..=5000 {
            a.record(us).unwrap();
        }
        let empty = new_histogram();
        let series = [
            Series {
                label: "a <1>".into(),
                histogram: &a,
            },
            Series {
                label: "empty".into(),
                histogram: &empty,
            },
        ];
        let svg = latency_svg("t & t", &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("a &lt;1&gt;") && svg.contains("t &amp; t"));
        assert!(svg.contains(">99.9%<") && !svg.contains(">99.99%<"));
    }
}
