//! The console's charts, drawn on the server as SVG.
//!
//! Why SVG from the server and not ECharts: the office's intranet has no internet and a strict
//! content policy is easy to keep with no script at all (`script-src 'none'`); a chart drawn on
//! the server prints exactly as it shows, needs no 1 MB library vendored and kept patched, and
//! can be checked by the tests as markup (each mark carries its figure and its link to the
//! facts behind it). The charts here are few and simple (weekly lines, shares, flows between
//! units), which SVG draws well.
//!
//! This module computes geometry only; the templates write the elements, so every label is
//! escaped by the template engine.

/// A horizontal bar with its label, figure and the link to the facts behind it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub note: String,
    pub href: String,
    pub y: u32,
    pub width: u32,
}

#[derive(Debug, Clone)]
pub struct Bars {
    pub height: u32,
    pub bars: Vec<Bar>,
}

/// Left margin for labels and the longest bar, in SVG units (the view box is 640 wide).
const LABEL_WIDTH: u32 = 150;
const BAR_SPACE: u32 = 400;
const ROW: u32 = 24;

/// `items`: (label, value, note, link).
pub fn bars(items: Vec<(String, u64, String, String)>) -> Bars {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let bars: Vec<Bar> = items
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, note, href))| Bar {
            label,
            value,
            note,
            href,
            y: u32::try_from(i).unwrap_or(0) * ROW,
            width: u32::try_from(value * u64::from(BAR_SPACE) / max).unwrap_or(BAR_SPACE).max(1),
        })
        .collect();
    Bars { height: u32::try_from(bars.len()).unwrap_or(0) * ROW + 4, bars }
}

impl Bars {
    pub fn label_width(&self) -> u32 {
        LABEL_WIDTH
    }
}

/// One point of a line, with its figure and its link.
#[derive(Debug, Clone)]
pub struct Point {
    pub x: u32,
    pub y: u32,
    pub value: u64,
    pub label: String,
    pub href: String,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    /// CSS class: the colour and dash of the series.
    pub class: String,
    pub points: Vec<Point>,
}

impl Line {
    /// The `points` attribute of the polyline.
    pub fn path(&self) -> String {
        self.points.iter().map(|p| format!("{},{}", p.x, p.y)).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Clone)]
pub struct Tick {
    pub at: u32,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct Lines {
    pub lines: Vec<Line>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
}

const PLOT_LEFT: u32 = 40;
const PLOT_WIDTH: u32 = 580;
const PLOT_TOP: u32 = 10;
const PLOT_HEIGHT: u32 = 160;

/// One line to draw: its name, its CSS class and its points (x label, value, link).
pub type Series = (String, String, Vec<(String, u64, String)>);

/// Lines over the same x positions (weeks).
pub fn lines(series: Vec<Series>) -> Lines {
    let max = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).max().unwrap_or(0).max(1);
    // A round top for the axis: 1, 2 or 5 times a power of ten.
    let mut top = 1u64;
    while top < max {
        top = match top.to_string().chars().next() {
            Some('1') => top * 2,
            Some('2') => top / 2 * 5,
            _ => top * 2,
        };
    }
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0);
    let x = |i: usize| {
        let step = if n > 1 { PLOT_WIDTH / u32::try_from(n - 1).unwrap_or(1) } else { 0 };
        PLOT_LEFT + u32::try_from(i).unwrap_or(0) * step
    };
    let y = |v: u64| PLOT_TOP + PLOT_HEIGHT - u32::try_from(v * u64::from(PLOT_HEIGHT) / top).unwrap_or(PLOT_HEIGHT);
    let x_ticks = series
        .first()
        .map(|s| {
            s.2.iter()
                .enumerate()
                .filter(|(i, _)| n <= 13 || i % 4 == 0)
                .map(|(i, p)| Tick { at: x(i), label: p.0.clone() })
                .collect()
        })
        .unwrap_or_default();
    // As many steps as divide the top evenly: 0, 25, 50, 75, 100; 0, 1, .. 5; 0, 1, 2.
    let steps = [4u64, 5, 2, 1].into_iter().find(|s| top.is_multiple_of(*s)).unwrap_or(1);
    let y_ticks = (0..=steps).map(|k| Tick { at: y(top * k / steps), label: (top * k / steps).to_string() }).collect();
    let lines = series
        .into_iter()
        .map(|(name, class, points)| Line {
            name,
            class,
            points: points
                .into_iter()
                .enumerate()
                .map(|(i, (label, value, href))| Point { x: x(i), y: y(value), value, label, href })
                .collect(),
        })
        .collect();
    Lines { lines, y_ticks, x_ticks }
}

/// A node of the flow chart: a unit on the left (where matters went first) or on the right
/// (where they went next).
#[derive(Debug, Clone)]
pub struct Node {
    pub label: String,
    pub y: u32,
    pub height: u32,
    pub total: u64,
}

/// A band from a left node to a right node, as wide as the matters that moved.
#[derive(Debug, Clone)]
pub struct Band {
    pub from: String,
    pub to: String,
    pub value: u64,
    /// The matters behind the band.
    pub href: String,
    pub path: String,
    pub width: u32,
}

