//! Line charts as standalone SVG documents, with no dependencies, for the
//! figures `rvs-pktgen` reports: throughput (Mpps, linear y) against flow
//! count (log x) with one line per switch, and latency distributions
//! (latency in µs on a log axis against percentile, either way round).
//!
//! A [`Chart`] is a title, two axis labels, a [`Scale`] per axis and any
//! number of [`Series`]; [`Chart::to_svg`] draws an 800 × 480 document with
//! a framed plot area, grid lines, ticks labelled for reading (`1`, `10`,
//! `100`, `1k`, … `1M` on log axes; steps of 1, 2 or 5 × 10ⁿ on linear
//! axes), one polyline per series in a distinct colour and marker shape
//! (so the lines stay apart in greyscale too), a legend to the right of
//! the plot and the title above it.
//!
//! Whatever the data, the output is a valid SVG and nothing panics:
//! NaN and infinite coordinates are skipped, points at or below zero are
//! skipped on a log axis, and a chart left with no points says "no data".
//! Points are joined in the caller's order, so a series must already be
//! sorted the way its line should run. A linear axis starts at zero when
//! the data are of one sign and zero is near (the smallest magnitude is at
//! most half the largest), so that throughputs compare honestly; otherwise
//! it hugs the data.

use std::fmt::Write as _;

/// One line of a chart: a name for the legend and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// `(x, y)` pairs, joined in this order.
    pub points: Vec<(f64, f64)>,
}

/// How an axis maps values to distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Equal distances for equal differences.
    Linear,
    /// Equal distances for equal ratios; values ≤ 0 cannot be drawn.
    Log10,
}

/// A line chart; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Drawn above the plot.
    pub title: String,
    /// Drawn under the x axis; include the unit, e.g. `"latency (µs)"`.
    pub x_label: String,
    /// Drawn beside the y axis; include the unit, e.g. `"Mpps"`.
    pub y_label: String,
    /// Scale of the horizontal axis.
    pub x_scale: Scale,
    /// Scale of the vertical axis.
    pub y_scale: Scale,
    /// The lines, drawn and listed in the legend in this order.
    pub series: Vec<Series>,
}

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const PLOT_LEFT: f64 = 72.0;
const PLOT_TOP: f64 = 48.0;
const PLOT_RIGHT: f64 = 612.0;
const PLOT_BOTTOM: f64 = 412.0;
const LEGEND_LEFT: f64 = PLOT_RIGHT + 16.0;
/// Longer legend names are cut short with "…" so they fit beside the plot.
const LEGEND_MAX_CHARS: usize = 20;
/// Above this many points a series is drawn as a bare line: markers on a
/// dense CDF would smear into a thick band.
const MAX_MARKERS: usize = 60;
/// A linear axis gets at most this many intervals between ticks.
const MAX_LINEAR_INTERVALS: f64 = 8.0;

/// Colours that stay apart on white and from each other (Tableau 10).
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

#[derive(Debug, Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Diamond,
    Triangle,
}

const MARKERS: [Marker; 4] = [
    Marker::Circle,
    Marker::Square,
    Marker::Diamond,
    Marker::Triangle,
];

impl Chart {
    /// A complete standalone SVG document, 800 × 480; see the
    /// [module documentation](self) for what it shows.
    pub fn to_svg(&self) -> String {
        let mut svg = String::with_capacity(16 * 1024);
        svg.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" \
             font-size=\"12\" fill=\"#222\">"
        );
        let _ = writeln!(
            svg,
            "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>",
            f((PLOT_LEFT + PLOT_RIGHT) / 2.0),
            escape(&self.title)
        );

