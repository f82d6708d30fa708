//! The rates, exactly as the source bulletin defines them (`shared/domain/FIGURES.md`), as pure
//! functions over counts. Each returns `None` when its denominator is zero: a unit with nothing
//! due shows no rate (a dash), not 0 % or 100 %. Rounding is half-up and happens once, at the
//! end, on the exact ratio: one decimal for petitions, two for the hotline, as printed.

use std::cmp::Ordering;

/// A percentage, exact until it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    numerator: u64,
    denominator: u64,
}

impl Rate {
    /// `numerator / denominator`, or `None` when there is nothing to divide by.
    pub fn of(numerator: u64, denominator: u64) -> Option<Self> {
        (denominator > 0).then_some(Self { numerator, denominator })
    }

    /// The percentage rounded half-up to `decimals` places, in units of 10^-decimals percent
    /// (e.g. 9775 for 97.75 % at two decimals). Integer arithmetic: no binary rounding error.
    pub fn scaled(self, decimals: u32) -> u64 {
        let scale = 100 * 10u64.pow(decimals);
        // round(n * scale / d) half-up = floor((2 n scale + d) / 2d)
        (2 * self.numerator * scale + self.denominator) / (2 * self.denominator)
    }

    /// The percentage as a number, rounded half-up to `decimals` places.
    pub fn percent(self, decimals: u32) -> f64 {
        self.scaled(decimals) as f64 / 10f64.powi(i32::try_from(decimals).unwrap_or(0))
    }

    /// "92.3%" style, as printed in the bulletin.
    pub fn display(self, decimals: u32) -> String {
        format!("{:.*}%", decimals as usize, self.percent(decimals))
    }

    /// The exact fraction, for checks and comparisons.
    pub fn fraction(self) -> (u64, u64) {
        (self.numerator, self.denominator)
    }

    /// Whether the exact rate is below `target_percent` (before any rounding).
    pub fn below(self, target_percent: f64) -> bool {
        (self.numerator as f64) * 100.0 < target_percent * self.denominator as f64
    }
}

impl PartialOrd for Rate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rate {
    fn cmp(&self, other: &Self) -> Ordering {
        (u128::from(self.numerator) * u128::from(other.denominator))
            .cmp(&(u128::from(other.numerator) * u128::from(self.denominator)))
    }
}

/// Decimal places the bulletin prints: petitions one, the hotline two.
pub const PETITION_DECIMALS: u32 = 1;
pub const HOTLINE_DECIMALS: u32 = 2;

/// 参评率 = (due - expired) / due.
pub fn participation(due: u64, expired: u64) -> Option<Rate> {
    Rate::of(due.saturating_sub(expired), due)
}

/// Petition 满意率 = (satisfied + basic) / rated.
pub fn petition_satisfaction(satisfied: u64, basic: u64, unsatisfied: u64) -> Option<Rate> {
    Rate::of(satisfied + basic, satisfied + basic + unsatisfied)
}

/// Hotline unit 群众满意率 = (completed - unsatisfied) / completed, in dispatches.
pub fn hotline_unit_satisfaction(completed: u64, unsatisfied: u64) -> Option<Rate> {
    Rate::of(completed.saturating_sub(unsatisfied), completed)
}

/// Hotline district 总体满意率 = (cases - unsatisfied cases) / cases, in cases.
pub fn hotline_district_satisfaction(cases: u64, unsatisfied_cases: u64) -> Option<Rate> {
    Rate::of(cases.saturating_sub(unsatisfied_cases), cases)
}

/// A year-on-year change, (this - last) / last, exact until it is shown (FIGURES.md): one
/// decimal, or two when its magnitude is under 1 % (2577 against 2575 is +0.0776 %: "0.08%",
/// not "0.1%"), rounded half-up on the magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    this: u64,
    last: u64,
}

impl Change {
    /// `None` when last year had nothing to compare with.
    pub fn of(this: u64, last: u64) -> Option<Self> {
        (last > 0).then_some(Self { this, last })
    }

    fn difference(self) -> u64 {
        self.this.abs_diff(self.last)
    }

    pub fn is_zero(self) -> bool {
        self.this == self.last
    }

    pub fn is_decrease(self) -> bool {
        self.this < self.last
    }

    /// Decimals it is printed with: two under 1 % in magnitude, else one.
    pub fn decimals(self) -> u32 {
        if u128::from(self.difference()) * 100 < u128::from(self.last) { 2 } else { 1 }
    }

