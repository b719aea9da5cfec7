//! `github.comment`: post a comment on a GitHub issue or pull request.

use async_trait::async_trait;
use medic_engine::action::{Action, OutputDoc, Outputs, StepContext, StepError, StepOutcome};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{client, split_repository, step_error};
use crate::support::{config_error, masked_error, masked_outputs};

/// The `github.comment` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Comment;

/// GitHub refuses longer comment bodies (422 "body is too long").
const MAX_BODY_CHARS: usize = 65_536;

/// `with:` of a `github.comment` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentConfig {
    /// The repository, `owner/name`.
    pub repository: String,
    /// The issue or pull request number.
    pub number: u64,
    /// The comment, in Markdown (at most 65,536 characters). Secret values in it are
    /// replaced by `***` before it is posted.
    pub body: String,
    /// The API base URL: `https://api.github.com` (default), `https://HOST/api/v3` for
    /// GitHub Enterprise, or a local stand-in.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The env variable holding the token (default `GITHUB_TOKEN`), usually a workflow
    /// secret. The token needs write access to issues or pull requests.
    #[serde(default)]
    pub token_env: Option<String>,
}

#[async_trait]
impl Action for Comment {
    type Config = CommentConfig;
    const NAME: &'static str = "github.comment";
    const DESCRIPTION: &'static str = "Posts a comment on a GitHub issue or pull request and \
        returns its id and URL. The token is read from the step's env (`token_env`, default \
        `GITHUB_TOKEN`) and never logged; secret values in the body are masked before it \
        leaves Medic. A refusal (401, 403, 404, 422, rate limit) fails the step with the \
        `failed` kind and GitHub's reason; an unreachable GitHub fails it with `network`. \
        The comment is sent once, never retried by the client, since GitHub may have posted \
        it. Under `--dry-run` nothing is posted; the step says what it would post.";
    const EXAMPLE: &'static str = r#"tell-the-author:
  uses: github.comment
  with:
    repository: acme/api
    number: 1347
    body: "Medic opened a fix for the failing lint step."
    token_env: GITHUB_TOKEN
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "id",
            kind: "number",
            description: "The comment's id (absent in a dry run).",
        },
        OutputDoc {
            name: "url",
            kind: "string",
            description: "The comment's web URL (absent in a dry run).",
        },
        OutputDoc {
            name: "dry_run",
            kind: "boolean",
            description: "True when nothing was posted.",
        },
    ];

    async fn run(
        &self,
        config: CommentConfig,
        ctx: &StepContext,
    ) -> Result<StepOutcome, StepError> {
        post(config, ctx)
            .await
            .map(|outputs| StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
            .map_err(|e| masked_error(&ctx.masker, e))
    }
}

