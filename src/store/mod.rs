//! Result storage. Tables are written as Parquet with Apache's arrow-rs
//! (`parquet` crate) rather than polars: it builds in a fraction of the time
//! (which matters twice, since the notebook kernel compiles the library
//! again), and pandas, pyarrow and polars all read what it writes.

#[cfg(feature = "polars")]
pub mod frame;
pub mod query;
pub mod results;
pub mod table;

pub use query::{summarize, Summary};
pub use results::{Provenance, ResultRow, Store, StoredRow};
pub use table::{Column, Table};