    /// The magnitude in percent, rounded half-up to `decimals()`, as printed: "0.08", "17.7".
    pub fn magnitude(self) -> String {
        let decimals = self.decimals();
        let scaled = Rate { numerator: self.difference(), denominator: self.last }.scaled(decimals);
        let unit = 10u64.pow(decimals);
        format!("{}.{:0width$}", scaled / unit, scaled % unit, width = decimals as usize)
    }

    /// The signed change in percent, rounded as printed.
    pub fn percent(self) -> f64 {
        let magnitude = Rate { numerator: self.difference(), denominator: self.last }.percent(self.decimals());
        if self.is_decrease() { -magnitude } else { magnitude }
    }
}

/// The targets (强基促稳指标), configurable.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Petition participation, percent (70).
    pub participation: f64,
    /// Petition satisfaction, percent (85).
    pub petition_satisfaction: f64,
    /// Hotline unit satisfaction, percent (98).
    pub hotline_satisfaction: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Self { participation: 70.0, petition_satisfaction: 85.0, hotline_satisfaction: 98.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bulletin's year-on-year changes (FIGURES.md), and the small one it truncates.
    #[test]
    fn year_on_year_changes_print_as_the_figures_say() {
        let shown = |this, last| Change::of(this, last).map(|c| (c.is_decrease(), c.magnitude(), c.percent()));
        assert_eq!(shown(602, 614), Some((true, "2.0".to_owned(), -2.0)));
        assert_eq!(shown(144, 175), Some((true, "17.7".to_owned(), -17.7)));
        assert_eq!(shown(257, 180), Some((false, "42.8".to_owned(), 42.8)));
        assert_eq!(shown(2577, 2575), Some((false, "0.08".to_owned(), 0.08)));
        assert_eq!(shown(2575, 2577), Some((true, "0.08".to_owned(), -0.08)));
        // 1 % exactly is not under 1 %: one decimal.
        assert_eq!(shown(101, 100), Some((false, "1.0".to_owned(), 1.0)));
        assert_eq!(shown(5, 0), None);
        assert!(Change::of(7, 7).is_some_and(Change::is_zero));
    }

    fn show(r: Option<Rate>, decimals: u32) -> String {
        r.map_or_else(|| "-".to_owned(), |r| r.display(decimals))
    }

    /// Attachment 1: every row whose printed figures agree with its own columns, recomputed from
    /// its counts (due, expired, satisfied, basic, unsatisfied, printed participation, printed
    /// satisfaction). 区市场监管局 and 区退役军人局 contradict themselves (FIGURES.md) and are
    /// checked apart; a unit with nothing due shows no rate.
    #[test]
    fn attachment_1_rows_follow_from_their_counts() {
        /// unit, due, expired, satisfied, basic, unsatisfied, printed participation, printed satisfaction
        type Row = (&'static str, u64, u64, u64, u64, u64, &'static str, &'static str);
        let rows: &[Row] = &[
            ("城建集团", 4, 0, 4, 0, 0, "100.0%", "100.0%"),
            ("鲤城生态环境局", 2, 0, 1, 1, 0, "100.0%", "100.0%"),
            ("文旅集团", 1, 0, 1, 0, 0, "100.0%", "100.0%"),
            ("区卫健局", 1, 0, 1, 0, 0, "100.0%", "100.0%"),
            ("区文旅局", 1, 0, 0, 1, 0, "100.0%", "100.0%"),
            ("高新区", 1, 0, 1, 0, 0, "100.0%", "100.0%"),
            ("区城管局", 13, 1, 7, 2, 3, "92.3%", "75.0%"),
            ("区教育局", 4, 1, 1, 2, 0, "75.0%", "100.0%"),
            // 区住建局 prints 12 expired, but its ratings add to 12 rated of 21 due, and its printed
            // 57.1 % is 12 / 21: the expired cell is a misprint for 9 (checked below).
            ("区住建局", 21, 9, 8, 2, 2, "57.1%", "83.3%"),
            ("区人社局", 24, 18, 2, 3, 1, "25.0%", "83.3%"),
            ("区税务局", 8, 7, 0, 0, 1, "12.5%", "0.0%"),
            ("商业集团", 1, 1, 0, 0, 0, "0.0%", "-"),
            ("金龙街道", 1, 0, 1, 0, 0, "100.0%", "100.0%"),
            ("临江街道", 1, 0, 1, 0, 0, "100.0%", "100.0%"),
            ("海滨街道", 7, 0, 7, 0, 0, "100.0%", "100.0%"),
            ("江南街道", 5, 1, 3, 0, 1, "80.0%", "75.0%"),
            ("鲤中街道", 3, 1, 1, 1, 0, "66.7%", "100.0%"),
            ("常泰街道", 3, 1, 2, 0, 0, "66.7%", "100.0%"),
            ("开元街道", 2, 1, 1, 0, 0, "50.0%", "100.0%"),
            ("浮桥街道", 0, 0, 0, 0, 0, "-", "-"),
        ];
        for (unit, due, expired, sat, basic, unsat, part, satisfaction) in rows {
            assert_eq!(sat + basic + unsat, due - expired, "{unit}: rated = due - expired");
            assert_eq!(show(participation(*due, *expired), PETITION_DECIMALS), *part, "{unit} participation");
            assert_eq!(
                show(petition_satisfaction(*sat, *basic, *unsat), PETITION_DECIMALS),
                *satisfaction,
                "{unit} satisfaction"
            );
        }
    }

    #[test]
    fn the_rows_that_contradict_themselves_are_recomputed_from_the_counts() {
        // 区市场监管局: 6 due, 2 expired, but 2 + 1 + 2 = 5 rated; printed 50 % fits none of it.
        assert_ne!(2 + 1 + 2, 6 - 2);
        assert_eq!(show(petition_satisfaction(2, 1, 2), 1), "60.0%");
        // 区住建局: 21 due and 12 expired would be 42.9 %; the printed 57.1 % is 12 rated of 21.
        assert_eq!(show(participation(21, 12), 1), "42.9%");
        assert_eq!(show(participation(21, 21 - (8 + 2 + 2)), 1), "57.1%");
        // 区退役军人局: 2 due, 2 expired, printed participation 100 %: it is 0 %.
        assert_eq!(show(participation(2, 2), 1), "0.0%");
    }

    /// Attachment 3 (and 2): every consistent row, (completed - unsatisfied) / completed.
    #[test]
    fn attachment_3_rows_follow_from_their_counts() {
        let rows: &[(&str, u64, u64, &str)] = &[
            ("区教育局", 225, 0, "100.00%"),
            ("区卫健局", 117, 0, "100.00%"),
            ("鲤城生态环境局", 89, 0, "100.00%"),
            ("区税务局", 19, 0, "100.00%"),
            ("区人社局", 171, 1, "99.42%"),
            ("区市场监管局", 288, 2, "99.31%"),
            ("区自然资源局", 23, 1, "95.65%"),
            ("区消防救援大队", 43, 2, "95.35%"),
            ("鲤城城建集团", 41, 2, "95.12%"),
            ("江南街道办事处", 89, 0, "100.00%"),
            ("常泰街道办事处", 56, 0, "100.00%"),
            ("海滨街道办事处", 95, 1, "98.95%"),
            ("金龙街道办事处", 91, 1, "98.90%"),
            ("开元街道办事处", 175, 2, "98.86%"),
            ("临江街道办事处", 87, 1, "98.85%"),
            ("鲤中街道办事处", 169, 3, "98.22%"),
            ("浮桥街道办事处", 77, 3, "96.10%"),
        ];
        for (unit, completed, unsat, printed) in rows {
            assert_eq!(show(hotline_unit_satisfaction(*completed, *unsat), HOTLINE_DECIMALS), *printed, "{unit}");
        }
        // 区城管局 (94.80 %) and 区住建局 (96.37 %) do not follow from their own columns.
        assert_ne!(show(hotline_unit_satisfaction(498, 27), 2), "94.80%");
        assert_ne!(show(hotline_unit_satisfaction(355, 13), 2), "96.37%");
    }

    #[test]
    fn the_district_rate_is_over_cases() {
        assert_eq!(show(hotline_district_satisfaction(2577, 58), HOTLINE_DECIMALS), "97.75%");
        assert!(hotline_district_satisfaction(2577, 58).is_some_and(|r| r.below(98.0)));
    }

    #[test]
    fn rounding_is_half_up_once_on_the_exact_ratio() {
        // 1/8 = 12.5 % exactly: one decimal keeps it; none rounds half up to 13.
        assert_eq!(Rate::of(1, 8).map(|r| r.scaled(0)), Some(13));
        // 2/3 = 66.666... -> 66.7 (one decimal), 66.67 (two).
        assert_eq!(show(Rate::of(2, 3), 1), "66.7%");
        assert_eq!(show(Rate::of(2, 3), 2), "66.67%");
        // 0.5 of the last place rounds up: 1/16 = 6.25 % -> 6.3 %.
        assert_eq!(show(Rate::of(1, 16), 1), "6.3%");
        assert!(Rate::of(1, 3) < Rate::of(1, 2));
    }

    #[test]
    fn nothing_due_shows_no_rate() {
        assert_eq!(participation(0, 0), None);
        assert_eq!(petition_satisfaction(0, 0, 0), None);
        assert_eq!(hotline_unit_satisfaction(0, 0), None);
    }
}
