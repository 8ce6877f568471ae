//! The service report's chart (`!report`'s attachment, `opsdesk report
//! --format png`): incidents logged each UTC day stacked by priority, the
//! day's resolution-SLA `% met` as a line on a right-hand 0–100 % axis, axis
//! labels, a legend and a title with the period and filters.
//!
//! Pure: report figures in, PNG bytes out. Drawn in memory with `plotters`
//! on its bitmap backend, with the DejaVu Sans font embedded in the binary
//! (`assets/fonts/`), so no system font, file or external service is used.
//! The picture is a fixed [`CHART_WIDTH`]×[`CHART_HEIGHT`] on its own opaque
//! light panel with dark ink, so it reads the same in Discord's dark and
//! light themes; the priority colours are the cards' colours, darkened where
//! a light panel needs it.

use std::sync::OnceLock;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::domain::report::{Day, Report};

/// The chart's size in pixels; fixed, so every chart fits the card alike.
pub const CHART_WIDTH: u32 = 1000;
pub const CHART_HEIGHT: u32 = 500;
/// The attachment's file name (the card's image is `attachment://report.png`).
pub const CHART_FILE: &str = "report.png";

/// The embedded font: DejaVu Sans (Bitstream Vera licence, see
/// `assets/fonts/DejaVuSans-LICENSE`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name the font is registered under for plotters.
const FAMILY: &str = "opsdesk-sans";

/// The panel, its ink and its grid.
const PANEL: RGBColor = RGBColor(0xF7, 0xF8, 0xFA);
const INK: RGBColor = RGBColor(0x23, 0x27, 0x2A);
const MUTED: RGBColor = RGBColor(0x5C, 0x63, 0x6E);
const GRID: RGBColor = RGBColor(0xDF, 0xE2, 0xE7);
/// P1 to P5, as the cards' tones (P3's yellow darkened to read on the panel).
pub const PRIORITY_COLOURS: [RGBColor; 5] = [
    RGBColor(0xD0, 0x30, 0x30),
    RGBColor(0xE6, 0x7E, 0x22),
    RGBColor(0xD4, 0xA0, 0x00),
    RGBColor(0x34, 0x98, 0xDB),
    RGBColor(0x95, 0xA5, 0xA6),
];
/// The SLA line: a dark green no priority uses.
pub const SLA_COLOUR: RGBColor = RGBColor(0x1E, 0x84, 0x49);

/// Why a chart could not be drawn (the font did not load, or plotters failed).
#[derive(Debug, thiserror::Error)]
#[error("the report chart could not be drawn: {0}")]
pub struct ChartError(String);

fn font() -> Result<(), ChartError> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    if *LOADED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        Err(ChartError("the embedded font is not a font".into()))
    }
}

fn drawing<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError(format!("{e:?}"))
}

/// The chart's title: what it shows, the period and the filters.
fn chart_title(r: &Report) -> String {
    let mut t = format!(
        "Incidents per day by priority · {}",
        super::report_period(&r.query.period)
    );
    if let Some(s) = &r.query.service {
        t.push_str(&format!(" · service {s}"));
    }
    if let Some(p) = r.query.priority {
        t.push_str(&format!(" · {p}"));
    }
    t
}

/// What the chart says when the period logged nothing.
const NO_INCIDENTS: &str = "No incidents logged in this period";
const X_AXIS: &str = "Day logged (UTC)";
const Y_AXIS: &str = "Incidents logged";
const Y2_AXIS: &str = "Resolution SLA met (%)";
const SLA_LEGEND: &str = "Resolution SLA met %";

