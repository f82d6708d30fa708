//! Caseflow's gRPC contracts: package `caseflow.v1`.
//!
//! The `.proto` files beside this crate are the source of truth; this crate only compiles them.
//! [`FILE_DESCRIPTOR_SET`] feeds gRPC reflection in every service.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("caseflow.v1");
}

mod codes;

/// The encoded descriptor set of every Caseflow proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("caseflow_descriptor");

pub use prost;
pub use prost_types;
