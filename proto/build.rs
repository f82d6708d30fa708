//! Compiles `caseflow/v1/*.proto` with the protoc shipped inside `protoc-bin-vendored`, so the
//! build needs no system `protoc`. Also writes the descriptor set that gRPC reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "caseflow/v1/events.proto",
        "caseflow/v1/intake.proto",
        "caseflow/v1/routing.proto",
        "caseflow/v1/evaluation.proto",
        "caseflow/v1/reporting.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.enable_type_names();
    let well_known = protoc_bin_vendored::include_path()?;
    let includes = [PathBuf::from("."), well_known];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("caseflow_descriptor.bin"))
        .compile_with_config(config, &protos.map(PathBuf::from), &includes)?;
    Ok(())
}