        let series: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| drawable(x, self.x_scale) && drawable(y, self.y_scale))
                    .collect()
            })
            .collect();
        let xs = series.iter().flatten().map(|p| p.0);
        let ys = series.iter().flatten().map(|p| p.1);
        let (Some(x_axis), Some(y_axis)) =
            (Axis::fit(self.x_scale, xs), Axis::fit(self.y_scale, ys))
        else {
            self.draw_empty(&mut svg);
            svg.push_str("</svg>\n");
            return svg;
        };

        draw_grid(&mut svg, &x_axis, &y_axis);
        self.draw_axis_labels(&mut svg);
        for (i, points) in series.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
            let colour = COLOURS[i % COLOURS.len()];
            let marker = MARKERS[i % MARKERS.len()];
            let screen: Vec<(f64, f64)> = points
                .iter()
                .map(|&(x, y)| (x_axis.to_screen_x(x), y_axis.to_screen_y(y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            let mut coords = String::with_capacity(screen.len() * 12);
            for (x, y) in &screen {
                let _ = write!(coords, "{},{} ", f(*x), f(*y));
            }
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
                 stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"{}\"/>",
                coords.trim_end()
            );
            if screen.len() <= MAX_MARKERS {
                let _ = writeln!(
                    svg,
                    "<g fill=\"{colour}\" stroke=\"white\" stroke-width=\"0.8\">"
                );
                for &(x, y) in &screen {
                    draw_marker(&mut svg, marker, x, y, 3.5);
                }
                svg.push_str("</g>\n");
            }
        }
        self.draw_legend(&mut svg, &series);
        svg.push_str("</svg>\n");
        svg
    }

    fn draw_empty(&self, svg: &mut String) {
        frame(svg);
        self.draw_axis_labels(svg);
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"20\" fill=\"#888\">no data</text>",
            f((PLOT_LEFT + PLOT_RIGHT) / 2.0),
            f((PLOT_TOP + PLOT_BOTTOM) / 2.0)
        );
    }

    fn draw_axis_labels(&self, svg: &mut String) {
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
            f((PLOT_LEFT + PLOT_RIGHT) / 2.0),
            f(PLOT_BOTTOM + 44.0),
            escape(&self.x_label)
        );
        let (x, y) = (18.0, (PLOT_TOP + PLOT_BOTTOM) / 2.0);
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\" \
             transform=\"rotate(-90 {x} {})\">{}</text>",
            f(y),
            f(y),
            escape(&self.y_label)
        );
    }

    fn draw_legend(&self, svg: &mut String, drawn: &[Vec<(f64, f64)>]) {
        if self.series.is_empty() {
            return;
        }
        let step = ((HEIGHT - PLOT_TOP - 8.0) / self.series.len() as f64).min(20.0);
        svg.push_str("<g font-size=\"12\">\n");
        for (i, s) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let y = PLOT_TOP + 8.0 + step * i as f64;
            let (x0, x1) = (LEGEND_LEFT, LEGEND_LEFT + 24.0);
            let empty = drawn.get(i).is_none_or(|p| p.is_empty());
            let mut name = shorten(&s.name, LEGEND_MAX_CHARS);
            if empty {
                name.push_str(" (no data)");
            } else {
                let _ = writeln!(
                    svg,
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                    f(x0),
                    f(y),
                    f(x1),
                    f(y)
                );
                let _ = writeln!(
                    svg,
                    "<g fill=\"{colour}\" stroke=\"white\" stroke-width=\"0.8\">"
                );
                draw_marker(svg, MARKERS[i % MARKERS.len()], (x0 + x1) / 2.0, y, 3.5);
                svg.push_str("</g>\n");
            }
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\"{}>{}</text>",
                f(x1 + 6.0),
                f(y + 4.0),
                if empty { " fill=\"#888\"" } else { "" },
                escape(&name)
            );
        }
        svg.push_str("</g>\n");
    }
}

/// Whether `v` can be placed on an axis of `scale`.
fn drawable(v: f64, scale: Scale) -> bool {
    match scale {
        Scale::Linear => v.is_finite(),
        // Subnormals have no usable logarithm range; no measurement is one.
        Scale::Log10 => v.is_finite() && v >= f64::MIN_POSITIVE,
    }
}

/// One tick on an axis: where it is, and its label if it has one
/// (unlabelled ticks are faint minor grid lines).
#[derive(Debug, Clone, PartialEq)]
struct Tick {
    value: f64,
    label: Option<String>,
}

/// An axis fitted to data: the range it shows and its ticks.
#[derive(Debug, Clone)]
struct Axis {
    scale: Scale,
    /// The shown range, in axis units: the value itself on a linear axis,
    /// its base-10 logarithm on a log axis.
    lo: f64,
    hi: f64,
    ticks: Vec<Tick>,
}