/// The report's chart as PNG bytes, [`CHART_WIDTH`]×[`CHART_HEIGHT`].
pub fn report_chart(r: &Report) -> Result<Vec<u8>, ChartError> {
    font()?;
    let (w, h) = (CHART_WIDTH, CHART_HEIGHT);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(r, &mut rgb)?;
    let mut png_bytes = Vec::with_capacity(64 * 1024);
    let mut encoder = png::Encoder::new(&mut png_bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(drawing)?;
    writer.write_image_data(&rgb).map_err(drawing)?;
    writer.finish().map_err(drawing)?;
    Ok(png_bytes)
}

fn draw(r: &Report, rgb: &mut [u8]) -> Result<(), ChartError> {
    let days: &[Day] = &r.days;
    // A period always has a day; a chart of none still draws one empty day.
    let n = days.len().max(1);
    let last = i32::try_from(n - 1).unwrap_or(i32::MAX);
    let totals: Vec<u32> = days.iter().map(|d| d.by_priority.iter().sum()).collect();
    let busiest = totals.iter().copied().max().unwrap_or(0);
    // Head room above the tallest bar, and at least 0–4 so one incident is not a wall.
    let y_max = (busiest + busiest.div_ceil(8)).max(4);

    let root = BitMapBackend::with_buffer(rgb, (CHART_WIDTH, CHART_HEIGHT)).into_drawing_area();
    root.fill(&PANEL).map_err(drawing)?;
    let (head, body) = root.split_vertically(64);
    let title = (FAMILY, 19).into_font().color(&INK);
    head.draw(&Text::new(chart_title(r), (16, 10), title))
        .map_err(drawing)?;
    legend(&head)?;

    let label = (FAMILY, 13).into_font().color(&INK);
    let desc = (FAMILY, 14).into_font().color(&MUTED);
    let mut chart = ChartBuilder::on(&body)
        .margin_left(8)
        .margin_right(8)
        .margin_bottom(6)
        .margin_top(4)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .right_y_label_area_size(64)
        .build_cartesian_2d((0..last).into_segmented(), 0u32..y_max)
        .map_err(drawing)?
        .set_secondary_coord((0..last).into_segmented(), 0u32..100u32);

    // Past a quarter the days span a new year: say which.
    let date_format = if n > 92 { "%Y-%m-%d" } else { "%m-%d" };
    let date_of = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| days.get(i))
            .map(|d| d.date.format(date_format).to_string())
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED)
        .x_labels(n.min(12))
        .x_label_formatter(&date_of)
        .y_labels(6)
        .y_label_formatter(&|v| v.to_string())
        .x_desc(X_AXIS)
        .y_desc(Y_AXIS)
        .label_style(label.clone())
        .axis_desc_style(desc.clone())
        .draw()
        .map_err(drawing)?;
    chart
        .configure_secondary_axes()
        .axis_style(MUTED)
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v}%"))
        .y_desc(Y2_AXIS)
        .label_style(label)
        .axis_desc_style(desc)
        .draw()
        .map_err(drawing)?;

    // A gap between bars where a day is wide enough to show one.
    let day_px = (CHART_WIDTH - 150) / n as u32;
    let gap = if day_px >= 6 { (day_px / 6).min(8) } else { 0 };
    let right_of = |i: usize| {
        if i + 1 >= n {
            SegmentValue::Last
        } else {
            SegmentValue::Exact(i32::try_from(i + 1).unwrap_or(i32::MAX))
        }
    };
    for (p, colour) in PRIORITY_COLOURS.iter().enumerate() {
        let bars = days.iter().enumerate().filter_map(|(i, d)| {
            let count = d.by_priority[p];
            let below: u32 = d.by_priority[..p].iter().sum();
            let left = SegmentValue::Exact(i32::try_from(i).unwrap_or(i32::MAX));
            (count > 0).then(|| {
                let mut bar = Rectangle::new([(left, below), (right_of(i), below + count)], colour.filled());
                bar.set_margin(0, 0, gap, gap);
                bar
            })
        });
        chart.draw_series(bars).map_err(drawing)?;
    }

    // The SLA line joins consecutive days that have a figure; a day with no
    // decided clock breaks it; every figure is a dot.
    let points: Vec<(usize, u32)> = days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.sla_met_percent.map(|p| (i, p.min(100))))
        .collect();
    let at = |i: usize| SegmentValue::CenterOf(i32::try_from(i).unwrap_or(i32::MAX));
    let line = ShapeStyle::from(SLA_COLOUR).stroke_width(3);
    for run in points.chunk_by(|a, b| b.0 == a.0 + 1) {
        if run.len() > 1 {
            chart
                .draw_secondary_series(LineSeries::new(run.iter().map(|&(i, p)| (at(i), p)), line))
                .map_err(drawing)?;
        }
    }
    let dot = if n > 60 { 2 } else { 4 };
    chart
        .draw_secondary_series(
            points
                .iter()
                .map(|&(i, p)| Circle::new((at(i), p), dot, SLA_COLOUR.filled())),
        )
        .map_err(drawing)?;

    if busiest == 0 {
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let caption = (FAMILY, 22)
            .into_font()
            .color(&MUTED)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ));
        let centre = (i32::try_from(pw / 2).unwrap_or(0), i32::try_from(ph / 2).unwrap_or(0));
        chart
            .plotting_area()
            .strip_coord_spec()
            .draw(&Text::new(NO_INCIDENTS, centre, caption))
            .map_err(drawing)?;
    }
    root.present().map_err(drawing)?;
    Ok(())
}