#[derive(Debug, Clone)]
pub struct Flows {
    pub height: u32,
    pub left: Vec<Node>,
    pub right: Vec<Node>,
    pub bands: Vec<Band>,
}

const FLOW_GAP: u32 = 8;
const FLOW_SPAN: u32 = 360;
const FLOW_LEFT_X: u32 = 160;
const FLOW_RIGHT_X: u32 = 480;

/// One drawn move: from, to (unit names), matters, the link to them.
pub type Move = (String, String, u64, String);

/// A two-column Sankey diagram of moves between units. The most frequent `top` moves are drawn.
pub fn flows(mut moves: Vec<Move>, top: usize) -> Flows {
    moves.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    moves.truncate(top);
    let total: u64 = moves.iter().map(|m| m.2).sum::<u64>().max(1);
    let column = |pick: fn(&Move) -> &String| {
        let mut order: Vec<(String, u64)> = Vec::new();
        for m in &moves {
            match order.iter_mut().find(|(l, _)| l == pick(m)) {
                Some((_, n)) => *n += m.2,
                None => order.push((pick(m).clone(), m.2)),
            }
        }
        let mut y = 0;
        order
            .into_iter()
            .map(|(label, n)| {
                let height = u32::try_from(n * u64::from(FLOW_SPAN) / total).unwrap_or(FLOW_SPAN).max(2);
                let node = Node { label, y, height, total: n };
                y += height + FLOW_GAP;
                node
            })
            .collect::<Vec<Node>>()
    };
    let left = column(|m| &m.0);
    let right = column(|m| &m.1);
    let mut used_left: Vec<u32> = vec![0; left.len()];
    let mut used_right: Vec<u32> = vec![0; right.len()];
    let mut bands = Vec::new();
    for (from, to, value, href) in &moves {
        let (Some(li), Some(ri)) =
            (left.iter().position(|n| &n.label == from), right.iter().position(|n| &n.label == to))
        else {
            continue;
        };
        let width = u32::try_from(value * u64::from(FLOW_SPAN) / total).unwrap_or(FLOW_SPAN).max(1);
        let y0 = left[li].y + used_left[li] + width / 2;
        let y1 = right[ri].y + used_right[ri] + width / 2;
        used_left[li] += width;
        used_right[ri] += width;
        let mid = u32::midpoint(FLOW_LEFT_X, FLOW_RIGHT_X);
        bands.push(Band {
            from: from.clone(),
            to: to.clone(),
            value: *value,
            href: href.clone(),
            path: format!("M{FLOW_LEFT_X},{y0} C{mid},{y0} {mid},{y1} {FLOW_RIGHT_X},{y1}"),
            width,
        });
    }
    let height = left.iter().chain(&right).map(|n| n.y + n.height).max().unwrap_or(0) + 4;
    Flows { height, left, right, bands }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_bar_is_the_largest_figure_and_each_keeps_its_link() {
        let b = bars(vec![
            ("城乡建设".into(), 50, "50%".into(), "/a".into()),
            ("交通".into(), 25, "25%".into(), "/b".into()),
        ]);
        assert_eq!(b.bars[0].width, BAR_SPACE);
        assert_eq!(b.bars[1].width, BAR_SPACE / 2);
        assert_eq!(b.bars[1].href, "/b");
        assert_eq!(b.bars[1].y, ROW);
    }

    #[test]
    fn lines_share_a_round_axis_and_the_highest_point_is_highest() {
        let l = lines(vec![
            ("本期".into(), "now".into(), vec![("1".into(), 30, String::new()), ("2".into(), 70, String::new())]),
            ("上年同期".into(), "before".into(), vec![("1".into(), 10, String::new()), ("2".into(), 0, String::new())]),
        ]);
        assert_eq!(l.y_ticks.last().map(|t| t.label.as_str()), Some("100"));
        let ys: Vec<u32> = l.lines.iter().flat_map(|s| s.points.iter().map(|p| p.y)).collect();
        assert_eq!(ys.iter().min(), Some(&l.lines[0].points[1].y));
        assert_eq!(l.lines[1].points[1].y, PLOT_TOP + PLOT_HEIGHT, "zero sits on the axis");
    }

    #[test]
    fn flows_give_each_unit_one_node_as_tall_as_what_left_it() {
        let f = flows(
            vec![
                ("A".into(), "B".into(), 3, "/ab".into()),
                ("A".into(), "C".into(), 1, "/ac".into()),
                ("D".into(), "B".into(), 4, "/db".into()),
            ],
            10,
        );
        assert_eq!(f.left.iter().map(|n| (n.label.as_str(), n.total)).collect::<Vec<_>>(), [("D", 4), ("A", 4)]);
        assert_eq!(f.right.iter().map(|n| (n.label.as_str(), n.total)).collect::<Vec<_>>(), [("B", 7), ("C", 1)]);
        assert_eq!(f.bands.len(), 3);
        assert!(f.bands.iter().all(|b| b.path.starts_with("M160,")));
        assert_eq!(f.bands[0].href, "/db", "the largest first, with its link");
    }
}
