//! An export file being written: the format, the writer every format
//! implements, and the pipeline that keeps memory bounded (rows go from
//! the database reader to a blocking writer thread in small batches
//! through a bounded channel, so a slow disk slows the reader down instead
//! of filling memory).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::export_chart::Trend;
use super::table::{Column, Row};
use super::{export_csv, export_xlsx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn db(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn from_db(s: &str) -> Format {
        if s == "xlsx" {
            Format::Xlsx
        } else {
            Format::Csv
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing the export file: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("the export writer stopped")]
    WriterGone,
}

/// A file of one format, written row by row.
pub trait Sink: Send {
    fn row(&mut self, row: &Row) -> Result<(), ExportError>;
    fn finish(self: Box<Self>) -> Result<(), ExportError>;
}

pub fn open(
    format: Format,
    path: &Path,
    title: &str,
    columns: &[Column],
    rows_per_sheet: u32,
    trend: Option<Trend>,
) -> Result<Box<dyn Sink>, ExportError> {
    Ok(match format {
        Format::Csv => Box::new(export_csv::CsvSink::create(path, columns)?),
        Format::Xlsx => Box::new(export_xlsx::XlsxSink::create(
            path,
            title,
            columns,
            rows_per_sheet,
            trend,
        )?),
    })
}

/// Rows per batch sent to the writer, and batches in flight.
pub const BATCH: usize = 512;
const IN_FLIGHT: usize = 4;

/// The sending end of a writer thread.
pub struct Pipe {
    tx: Option<mpsc::Sender<Vec<Row>>>,
    batch: Vec<Row>,
    writer: tokio::task::JoinHandle<Result<(), ExportError>>,
}

impl Pipe {
    /// Starts a writer thread on `sink`.
    pub fn start(mut sink: Box<dyn Sink>) -> Pipe {
        let (tx, mut rx) = mpsc::channel::<Vec<Row>>(IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || {
            while let Some(batch) = rx.blocking_recv() {
                for r in &batch {
                    sink.row(r)?;
                }
            }
            sink.finish()
        });
        Pipe {
            tx: Some(tx),
            batch: Vec::with_capacity(BATCH),
            writer,
        }
    }

    pub async fn push(&mut self, row: Row) -> Result<(), ExportError> {
        self.batch.push(row);
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ExportError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let tx = self.tx.as_ref().ok_or(ExportError::WriterGone)?;
        if tx.send(batch).await.is_err() {
            // The writer failed: its error says why.
            self.tx = None;
            return Err(self.join().await.err().unwrap_or(ExportError::WriterGone));
        }
        Ok(())
    }

    async fn join(&mut self) -> Result<(), ExportError> {
        (&mut self.writer)
            .await
            .map_err(|_| ExportError::WriterGone)?
    }

    /// Sends what is left and waits for the file to be complete.
    pub async fn finish(mut self) -> Result<(), ExportError> {
        if !self.batch.is_empty() {
            self.flush().await?;
        }
        self.tx = None;
        self.join().await
    }
}
