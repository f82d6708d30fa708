//! A district's past, replayed: the import format, the importer, and the demo-data generator.

pub mod demo;
pub mod format;
pub mod import;
pub mod lanes;
