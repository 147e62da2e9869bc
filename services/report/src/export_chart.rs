//! The chart sheet of a trend template's XLSX (a template whose first
//! dimension is the day): its rows are summed per day while they are
//! written (one entry per day, so memory stays small), and at the end a
//! sheet of the daily totals and a chart sheet of one line per measure
//! over it are added after the data sheets.

use std::collections::BTreeMap;
use std::ops::Range;

use rust_xlsxwriter::{Chart, ChartType, Format, Workbook};

use super::export::ExportError;
use super::table::{Cell, Column, Row};
use super::templates::Template;

/// The totals sheet and the chart sheet.
pub const DATA_SHEET: &str = "趋势数据";
pub const CHART_SHEET: &str = "趋势图";

/// Which columns a trend chart plots.
#[derive(Debug, Clone)]
pub struct Trend {
    day_col: usize,
    measures: Range<usize>,
}

impl Trend {
    /// The trend of `t` if it is one: the day first, measures last.
    pub fn of(t: &Template) -> Option<Trend> {
        (t.dims.first()?.key == "day" && !t.measures.is_empty()).then(|| Trend {
            day_col: 0,
            measures: t.dims.len()..t.dims.len() + t.measures.len(),
        })
    }
}

/// Daily totals of a trend, collected row by row.
pub struct TrendSums {
    trend: Trend,
    days: BTreeMap<String, Vec<i64>>,
}

impl TrendSums {
    pub fn new(trend: Trend) -> TrendSums {
        TrendSums {
            trend,
            days: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, row: &Row) {
        let day = row
            .get(self.trend.day_col)
            .map(|c| c.display().into_owned())
            .unwrap_or_default();
        let n = self.trend.measures.len();
        let sums = self.days.entry(day).or_insert_with(|| vec![0; n]);
        for (sum, cell) in sums.iter_mut().zip(&row[self.trend.measures.clone()]) {
            if let Cell::Int(v) = cell {
                *sum += v;
            }
        }
    }

    /// Adds the totals sheet and the chart sheet to `wb`.
    pub fn write(
        &self,
        wb: &mut Workbook,
        columns: &[Column],
        title: &str,
    ) -> Result<(), ExportError> {
        let measures = &columns[self.trend.measures.clone()];
        let ws = wb.add_worksheet();
        ws.set_name(DATA_SHEET)?;
        let bold = Format::new().set_bold();
        ws.write_string_with_format(0, 0, columns[self.trend.day_col].title, &bold)?;
        for (i, m) in measures.iter().enumerate() {
            ws.write_string_with_format(0, 1 + i as u16, m.title, &bold)?;
        }
        ws.set_column_width(0, 12)?;
        for (r, (day, sums)) in self.days.iter().enumerate() {
            let r = 1 + r as u32;
            ws.write_string(r, 0, day)?;
            for (i, v) in sums.iter().enumerate() {
                ws.write_number(r, 1 + i as u16, *v as f64)?;
            }
        }
        let mut chart = Chart::new(ChartType::Line);
        chart.title().set_name(title);
        chart.x_axis().set_name(columns[self.trend.day_col].title);
        // An empty export still gets its (empty) chart: one row of range.
        let last = self.days.len().max(1) as u32;
        for i in 0..measures.len() {
            let col = 1 + i as u16;
            chart
                .add_series()
                .set_name((DATA_SHEET, 0, col))
                .set_categories((DATA_SHEET, 1, 0, last, 0))
                .set_values((DATA_SHEET, 1, col, last, col));
        }
        let cs = wb.add_chartsheet();
        cs.set_name(CHART_SHEET)?;
        cs.insert_chart(0, 0, &chart)?;
        Ok(())
    }
}