async fn post(config: CommentConfig, ctx: &StepContext) -> Result<Outputs, StepError> {
    let (owner, repo) = split_repository(&config.repository)?;
    let chars = config.body.chars().count();
    if config.body.trim().is_empty() {
        return Err(config_error(
            "`body` is empty: GitHub refuses empty comments",
        ));
    }
    if chars > MAX_BODY_CHARS {
        return Err(config_error(format!(
            "`body` has {chars} characters; GitHub accepts at most {MAX_BODY_CHARS}"
        )));
    }
    // A secret rendered into the body must not be published.
    let body = ctx.masker.mask(&config.body).into_owned();
    let mut outputs = Outputs::new();
    if ctx.dry_run {
        ctx.log(format!(
            "dry run: would comment on {owner}/{repo}#{} ({chars} characters)",
            config.number
        ));
        outputs.insert("dry_run".into(), Value::Bool(true));
        return Ok(outputs);
    }
    let github = client(config.api_url.as_deref(), config.token_env.as_deref(), ctx)?;
    let comment = github
        .comment(&owner, &repo, config.number, &body)
        .await
        .map_err(step_error)?;
    ctx.log(format!(
        "commented on {owner}/{repo}#{}: {}",
        config.number, comment.html_url
    ));
    outputs.insert("id".into(), Value::from(comment.id.into_inner()));
    outputs.insert("url".into(), Value::String(comment.html_url.to_string()));
    outputs.insert("dry_run".into(), Value::Bool(false));
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::{example_config, test_context};
    use medic_engine::action::ErrorKind;
    use medic_forge::github::{GitHub, NewPull};
    use medic_forge::standin::{StandIn, StandInOptions};

    const CANARY: &str = "ghp_CANARY_comment_5f4dcc3b5aa765d6";

    fn config(api_url: &str, number: u64, body: &str) -> CommentConfig {
        CommentConfig {
            repository: "acme/api".into(),
            number,
            body: body.into(),
            api_url: Some(api_url.into()),
            token_env: Some("MEDIC_GH".into()),
        }
    }

    #[test]
    fn example_config_parses() {
        let config = example_config::<Comment>();
        assert_eq!(config.number, 1347);
        assert_eq!(config.token_env.as_deref(), Some("GITHUB_TOKEN"));
    }

    #[tokio::test]
    async fn posts_a_masked_comment_and_returns_its_url() {
        let server = StandIn::start_with(
            "127.0.0.1:0".parse().unwrap(),
            StandInOptions {
                token: Some(CANARY.into()),
                ..StandInOptions::default()
            },
        )
        .await
        .unwrap();
        let gh = GitHub::new(Some(server.url()), Some(medic_forge::Token::new(CANARY))).unwrap();
        let pull = NewPull {
            title: "Fix lint".into(),
            head: "medic/fix".into(),
            base: "main".into(),
            body: None,
            draft: false,
            maintainer_can_modify: true,
        };
        gh.create_pull("acme", "api", &pull).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[CANARY], dir.path());
        ctx.env.insert("MEDIC_GH".into(), CANARY.into());
        let body = format!("Fixed. (debug: token was {CANARY})");
        let StepOutcome::Success(out) = Comment
            .run(config(server.url(), 1, &body), &ctx)
            .await
            .unwrap()
        else {
            panic!("expected success");
        };
        assert_eq!(out["id"], 1);
        assert!(
            out["url"].as_str().unwrap().contains("/acme/api/"),
            "{out:?}"
        );
        assert_eq!(out["dry_run"], false);
        let posted = &server.pulls()[0].comments;
        assert_eq!(posted, &["Fixed. (debug: token was ***)".to_string()]);
        assert!(!ctx.logs().join("\n").contains(CANARY));

        // A pull request that does not exist: GitHub's 404, explained.
        let err = Comment
            .run(config(server.url(), 9, "hi"), &ctx)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Failed);
        assert!(
            err.message
                .contains("acme/api#9 does not exist, or the token cannot see it"),
            "{}",
            err.message
        );

        // A wrong token: the message names the variable, never the value.
        ctx.env
            .insert("MEDIC_GH".into(), format!("{CANARY}-revoked"));
        let err = Comment
            .run(config(server.url(), 1, "hi"), &ctx)
            .await
            .unwrap_err();
        assert!(
            err.message.contains("the token in MEDIC_GH is invalid"),
            "{}",
            err.message
        );
        assert!(!err.message.contains(CANARY));

        // No token at all.
        ctx.env.clear();
        let err = Comment
            .run(config(server.url(), 1, "hi"), &ctx)
            .await
            .unwrap_err();
        assert!(
            err.message
                .ends_with("no token was given: set MEDIC_GH to a GitHub token"),
            "{}",
            err.message
        );
        assert_eq!(server.pulls()[0].comments.len(), 1);
    }

    #[tokio::test]
    async fn a_dry_run_posts_nothing_and_bad_input_is_a_config_error() {
        let server = StandIn::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[], dir.path());
        ctx.dry_run = true;
        let StepOutcome::Success(out) = Comment
            .run(config(server.url(), 1, "hello"), &ctx)
            .await
            .unwrap()
        else {
            panic!("expected success");
        };
        assert_eq!(out["dry_run"], true);
        assert!(server.calls().is_empty(), "a dry run sends nothing");
        assert_eq!(
            ctx.logs(),
            ["dry run: would comment on acme/api#1 (5 characters)"]
        );

        let err = Comment
            .run(config(server.url(), 1, " "), &ctx)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        let long = "x".repeat(MAX_BODY_CHARS + 1);
        let err = Comment
            .run(config(server.url(), 1, &long), &ctx)
            .await
            .unwrap_err();
        assert!(err.message.contains("at most 65536"), "{}", err.message);
    }
}
