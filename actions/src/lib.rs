//! medic-actions: the actions a workflow step can name in `uses:`.
//!
//! Each action is one file: a typed config struct (its `///` docs become the JSON Schema
//! descriptions that `medic explain` prints), one [`Action`] impl, and one line in the
//! table of [`registry`]. The engine knows nothing of processes, HTTP or humans; this
//! crate is where those side effects live, so that the engine stays fast to build and
//! every action's behaviour can be tested on its own.
//!
//! [`Action`]: medic_engine::action::Action

pub mod analyze;
pub mod ci_rerun;
pub mod decide;
pub mod generate_fix;
pub mod generic;
pub mod github;
pub mod review;
mod support;

use medic_engine::action::Registry;

/// Every built-in action, in one table.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register(generic::shell::Shell::default())
        .register(generic::http::Http)
        .register(generic::log::Log)
        .register(generic::sleep::Sleep)
        .register(generic::approval::Approval)
        .register(decide::Decide)
        .register(analyze::Analyze)
        .register(generate_fix::GenerateFix)
        .register(review::Review)
        .register(github::comment::Comment)
        .register(github::rerun::RerunFailedJobs)
        .register(github::outcomes::PollOutcomes)
        .register(github::open_pr::OpenPr)
        .register(ci_rerun::CiRerun);
    registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn registers_every_generic_action() {
        assert_eq!(
            registry().names(),
            [
                "analyze",
                "approval",
                "ci.rerun",
                "decide",
                "generate-fix",
                "github.comment",
                "github.open-pr",
                "github.poll-outcomes",
                "github.rerun-failed-jobs",
                "http",
                "log",
                "review",
                "shell",
                "sleep"
            ]
        );
    }

    #[test]
    fn every_example_uses_its_own_action() {
        for info in registry().infos() {
            let uses = format!("uses: {}\n", info.name);
            assert!(
                info.example.contains(&uses),
                "{} example: {}",
                info.name,
                info.example
            );
            assert!(
                info.example.contains("with:"),
                "{} example has no `with:`",
                info.name
            );
        }
    }

    /// Dotted names (`github.comment`) are valid in `uses:`.
    #[test]
    fn dotted_action_names_pass_the_validator() {
        let text = "name: w\nsecrets: [GITHUB_TOKEN]\nsteps:\n  c:\n    uses: github.comment\n    with: {repository: acme/api, number: 1, body: hi}\n  r:\n    uses: github.rerun-failed-jobs\n    with: {repository: acme/api, run_id: 5}\n";
        let workflow =
            medic_engine::validate::load_str(text, std::path::Path::new("w.yaml"), &registry());
        assert!(workflow.is_ok(), "{:?}", workflow.err());
    }

    /// `medic explain` shows these descriptions; a field without `///` docs would show nothing.
    #[test]
    fn every_config_field_is_documented_in_the_schema() {
        for info in registry().infos() {
            let properties = info.config_schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{} schema has no properties", info.name));
            assert!(!properties.is_empty(), "{}", info.name);
            for (field, schema) in properties {
                let description = schema.get("description").and_then(Value::as_str);
                assert!(
                    description.is_some_and(|d| !d.is_empty()),
                    "{}.{field} has no description in {schema}",
                    info.name
                );
            }
            assert_eq!(
                info.config_schema["additionalProperties"],
                Value::Bool(false),
                "{} config must deny unknown fields",
                info.name
            );
            assert!(!info.description.is_empty(), "{}", info.name);
        }
    }
}
