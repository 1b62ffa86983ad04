//! Workbooks (XLSX, XLS, ODS) with calamine: every sheet by name, each non-empty row as a
//! tab-separated line anchored by sheet and row, dates as ISO dates, formulas as their cached
//! values, under cell and row limits.
//!
//! XLSX is read with calamine's streaming cell reader: `worksheet_range` allocates the sheet's
//! bounding box, so a 4.8 KB file with cells at A1 and XFD1048576 asks for 512 GiB and aborts
//! the process (measured with calamine 0.38), while the cell reader stays under 7 MB on the
//! same bombs. XLS and ODS have no streaming reader in calamine; they are only read in the
//! worker process, whose address-space limit turns such an allocation into a clean failure.

use std::io::Cursor;

use calamine::{Data, DataRef, ExcelDateTime, Ods, Reader, Xls, Xlsx};

use super::extraction::{Anchor, Budget, Extraction};
use super::package::Package;
use super::{FileType, IngestError};

/// Empty cells written between two cells of a row at most; wider gaps become one separator,
/// so a cell at column XFD cannot make a row of 16,384 tabs.
const MAX_GAP_CELLS: u32 = 32;

/// Extracts a workbook of the given type.
///
/// Errors: `Corrupt`, `Encrypted`, `TooLarge` (cells, rows, sheets, parts), `Timeout`.
pub(crate) fn extract(
    bytes: &[u8],
    file_type: FileType,
    budget: &mut Budget<'_>,
) -> Result<Extraction, IngestError> {
    let mut out = Extraction::new(file_type);
    let mut rows = RowWriter::default();
    match file_type {
        FileType::Xlsx => {
            check_xlsx_parts(bytes, budget)?;
            let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|e| book_error(&e))?;
            let names = sheet_names(&book.sheet_names(), budget)?;
            for name in &names {
                let mut cells = book
                    .worksheet_cells_reader(name)
                    .map_err(|e| book_error(&e))?;
                while let Some(cell) = cells.next_cell().map_err(|e| book_error(&e))? {
                    let (row, col) = cell.get_position();
                    rows.cell(
                        name,
                        row,
                        col,
                        &data_ref_text(cell.get_value()),
                        budget,
                        &mut out,
                    )?;
                }
                rows.flush(budget, &mut out)?;
            }
            record_sheets(&mut out, &names);
        }
        FileType::Xls | FileType::Ods => {
            let (names, ranges) = if file_type == FileType::Xls {
                let mut book: Xls<_> = Xls::new(Cursor::new(bytes)).map_err(|e| book_error(&e))?;
                read_ranges(&mut book, budget)?
            } else {
                // ODS is a zip: its directory passes the same limits before calamine opens it.
                Package::open(bytes, budget.config)?;
                let mut book: Ods<_> = Ods::new(Cursor::new(bytes)).map_err(|e| book_error(&e))?;
                read_ranges(&mut book, budget)?
            };
            for (name, range) in names.iter().zip(ranges) {
                let Some((row0, col0)) = range.start() else {
                    continue;
                };
                for (r, cells) in range.rows().enumerate() {
                    let row = row0.saturating_add(u32::try_from(r).unwrap_or(u32::MAX));
                    for (c, value) in cells.iter().enumerate() {
                        if matches!(value, Data::Empty) {
                            continue;
                        }
                        let col = col0.saturating_add(u32::try_from(c).unwrap_or(u32::MAX));
                        rows.cell(name, row, col, &data_text(value), budget, &mut out)?;
                    }
                }
                rows.flush(budget, &mut out)?;
            }
            record_sheets(&mut out, &names);
        }
        other => {
            return Err(IngestError::UnsupportedMediaType(format!(
                "{other} is not a workbook"
            )));
        }
    }
    Ok(out)
}

/// XLSX parts calamine loads whole (shared strings, styles, workbook, relationships) are held
/// to `max_loaded_part_bytes`, worksheets (streamed) to `max_part_bytes`, before it opens the
/// file.
fn check_xlsx_parts(bytes: &[u8], budget: &Budget<'_>) -> Result<(), IngestError> {
    let package = Package::open(bytes, budget.config)?;
    for name in package.names() {
        let Some(size) = package.declared_size(&name) else {
            continue;
        };
        let lower = name.to_ascii_lowercase();
        let limit = if lower.contains("/worksheets/") {
            budget.config.max_part_bytes
        } else if lower.ends_with(".xml") || lower.ends_with(".rels") {
            budget.config.max_loaded_part_bytes
        } else {
            continue;
        };
        if size > limit {
            return Err(IngestError::too_large(format!(
                "part {name} inflates to {size} bytes (limit {limit})"
            )));
        }
    }
    Ok(())
}

fn sheet_names(names: &[String], budget: &Budget<'_>) -> Result<Vec<String>, IngestError> {
    if names.len() > budget.config.max_sheets {
        return Err(IngestError::too_large(format!(
            "the workbook has {} sheets (limit {})",
            names.len(),
            budget.config.max_sheets
        )));
    }
    Ok(names.to_vec())
}

type Ranges = (Vec<String>, Vec<calamine::Range<Data>>);