/// The legend, in the head under the title: a swatch per priority and the line.
fn legend<DB: DrawingBackend>(head: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), ChartError> {
    let style = (FAMILY, 14).into_font().color(&INK);
    let (mut x, y) = (16, 40);
    for (p, colour) in PRIORITY_COLOURS.iter().enumerate() {
        head.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], colour.filled()))
            .map_err(drawing)?;
        head.draw(&Text::new(format!("P{}", p + 1), (x + 20, y), style.clone()))
            .map_err(drawing)?;
        x += 62;
    }
    x += 10;
    head.draw(&PathElement::new(
        vec![(x, y + 7), (x + 28, y + 7)],
        ShapeStyle::from(SLA_COLOUR).stroke_width(3),
    ))
    .map_err(drawing)?;
    head.draw(&Circle::new((x + 14, y + 7), 4, SLA_COLOUR.filled()))
        .map_err(drawing)?;
    head.draw(&Text::new(SLA_LEGEND, (x + 36, y), style)).map_err(drawing)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::{TimeDelta, TimeZone, Utc};

    use super::*;
    use crate::domain::incident::IncidentId;
    use crate::domain::priority::Priority;
    use crate::domain::report::{IncidentFacts, Period, ReportQuery, SlaResult};

    /// A decoded chart: width, height and RGB pixels.
    struct Picture {
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    }

    impl Picture {
        fn decode(bytes: &[u8]) -> Self {
            let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut reader = decoder.read_info().expect("a PNG header");
            let mut rgb = vec![0; reader.output_buffer_size().expect("a known size")];
            let info = reader.next_frame(&mut rgb).expect("a PNG frame");
            assert_eq!(info.color_type, png::ColorType::Rgb);
            rgb.truncate(info.buffer_size());
            Self {
                width: info.width,
                height: info.height,
                rgb,
            }
        }

        fn at(&self, x: u32, y: u32) -> RGBColor {
            let i = ((y * self.width + x) * 3) as usize;
            RGBColor(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
        }

        /// The pixels of `colour` below the title and legend, as `(x, y)`.
        fn below_head(&self, colour: RGBColor) -> Vec<(u32, u32)> {
            (64..self.height)
                .flat_map(|y| (0..self.width).map(move |x| (x, y)))
                .filter(|&(x, y)| self.at(x, y) == colour)
                .collect()
        }

        fn colours(&self) -> usize {
            self.rgb
                .chunks(3)
                .map(|c| (c[0], c[1], c[2]))
                .collect::<HashSet<_>>()
                .len()
        }
    }

    fn facts(day: i64, priority: u8, resolution: SlaResult, from: chrono::DateTime<Utc>) -> IncidentFacts {
        IncidentFacts {
            id: IncidentId::from_row(day * 10 + i64::from(priority)),
            priority: Priority::from_level(priority.into()).unwrap(),
            service: None,
            logged_at: from + TimeDelta::days(day) + TimeDelta::hours(9),
            first_response_at: None,
            resolved_at: None,
            reopened_at: None,
            cancelled: false,
            response: None,
            resolution: Some(resolution),
            satisfaction: None,
            functional_escalations: 0,
            hierarchical_escalations: 0,
            major: false,
        }
    }

    fn report(days: i64, incidents: &[IncidentFacts]) -> Report {
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let query = ReportQuery {
            period: Period {
                from,
                to: from + TimeDelta::days(days),
            },
            service: Some("email".into()),
            priority: None,
        };
        Report::build(query, incidents, &[], &[])
    }

    /// Thirty days: every day some incidents, day 3 one of each priority.
    fn a_month() -> Report {
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let mut incidents = Vec::new();
        for day in 0..30 {
            for k in 0..(day % 4 + 1) {
                let result = if (day + k) % 3 == 0 {
                    SlaResult::Breached
                } else {
                    SlaResult::Met
                };
                incidents.push(facts(day, 1 + ((day + k) % 5) as u8, result, from));
            }
        }
        for p in 1..=5 {
            incidents.push(facts(3, p, SlaResult::Met, from));
        }
        // Distinct ids: the day's count decides nothing here but the bars.
        for (i, f) in incidents.iter_mut().enumerate() {
            f.id = IncidentId::from_row(i as i64 + 1);
        }
        report(30, &incidents)
    }

    #[test]
    fn a_month_of_incidents_is_a_png_of_the_fixed_size_with_stacked_bars_and_the_sla_line() {
        let r = a_month();
        let picture = Picture::decode(&report_chart(&r).unwrap());
        assert_eq!((picture.width, picture.height), (CHART_WIDTH, CHART_HEIGHT));
        // Not blank: bars, a line, anti-aliased text.
        assert!(picture.colours() > 100, "{} colours", picture.colours());
        for colour in PRIORITY_COLOURS.iter().chain([&SLA_COLOUR]) {
            assert!(picture.below_head(*colour).len() > 200, "{colour:?} is missing");
        }
        // Stacked P1 at the bottom to P5 on top: some column holds all five,
        // each priority's pixels above (smaller y) the one before.
        let columns: Vec<Vec<(u32, u32)>> = PRIORITY_COLOURS.iter().map(|c| picture.below_head(*c)).collect();
        let stacked = (0..picture.width).any(|x| {
            let lowest: Vec<Option<u32>> = columns
                .iter()
                .map(|px| px.iter().filter(|p| p.0 == x).map(|p| p.1).max())
                .collect();
            lowest.iter().all(Option::is_some) && lowest.windows(2).all(|w| w[0] > w[1])
        });
        assert!(stacked, "no column stacks P1 under P2 … under P5");
    }

    #[test]
    fn a_period_with_no_incidents_draws_the_axes_and_says_so() {
        let r = report(7, &[]);
        let picture = Picture::decode(&report_chart(&r).unwrap());
        assert_eq!((picture.width, picture.height), (CHART_WIDTH, CHART_HEIGHT));
        for colour in PRIORITY_COLOURS.iter().chain([&SLA_COLOUR]) {
            assert!(picture.below_head(*colour).is_empty(), "{colour:?} drawn without data");
        }
        // The caption is written across the middle of the plot.
        let middle = (picture.height / 2 - 20..picture.height / 2 + 30)
            .flat_map(|y| (300..700).map(move |x| (x, y)))
            .filter(|&(x, y)| picture.at(x, y) == MUTED)
            .count();
        assert!(middle > 50, "no caption: {middle} ink pixels");
        // The axes' labels and the legend are there.
        assert!(picture.colours() > 20, "{} colours", picture.colours());
    }

    #[test]
    fn a_year_long_period_still_draws_within_the_fixed_size() {
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let incidents: Vec<IncidentFacts> = (0..366)
            .map(|d| {
                let mut f = facts(d, 1 + (d % 5) as u8, SlaResult::Met, from);
                f.id = IncidentId::from_row(d + 1);
                f
            })
            .collect();
        let r = report(366, &incidents);
        assert_eq!(r.days.len(), 366);
        let picture = Picture::decode(&report_chart(&r).unwrap());
        assert_eq!((picture.width, picture.height), (CHART_WIDTH, CHART_HEIGHT));
        assert!(!picture.below_head(PRIORITY_COLOURS[0]).is_empty());
    }
}
