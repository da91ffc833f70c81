//! SVG charts: bars of a figure per contender (the median as a bar, min to max as a
//! whisker), and lines of figures by a size on a log scale (median, min to max whiskers).
//!
//! plotters is built with only its SVG backend: text goes into the SVG as `<text>`, so no
//! system font is needed to draw, only to view.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::stats::Spread;

/// Draws one horizontal bar per `(label, spread)` into `path`.
pub fn bars(path: &Path, title: &str, unit: &str, rows: &[(String, Spread)]) -> anyhow::Result<()> {
    let height = 90 + 70 * rows.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = rows.iter().map(|(_, s)| s.max).fold(0.0, f64::max) * 1.25;
    let top = if top > 0.0 { top } else { 1.0 };
    let n = rows.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0.0..top, 0.0..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(unit)
        .x_label_formatter(&|v| human(*v))
        .draw()?;
    for (i, (label, spread)) in rows.iter().enumerate() {
        // The first row at the top.
        let y = n - 1.0 - i as f64;
        let colour = Palette99::pick(i).to_rgba();
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y + 0.15), (spread.median, y + 0.6)],
            colour.filled(),
        )))?;
        let mid = y + 0.375;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(spread.min, mid), (spread.max, mid)],
            BLACK.stroke_width(2),
        )))?;
        for end in [spread.min, spread.max] {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(end, y + 0.25), (end, y + 0.5)],
                BLACK.stroke_width(2),
            )))?;
        }
        let text = format!(
            "{label}: {} (min {}, max {})",
            human(spread.median),
            human(spread.min),
            human(spread.max)
        );
        chart.draw_series(std::iter::once(Text::new(
            text,
            (top * 0.005, y + 0.88),
            ("sans-serif", 15).into_font().color(&BLACK),
        )))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One line per `(label, points)`, each point `(x, spread)`, x on a log scale.
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, Spread)>)],
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let points = || series.iter().flat_map(|(_, points)| points.iter());
    let x_min = points().map(|(x, _)| *x).fold(f64::INFINITY, f64::min);
    let x_max = points().map(|(x, _)| *x).fold(0.0, f64::max);
    let (x_min, x_max) = if x_min.is_finite() && x_max > x_min {
        (x_min / 1.5, x_max * 1.5)
    } else {
        (1.0, 10.0)
    };
    let top = points().map(|(_, s)| s.max).fold(0.0, f64::max) * 1.15;
    let top = if top > 0.0 { top } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| human(*v))
        .draw()?;
    for (i, (label, points)) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(std::iter::once(PathElement::new(
                points
                    .iter()
                    .map(|(x, s)| (*x, s.median))
                    .collect::<Vec<_>>(),
                colour.stroke_width(2),
            )))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        for (x, s) in points {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(*x, s.min), (*x, s.max)],
                colour.stroke_width(1),
            )))?;
            chart.draw_series(std::iter::once(Circle::new(
                (*x, s.median),
                4,
                colour.filled(),
            )))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// 1234567 as "1.23M", 63700 as "63.7k": axis ticks and labels stay short.
pub fn human(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.2}M", v / 1e6),
        a if a >= 1e4 => format!("{:.1}k", v / 1e3),
        a if a >= 1e3 => format!("{:.2}k", v / 1e3),
        _ => format!("{v:.0}"),
    }
}