fn read_ranges<R, B>(book: &mut B, budget: &mut Budget<'_>) -> Result<Ranges, IngestError>
where
    R: std::io::Read + std::io::Seek,
    B: Reader<R>,
    B::Error: std::fmt::Display,
{
    let names = sheet_names(&book.sheet_names(), budget)?;
    let mut ranges = Vec::with_capacity(names.len());
    for name in &names {
        budget.check_time()?;
        let range = book.worksheet_range(name).map_err(|e| book_error(&e))?;
        ranges.push(range);
    }
    Ok((names, ranges))
}

fn record_sheets(out: &mut Extraction, names: &[String]) {
    out.page_count = u32::try_from(names.len()).ok();
    out.metadata.insert(
        "sheets".into(),
        names
            .iter()
            .map(|n| serde_json::Value::from(n.as_str()))
            .collect(),
    );
}

/// Maps calamine's errors: a password is `Encrypted`, anything else `Corrupt`.
fn book_error(err: &dyn std::fmt::Display) -> IngestError {
    let text = err.to_string();
    if text.to_ascii_lowercase().contains("password")
        || text.to_ascii_lowercase().contains("encrypt")
    {
        IngestError::Encrypted("the workbook is password-protected".into())
    } else {
        IngestError::corrupt(format!("the workbook cannot be read: {text}"))
    }
}

/// Assembles cells (in row order) into tab-separated row blocks, counting cells and rows.
#[derive(Debug, Default)]
struct RowWriter {
    sheet: String,
    row: Option<u32>,
    last_col: u32,
    line: String,
    cells: u64,
    rows: u64,
}

impl RowWriter {
    fn cell(
        &mut self,
        sheet: &str,
        row: u32,
        col: u32,
        text: &str,
        budget: &mut Budget<'_>,
        out: &mut Extraction,
    ) -> Result<(), IngestError> {
        budget.tick()?;
        if text.trim().is_empty() {
            return Ok(());
        }
        self.cells += 1;
        if self.cells > budget.config.max_cells {
            return Err(IngestError::too_large(format!(
                "the workbook has more than {} cells",
                budget.config.max_cells
            )));
        }
        if self.row != Some(row) || self.sheet != sheet {
            self.flush(budget, out)?;
            self.sheet.clear();
            self.sheet.push_str(sheet);
            self.row = Some(row);
            self.rows += 1;
            if self.rows > budget.config.max_rows {
                return Err(IngestError::too_large(format!(
                    "the workbook has more than {} rows",
                    budget.config.max_rows
                )));
            }
            // Leading empty columns are kept (up to the gap limit) so columns line up.
            self.last_col = 0;
            self.line
                .extend(std::iter::repeat_n('\t', col.min(MAX_GAP_CELLS) as usize));
        } else {
            let gap = col.saturating_sub(self.last_col).clamp(1, MAX_GAP_CELLS);
            self.line.extend(std::iter::repeat_n('\t', gap as usize));
        }
        self.last_col = col;
        // Tabs and line breaks inside a cell would break the row format.
        self.line.extend(text.chars().map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        }));
        Ok(())
    }

    fn flush(&mut self, budget: &mut Budget<'_>, out: &mut Extraction) -> Result<(), IngestError> {
        if let Some(row) = self.row.take()
            && !self.line.is_empty()
        {
            let anchor = Anchor::Row {
                sheet: self.sheet.clone(),
                row: row.saturating_add(1),
            };
            let line = std::mem::take(&mut self.line);
            budget.push(out, &line, anchor)?;
        }
        self.line.clear();
        Ok(())
    }
}

fn data_ref_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => float_text(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => datetime_text(d),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e:?}"),
        DataRef::Empty => String::new(),
    }
}

fn data_text(value: &Data) -> String {
    match value {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::String(s) => s.clone(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => datetime_text(d),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
        Data::Empty => String::new(),
    }
}

/// Whole numbers without `.0`; others in the shortest form that reads back the same.
fn float_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        // Exact: a whole number below 2^53.
        (f as i64).to_string()
    } else {
        f.to_string()
    }
}

/// Dates as `YYYY-MM-DD`, date-times as `YYYY-MM-DDTHH:MM:SS`, durations as `H:MM:SS`.
fn datetime_text(d: &ExcelDateTime) -> String {
    if d.is_duration() {
        let total = (d.as_f64() * 86_400.0).round();
        if !total.is_finite() {
            return float_text(d.as_f64());
        }
        let secs = total.abs() as u64;
        let sign = if total < 0.0 { "-" } else { "" };
        return format!(
            "{sign}{}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
    }
    let (y, mo, day, h, mi, s, _) = d.to_ymd_hms_milli();
    if d.as_f64() < 1.0 && d.as_f64() >= 0.0 {
        // A time of day without a date.
        return format!("{h:02}:{mi:02}:{s:02}");
    }
    if h == 0 && mi == 0 && s == 0 {
        format!("{y:04}-{mo:02}-{day:02}")
    } else {
        format!("{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use calamine::ExcelDateTimeType;

    use super::*;

    #[test]
    fn dates_and_numbers() {
        let date = ExcelDateTime::new(45943.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(datetime_text(&date), "2025-10-13");
        let dt = ExcelDateTime::new(45943.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(datetime_text(&dt), "2025-10-13T12:00:00");
        let dur = ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(datetime_text(&dur), "36:00:00");
        assert_eq!(float_text(3.0), "3");
        assert_eq!(float_text(0.25), "0.25");
        assert_eq!(float_text(f64::NAN), "NaN");
    }
}
