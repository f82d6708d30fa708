//! The command line refuses a bad import option before it touches anything, naming the option
//! and its rule, and says what the option does and its default.

use std::process::Command;

fn caseflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_caseflow")).args(args).output().expect("caseflow runs")
}

#[test]
fn an_import_with_no_lanes_is_refused_naming_the_option_and_its_range() {
    let out = caseflow(&["import", "no-such-file.jsonl", "--key", "k", "--lanes", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--lanes") && err.contains("1..=1024"), "names the option and its rule: {err}");
}

#[test]
fn the_import_help_gives_the_lanes_default() {
    let out = caseflow(&["import", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let line = help.lines().find(|l| l.contains("--lanes")).unwrap_or_default();
    assert!(line.contains("[default: 64]"), "{help}");
}