impl Axis {
    /// The axis for `values` (all [`drawable`]), or `None` when there are none.
    fn fit(scale: Scale, values: impl Iterator<Item = f64>) -> Option<Axis> {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            min = min.min(v);
            max = max.max(v);
        }
        if min > max {
            return None;
        }
        match scale {
            Scale::Linear => {
                if min >= 0.0 && min <= max / 2.0 {
                    min = 0.0;
                } else if max <= 0.0 && max >= min / 2.0 {
                    max = 0.0;
                }
                let (lo, hi, ticks) = linear_ticks(min, max);
                Some(Axis {
                    scale,
                    lo,
                    hi,
                    ticks,
                })
            }
            Scale::Log10 => {
                let (lo, hi, ticks) = log_ticks(min, max);
                Some(Axis {
                    scale,
                    lo,
                    hi,
                    ticks,
                })
            }
        }
    }

    /// Where `v` falls on the axis, 0 at the low end and 1 at the high end.
    fn fraction(&self, v: f64) -> f64 {
        let u = match self.scale {
            Scale::Linear => v,
            Scale::Log10 => v.log10(),
        };
        // Halves, so that a range spanning most of f64 cannot overflow.
        (u / 2.0 - self.lo / 2.0) / (self.hi / 2.0 - self.lo / 2.0)
    }

    fn to_screen_x(&self, v: f64) -> f64 {
        PLOT_LEFT + self.fraction(v) * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn to_screen_y(&self, v: f64) -> f64 {
        PLOT_BOTTOM - self.fraction(v) * (PLOT_BOTTOM - PLOT_TOP)
    }
}

fn frame(svg: &mut String) {
    let _ = writeln!(
        svg,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>",
        f(PLOT_LEFT),
        f(PLOT_TOP),
        f(PLOT_RIGHT - PLOT_LEFT),
        f(PLOT_BOTTOM - PLOT_TOP)
    );
}

/// Labelled ticks get a darker grid line than the minor ones.
fn grid_stroke(t: &Tick) -> &'static str {
    if t.label.is_some() {
        "#d8d8d8"
    } else {
        "#f0f0f0"
    }
}

fn draw_grid(svg: &mut String, x_axis: &Axis, y_axis: &Axis) {
    svg.push_str("<g stroke-width=\"1\">\n");
    for t in &x_axis.ticks {
        let x = x_axis.to_screen_x(t.value);
        if !x.is_finite() {
            continue;
        }
        let stroke = grid_stroke(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{stroke}\"/>",
            f(PLOT_TOP),
            f(PLOT_BOTTOM),
            x = f(x)
        );
    }
    for t in &y_axis.ticks {
        let y = y_axis.to_screen_y(t.value);
        if !y.is_finite() {
            continue;
        }
        let stroke = grid_stroke(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{stroke}\"/>",
            f(PLOT_LEFT),
            f(PLOT_RIGHT),
            y = f(y)
        );
    }
    svg.push_str("</g>\n");
    frame(svg);

    svg.push_str("<g stroke=\"#444\">\n");
    for t in x_axis.ticks.iter().filter(|t| t.label.is_some()) {
        let x = f(x_axis.to_screen_x(t.value));
        let _ = writeln!(
            svg,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
            f(PLOT_BOTTOM),
            f(PLOT_BOTTOM + 5.0)
        );
    }
    for t in y_axis.ticks.iter().filter(|t| t.label.is_some()) {
        let y = f(y_axis.to_screen_y(t.value));
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            f(PLOT_LEFT - 5.0),
            f(PLOT_LEFT)
        );
    }
    svg.push_str("</g>\n");

    svg.push_str("<g font-size=\"11\" fill=\"#444\">\n");
    for t in &x_axis.ticks {
        if let Some(label) = &t.label {
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                f(x_axis.to_screen_x(t.value)),
                f(PLOT_BOTTOM + 19.0),
                escape(label)
            );
        }
    }
    for t in &y_axis.ticks {
        if let Some(label) = &t.label {
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                f(PLOT_LEFT - 8.0),
                f(y_axis.to_screen_y(t.value) + 4.0),
                escape(label)
            );
        }
    }
    svg.push_str("</g>\n");
}

