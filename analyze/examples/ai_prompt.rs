//! Print exactly what an AI provider would be sent to explain a log (system prompt
//! and user message), without sending anything, and its size — to audit what leaves
//! the machine and to estimate tokens:
//! `cargo run -p medic-analyze --features http --example ai_prompt -- FILE|-`.

use std::path::PathBuf;

use medic_analyze::provider::prompt::{FailureKind, explain_request};
use medic_analyze::read::Source;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Options};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ai_prompt FILE|-");
        std::process::exit(2);
    };
    let source = if path == "-" {
        Source::Stdin
    } else {
        Source::File(PathBuf::from(&path))
    };
    let analysis = match triage::analyze_source(
        &source,
        &mut Sanitizer::default(),
        None,
        &Options::default(),
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let request = explain_request(&analysis);
    println!(
        "=== system ===\n{}\n=== user ===\n{}",
        request.system, request.user
    );
    let chars = request.system.chars().count() + request.user.chars().count();
    // About four characters per token for English and log text with BPE tokenizers.
    eprintln!(
        "template {}, {} characters sent (about {} tokens)",
        FailureKind::of(&analysis).as_str(),
        chars,
        chars.div_ceil(4)
    );
}
