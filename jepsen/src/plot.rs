//! SVG plots of a run: latency over time (every completed operation, by outcome, on a log
//! scale) and throughput over time (completions per second, by outcome), each with the fault
//! windows shaded and labelled. Plain SVG text, no dependencies.

use std::fmt::Write;

use crate::history::{Completed, Kind};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 300.0;
const MARGIN: f64 = 50.0;

fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::Ok => "#2b8a3e",
        Kind::Fail => "#c92a2a",
        Kind::Info => "#e67700",
        Kind::Invoke => "#868e96",
    }
}

fn fault_colour(kind: &str) -> &'static str {
    match kind {
        "kill" => "#ffc9c9",
        "pause" => "#d0ebff",
        "partition" => "#fff3bf",
        _ => "#e5dbff",
    }
}

struct Frame {
    end_ms: u64,
    y_max: f64,
}

impl Frame {
    fn x(&self, ms: u64) -> f64 {
        MARGIN + (WIDTH - 2.0 * MARGIN) * ms as f64 / self.end_ms.max(1) as f64
    }

    fn y(&self, v: f64) -> f64 {
        HEIGHT - MARGIN - (HEIGHT - 2.0 * MARGIN) * (v / self.y_max.max(f64::EPSILON)).min(1.0)
    }
}

/// The plot's opening, the fault windows and the axes.
fn open(svg: &mut String, title: &str, frame: &Frame, faults: &[(String, u64, u64)], y_label: &str) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(svg, r#"<text x="{MARGIN}" y="20" font-size="14">{title}</text>"#);
    for (kind, s, e) in faults {
        let (x0, x1) = (frame.x(*s), frame.x(*e));
        let _ = write!(
            svg,
            r#"<rect x="{x0:.1}" y="{MARGIN}" width="{:.1}" height="{}" fill="{}" opacity="0.7"><title>{kind}</title></rect><text x="{x0:.1}" y="{}" fill="\#495057">{kind}</text>"#,
            (x1 - x0).max(1.0),
            HEIGHT - 2.0 * MARGIN,
            fault_colour(kind),
            MARGIN - 4.0
        );
    }
    let (x0, x1, y0, y1) = (MARGIN, WIDTH - MARGIN, HEIGHT - MARGIN, MARGIN);
    let _ = write!(
        svg,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#000"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#000"/>"##
    );
    let _ = write!(
        svg,
        r#"<text x="{x1}" y="{}" text-anchor="end">{:.0} s</text>"#,
        y0 + 15.0,
        frame.end_ms as f64 / 1000.0
    );
    let _ = write!(svg, r#"<text x="{x0}" y="{}">0</text>"#, y0 + 15.0);
    let _ = write!(svg, r#"<text x="5" y="{y1}">{y_label}</text>"#);
}

/// Latency (ms, log scale) of every completed operation against when it was invoked.
pub fn latency(ops: &[Completed], faults: &[(String, u64, u64)], end_ms: u64) -> String {
    let max = ops.iter().map(|o| o.latency_ms).max().unwrap_or(1).max(1);
    let frame = Frame { end_ms, y_max: ((max + 1) as f64).log10() };
    let mut svg = String::new();
    open(&mut svg, "latency (ms, log scale) over time", &frame, faults, &format!("{max} ms"));
    for o in ops {
        let y = frame.y(((o.latency_ms + 1) as f64).log10());
        let _ =
            write!(svg, r#"<circle cx="{:.1}" cy="{y:.1}" r="1.5" fill="{}"/>"#, frame.x(o.invoke_ms), colour(o.kind));
    }
    legend(&mut svg);
    svg.push_str("</svg>\n");
    svg
}

/// Completions per second, one line per outcome.
pub fn throughput(ops: &[Completed], faults: &[(String, u64, u64)], end_ms: u64) -> String {
    let seconds = (end_ms / 1000 + 1) as usize;
    let mut per: Vec<[u64; 3]> = vec![[0; 3]; seconds];
    for o in ops {
        let s = ((o.invoke_ms + o.latency_ms) / 1000) as usize;
        let i = match o.kind {
            Kind::Ok => 0,
            Kind::Fail => 1,
            _ => 2,
        };
        if let Some(b) = per.get_mut(s) {
            b[i] += 1;
        }
    }
    let max = per.iter().flat_map(|b| b.iter()).copied().max().unwrap_or(1).max(1);
    let frame = Frame { end_ms, y_max: max as f64 };
    let mut svg = String::new();
    open(&mut svg, "throughput (completions/s) over time", &frame, faults, &format!("{max}/s"));
    for (i, kind) in [Kind::Ok, Kind::Fail, Kind::Info].into_iter().enumerate() {
        let points: Vec<String> = per
            .iter()
            .enumerate()
            .map(|(s, b)| format!("{:.1},{:.1}", frame.x(s as u64 * 1000 + 500), frame.y(b[i] as f64)))
            .collect();
        let _ = write!(svg, r#"<polyline fill="none" stroke="{}" points="{}"/>"#, colour(kind), points.join(" "));
    }
    legend(&mut svg);
    svg.push_str("</svg>\n");
    svg
}

fn legend(svg: &mut String) {
    for (i, (kind, name)) in
        [(Kind::Ok, "ok"), (Kind::Fail, "fail"), (Kind::Info, "info (unknown)")].into_iter().enumerate()
    {
        let x = WIDTH - 260.0 + i as f64 * 70.0;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="10" width="10" height="10" fill="{}"/><text x="{}" y="19">{name}</text>"#,
            colour(kind),
            x + 14.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_svg_with_every_point_and_fault_window() {
        let ops: Vec<Completed> = (0..10)
            .map(|i| Completed {
                f: "append".into(),
                invoke_ms: i * 300,
                latency_ms: i * 10,
                kind: if i == 3 { Kind::Info } else { Kind::Ok },
            })
            .collect();
        let faults = vec![("kill".to_string(), 500, 1500), ("partition".to_string(), 2000, 2600)];
        let l = latency(&ops, &faults, 3000);
        assert!(l.starts_with("<svg") && l.trim_end().ends_with("</svg>"));
        assert_eq!(l.matches("<circle").count(), 10);
        assert_eq!(l.matches("<title>").count(), 2, "each fault window shaded");
        assert_eq!(l.matches(colour(Kind::Info)).count(), 2, "the unknown op and its legend");
        let t = throughput(&ops, &faults, 3000);
        assert_eq!(t.matches("<polyline").count(), 3);
        assert!(t.contains(">kill<") && t.contains(">partition<"));
    }
}