fn draw_marker(svg: &mut String, marker: Marker, x: f64, y: f64, r: f64) {
    let _ = match marker {
        Marker::Circle => writeln!(
            svg,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\"/>",
            f(x),
            f(y),
            f(r)
        ),
        Marker::Square => writeln!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            f(x - r),
            f(y - r),
            f(2.0 * r),
            f(2.0 * r)
        ),
        Marker::Diamond => {
            let d = r * 1.3;
            writeln!(
                svg,
                "<polygon points=\"{},{} {},{} {},{} {},{}\"/>",
                f(x),
                f(y - d),
                f(x + d),
                f(y),
                f(x),
                f(y + d),
                f(x - d),
                f(y)
            )
        }
        Marker::Triangle => {
            let d = r * 1.3;
            writeln!(
                svg,
                "<polygon points=\"{},{} {},{} {},{}\"/>",
                f(x),
                f(y - d),
                f(x + d),
                f(y + d * 0.75),
                f(x - d),
                f(y + d * 0.75)
            )
        }
    };
}

/// Ticks for a linear axis over `[min, max]`: the smallest step of 1, 2 or
/// 5 × 10ⁿ that needs at most [`MAX_LINEAR_INTERVALS`] intervals, and the
/// range widened to whole steps. Returns `(lo, hi, ticks)`.
fn linear_ticks(min: f64, max: f64) -> (f64, f64, Vec<Tick>) {
    let (min, max) = if min < max {
        (min, max)
    } else {
        // One value: give it some room, centred.
        let pad = if min == 0.0 { 1.0 } else { min.abs() / 10.0 };
        (min - pad, max + pad)
    };
    let span = max - min;
    if span.is_finite() && span > 0.0 {
        let magnitude = 10f64.powf((span / MAX_LINEAR_INTERVALS).log10().floor());
        for m in [1.0, 2.0, 5.0, 10.0, 20.0] {
            let step = m * magnitude;
            // Tolerate rounding: 0.12 / 0.01 is 11.999999999999998.
            let first = (min / step + 1e-6).floor();
            let last = (max / step - 1e-6).ceil();
            let intervals = last - first;
            let (lo, hi) = (first * step, last * step);
            if step > 0.0 && lo.is_finite() && hi.is_finite() && intervals <= MAX_LINEAR_INTERVALS {
                let ticks = (0..=intervals as u32)
                    .map(|i| {
                        let value = (first + f64::from(i)) * step;
                        Tick {
                            value,
                            label: Some(format_tick(value)),
                        }
                    })
                    .collect();
                return (lo, hi, ticks);
            }
        }
    }
    // Only for ranges near the limits of f64: label the ends.
    let ticks = [min, max].into_iter().map(|v| Tick {
        value: v,
        label: Some(format_tick(v)),
    });
    (min, max, ticks.collect())
}

/// Ticks for a log axis over `[min, max]` (both ≥ `f64::MIN_POSITIVE`):
/// the range widened to whole decades, a labelled tick per decade (every
/// few decades when there are many), faint ticks at 2–9 × 10ⁿ when there
/// are few decades, and labelled 2 and 5 × 10ⁿ when there are at most two.
/// Returns `(lo, hi, ticks)` with `lo` and `hi` as exponents.
fn log_ticks(min: f64, max: f64) -> (f64, f64, Vec<Tick>) {
    let lo = min.log10().floor();
    let mut hi = max.log10().ceil();
    if hi <= lo {
        hi = lo + 1.0;
    }
    let decades = hi - lo;
    // Keep about ten labels at most; exponents of f64 are within ±330.
    let stride = (decades / 10.0).ceil().max(1.0) as i32;
    let (lo_exp, hi_exp) = (lo as i32, hi as i32);
    let mut ticks = Vec::new();
    for e in lo_exp..=hi_exp {
        let decade = 10f64.powi(e);
        let label = ((e - lo_exp) % stride == 0).then(|| format_tick(decade));
        ticks.push(Tick {
            value: decade,
            label,
        });
        if e == hi_exp || decades > 6.0 {
            continue;
        }
        for m in 2..=9 {
            let label_minor = decades <= 2.0 && (m == 2 || m == 5);
            let value = f64::from(m) * decade;
            ticks.push(Tick {
                value,
                label: label_minor.then(|| format_tick(value)),
            });
        }
    }
    (lo, hi, ticks)
}

