//! Actions that act on GitHub: open or update a pull request for a fix, learn from
//! the fate of the pull requests Medic opened, comment on an issue or pull request,
//! rerun a workflow run's failed jobs. They share how a step names its repository, its API (api.github.com,
//! GitHub Enterprise or the local stand-in) and its token, and how the client's errors
//! become step errors.

pub mod body;
pub mod comment;
pub mod open_pr;
pub mod outcomes;
pub mod rerun;

use medic_engine::action::{ErrorKind, StepContext, StepError};
use medic_forge::github::{DEFAULT_TOKEN_ENV, GitHub};
use medic_forge::{ForgeError, Token};

use crate::support::config_error;

/// `owner/repo` split in two, or a `config` error saying what was expected.
pub(crate) fn split_repository(repository: &str) -> Result<(String, String), StepError> {
    match repository.trim().split_once('/') {
        Some((owner, repo)) if !owner.is_empty() && !repo.is_empty() && !repo.contains('/') => {
            Ok((owner.to_string(), repo.to_string()))
        }
        _ => Err(config_error(format!(
            "`repository`: `{repository}` is not `owner/name`, e.g. `acme/api`"
        ))),
    }
}

/// A client for the step: the token comes from the step's env (a workflow secret),
/// under `token_env` (default `GITHUB_TOKEN`). Without one, requests go out
/// unauthenticated and GitHub's 401 names the variable to set.
pub(crate) fn client(
    api_url: Option<&str>,
    token_env: Option<&str>,
    ctx: &StepContext,
) -> Result<GitHub, StepError> {
    let env_var = token_env.unwrap_or(DEFAULT_TOKEN_ENV);
    let token = Token::from_env(env_var, |k| ctx.env.get(k).cloned());
    if token.is_none() {
        ctx.log(format!(
            "{env_var} is not set in the step's env: calling GitHub without a token"
        ));
    }
    GitHub::new(api_url, token)
        .map(|gh| gh.with_token_env(env_var))
        .map_err(step_error)
}

/// The kinds retry policies select on: `network` when GitHub could not be reached,
/// `config` for a client that cannot be built, `failed` for every refusal.
pub(crate) fn step_error(error: ForgeError) -> StepError {
    let kind = match &error {
        ForgeError::Network { .. } => ErrorKind::Network,
        ForgeError::Config { .. } => ErrorKind::Config,
        _ => ErrorKind::Failed,
    };
    StepError::new(kind, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_owner_slash_name() {
        assert_eq!(
            split_repository(" acme/api ").unwrap(),
            ("acme".to_string(), "api".to_string())
        );
        for bad in ["acme", "acme/", "/api", "a/b/c"] {
            let err = split_repository(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Config);
            assert!(
                err.message.contains("is not `owner/name`"),
                "{}",
                err.message
            );
        }
    }
}