/// A tick label: at most a few significant digits, with k, M, G, T for
/// thousands upwards (10000 → "10k", 2500000 → "2.5M", 0.5 → "0.5").
fn format_tick(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    if !(1e-4..1e15).contains(&a) {
        let s = format!("{a:.3e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{sign}{}e{exponent}", trim_zeros(mantissa));
    }
    let (scaled, suffix, decimals) = if a >= 1e12 {
        (a / 1e12, "T", 3)
    } else if a >= 1e9 {
        (a / 1e9, "G", 3)
    } else if a >= 1e6 {
        (a / 1e6, "M", 3)
    } else if a >= 1e3 {
        (a / 1e3, "k", 3)
    } else {
        (a, "", 6)
    };
    format!(
        "{sign}{}{suffix}",
        trim_zeros(&format!("{scaled:.decimals$}"))
    )
}

/// "2.500" → "2.5", "3.000" → "3", "40" → "40".
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A coordinate with one decimal, the precision an 800-pixel image needs.
fn f(v: f64) -> String {
    let s = format!("{v:.1}");
    trim_zeros(&s).to_string()
}

/// `s` cut to `max` characters, ending in "…" if it was longer.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `s` as XML character data or attribute value: markup characters
/// escaped, and control characters XML 1.0 forbids dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throughput_chart() -> Chart {
        let flows = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];
        let series = |name: &str, mpps: [f64; 7]| Series {
            name: name.to_string(),
            points: flows.iter().copied().zip(mpps).collect(),
        };
        Chart {
            title: "veth throughput, 64-byte frames".to_string(),
            x_label: "flows".to_string(),
            y_label: "throughput (Mpps)".to_string(),
            x_scale: Scale::Log10,
            y_scale: Scale::Linear,
            series: vec![
                series("rvs-afxdp", [7.3, 7.2, 7.1, 6.8, 5.9, 4.1, 2.7]),
                series("rvs-afpacket", [2.1, 2.1, 2.0, 2.0, 1.8, 1.5, 1.1]),
                series("linux-bridge", [1.4, 1.4, 1.4, 1.3, 1.3, 1.2, 1.2]),
            ],
        }
    }

    /// Checks that every element is closed in order, and returns the names
    /// of the elements opened.
    fn balanced(svg: &str) -> Result<Vec<String>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut opened = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').ok_or("unterminated tag")? + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            let name = tag
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/');
            if name.is_empty() || tag.contains('<') {
                return Err(format!("bad tag <{tag}>"));
            }
            opened.push(name.to_string());
            if !tag.ends_with('/') {
                stack.push(name.to_string());
            }
        }
        if stack.is_empty() {
            Ok(opened)
        } else {
            Err(format!("unclosed {stack:?}"))
        }
    }

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn throughput_chart_is_well_formed() {
        let svg = throughput_chart().to_svg();
        let opened = balanced(&svg).unwrap();
        assert_eq!(opened.first().map(String::as_str), Some("svg"));
        assert_eq!(count(&svg, "<polyline"), 3);
        assert!(!svg.contains("no data"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        for label in ["1", "10", "100", "1k", "10k", "100k", "1M"] {
            assert!(svg.contains(&format!(">{label}</text>")), "x label {label}");
        }
        for label in ["0", "1", "2", "7", "8"] {
            assert!(svg.contains(&format!(">{label}</text>")), "y label {label}");
        }
        assert!(svg.contains(">rvs-afxdp</text>"));
    }

    #[test]
    fn text_is_escaped() {
        let mut chart = throughput_chart();
        chart.title = "a < b & \"c\" > d".to_string();
        chart.series[0].name = "<script>".to_string();
        chart.x_label = "x\u{0}\u{1b}".to_string();
        let svg = chart.to_svg();
        balanced(&svg).unwrap();
        assert!(svg.contains(">a &lt; b &amp; &quot;c&quot; &gt; d</text>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script"));
        assert!(!svg.contains('\u{0}') && !svg.contains('\u{1b}'));
    }

    #[test]
    fn no_data_is_still_a_document() {
        let mut chart = throughput_chart();
        chart.series.clear();
        let svg = chart.to_svg();
        balanced(&svg).unwrap();
        assert!(svg.contains(">no data</text>"));
        assert_eq!(count(&svg, "<polyline"), 0);

        // Nothing drawable: NaN, infinities, and values ≤ 0 on the log x axis.
        chart.series = vec![
            Series {
                name: "empty".to_string(),
                points: vec![],
            },
            Series {
                name: "junk".to_string(),
                points: vec![
                    (f64::NAN, 1.0),
                    (f64::INFINITY, 2.0),
                    (0.0, 3.0),
                    (-5.0, 4.0),
                    (3.0, f64::NAN),
                ],
            },
        ];
        let svg = chart.to_svg();
        balanced(&svg).unwrap();
        assert!(svg.contains(">no data</text>"));
        assert_eq!(count(&svg, "<polyline"), 0);
    }

    #[test]
    fn bad_points_are_skipped_and_empty_series_listed() {
        let mut chart = throughput_chart();
        chart.series[0].points.push((f64::NAN, 1.0));
        chart.series[0].points.push((0.0, 1.0));
        chart.series[1].points.clear();
        let svg = chart.to_svg();
        balanced(&svg).unwrap();
        assert_eq!(count(&svg, "<polyline"), 2);
        assert!(svg.contains("rvs-afpacket (no data)"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn dense_series_have_no_markers() {
        let cdf: Vec<(f64, f64)> = (1..=1000)
            .map(|i| (f64::from(i) / 10.0, f64::from(i) / 10.0))
            .collect();
        let chart = Chart {
            title: "latency".to_string(),
            x_label: "µs".to_string(),
            y_label: "percentile".to_string(),
            x_scale: Scale::Log10,
            y_scale: Scale::Linear,
            series: vec![Series {
                name: "rvs".to_string(),
                points: cdf,
            }],
        };
        let svg = chart.to_svg();
        balanced(&svg).unwrap();
        assert_eq!(count(&svg, "<polyline"), 1);
        // Only the legend's marker.
        assert_eq!(count(&svg, "<circle"), 1);
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let points = vec![
            (f64::MIN_POSITIVE, -f64::MAX),
            (f64::MAX, f64::MAX),
            (1.0, 0.0),
            (5e-324, 1.0),
        ];
        for (xs, ys) in [
            (Scale::Log10, Scale::Linear),
            (Scale::Linear, Scale::Log10),
            (Scale::Log10, Scale::Log10),
            (Scale::Linear, Scale::Linear),
        ] {
            let chart = Chart {
                title: String::new(),
                x_label: String::new(),
                y_label: String::new(),
                x_scale: xs,
                y_scale: ys,
                series: vec![
                    Series {
                        name: "wide".to_string(),
                        points: points.clone(),
                    },
                    Series {
                        name: "one point".to_string(),
                        points: vec![(1.0, 1.0)],
                    },
                ],
            };
            let svg = chart.to_svg();
            balanced(&svg).unwrap();
            assert!(!svg.contains("NaN"), "{xs:?} {ys:?}");
        }
    }

    #[test]
    fn tick_labels() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (10.0, "10"),
            (100.0, "100"),
            (999.0, "999"),
            (1000.0, "1k"),
            (2500.0, "2.5k"),
            (10000.0, "10k"),
            (100000.0, "100k"),
            (1000000.0, "1M"),
            (1500000.0, "1.5M"),
            (1e9, "1G"),
            (0.5, "0.5"),
            (0.12, "0.12"),
            (0.1 + 0.2, "0.3"),
            (0.001, "0.001"),
            (-2.0, "-2"),
            (-0.0, "0"),
            (1e-5, "1e-5"),
            (2.5e20, "2.5e20"),
        ];
        for (v, want) in cases {
            assert_eq!(format_tick(v), want, "{v}");
        }
    }

    fn labels(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().filter_map(|t| t.label.as_deref()).collect()
    }

    #[test]
    fn linear_ticks_are_round() {
        let (lo, hi, ticks) = linear_ticks(0.0, 7.3);
        assert_eq!((lo, hi), (0.0, 8.0));
        assert_eq!(
            labels(&ticks),
            ["0", "1", "2", "3", "4", "5", "6", "7", "8"]
        );

        let (lo, hi, ticks) = linear_ticks(0.12, 0.19);
        assert!(
            (lo - 0.12).abs() < 1e-12 && (hi - 0.19).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(
            labels(&ticks),
            ["0.12", "0.13", "0.14", "0.15", "0.16", "0.17", "0.18", "0.19"]
        );

        let (_, _, ticks) = linear_ticks(0.0, 100.0);
        assert_eq!(labels(&ticks), ["0", "20", "40", "60", "80", "100"]);

        let (_, _, ticks) = linear_ticks(-3.0, 12.0);
        assert_eq!(
            labels(&ticks),
            ["-4", "-2", "0", "2", "4", "6", "8", "10", "12"]
        );

        let (lo, hi, ticks) = linear_ticks(5.0, 5.0);
        assert!(lo < 5.0 && hi > 5.0 && ticks.len() >= 2);
    }

    #[test]
    fn log_ticks_are_decades() {
        let (lo, hi, ticks) = log_ticks(1.0, 1e6);
        assert_eq!((lo, hi), (0.0, 6.0));
        assert_eq!(
            labels(&ticks),
            ["1", "10", "100", "1k", "10k", "100k", "1M"]
        );
        // Faint lines at 2–9 × each decade below the top one.
        assert_eq!(ticks.len(), 7 + 6 * 8);

        let (lo, hi, ticks) = log_ticks(3.0, 700.0);
        assert_eq!((lo, hi), (0.0, 3.0));
        assert_eq!(labels(&ticks), ["1", "10", "100", "1k"]);

        // A narrow range gets 2 and 5 labelled too.
        let (_, _, ticks) = log_ticks(2.0, 40.0);
        assert_eq!(labels(&ticks), ["1", "2", "5", "10", "20", "50", "100"]);

        // One exact power of ten still gets a decade to sit in.
        let (lo, hi, _) = log_ticks(100.0, 100.0);
        assert_eq!((lo, hi), (2.0, 3.0));

        // Many decades: about ten labels, no minor lines.
        let (_, _, ticks) = log_ticks(1e-300, 1e300);
        assert!(labels(&ticks).len() <= 11 && ticks.len() == 601);
    }

    #[test]
    fn linear_axis_starts_at_zero_when_near() {
        let axis = Axis::fit(Scale::Linear, [2.0, 7.3].into_iter()).unwrap();
        assert_eq!((axis.lo, axis.hi), (0.0, 8.0));
        let axis = Axis::fit(Scale::Linear, [0.12, 0.19].into_iter()).unwrap();
        assert!(axis.lo > 0.1);
        let axis = Axis::fit(Scale::Linear, [-7.3, -2.0].into_iter()).unwrap();
        assert_eq!((axis.lo, axis.hi), (-8.0, 0.0));
    }

    #[test]
    #[ignore = "writes sample charts to /tmp for eyeballing"]
    fn write_samples() {
        std::fs::write(
            "/tmp/plot-sample-throughput.svg",
            throughput_chart().to_svg(),
        )
        .unwrap();
        // Latency CDFs: log-normal-ish, percentile on y.
        let cdf = |name: &str, median: f64, spread: f64| {
            let points = (0..=400)
                .map(|i| {
                    let p = f64::from(i) / 400.0 * 99.99;
                    // Inverse of a logistic in log space, good enough for a picture.
                    let q = (p / 100.0).clamp(1e-4, 1.0 - 1e-4);
                    let z = (q / (1.0 - q)).ln();
                    (median * (spread * z).exp(), p)
                })
                .collect();
            Series {
                name: name.to_string(),
                points,
            }
        };
        let chart = Chart {
            title: "Round-trip latency, 1k flows".to_string(),
            x_label: "latency (µs)".to_string(),
            y_label: "percentile".to_string(),
            x_scale: Scale::Log10,
            y_scale: Scale::Linear,
            series: vec![
                cdf("rvs-afxdp", 18.0, 0.25),
                cdf("rvs-afpacket", 45.0, 0.35),
                cdf("linux-bridge", 30.0, 0.5),
                cdf("ovs-dpdk with a very long name indeed", 12.0, 0.2),
            ],
        };
        std::fs::write("/tmp/plot-sample-latency.svg", chart.to_svg()).unwrap();
        // The same the other way round: percentile on x, latency on a log y.
        let mut flipped = chart.clone();
        flipped.x_label = "percentile".to_string();
        flipped.y_label = "latency (µs)".to_string();
        flipped.x_scale = Scale::Linear;
        flipped.y_scale = Scale::Log10;
        for s in &mut flipped.series {
            s.points = s.points.iter().map(|&(x, y)| (y, x)).collect();
        }
        std::fs::write("/tmp/plot-sample-percentile.svg", flipped.to_svg()).unwrap();
        let mut empty = chart.clone();
        empty.series.truncate(0);
        std::fs::write("/tmp/plot-sample-empty.svg", empty.to_svg()).unwrap();
    }
}
