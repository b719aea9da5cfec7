//! Gemini: `POST {base}/v1beta/models/{model}:generateContent`.
//!
//! The key goes in `x-goog-api-key` (never in the `?key=` query, which would put it
//! in URLs and logs). The system prompt is `systemInstruction`, the message a
//! `contents` entry of `parts`; JSON answers are requested with
//! `generationConfig.responseMimeType: application/json`. Usage comes in
//! `usageMetadata`; a thinking model's `thoughtsTokenCount` is billed as output, so it
//! is counted as output. A prompt the API blocks has no candidates and a
//! `promptFeedback.blockReason`.

use serde_json::{Value, json};

use super::anthropic::last_segment;
use super::{Answer, CompletionRequest, Inner, Wire, endpoint};

pub(super) fn wire(inner: &Inner, request: &CompletionRequest, max_tokens: u32) -> Wire {
    let model = inner.model.strip_prefix("models/").unwrap_or(&inner.model);
    let method = format!("{model}:generateContent");
    // A base given with its version (…/v1beta or …/v1) is used as it is.
    let segments: Vec<&str> = match last_segment(&inner.base) {
        Some("v1beta" | "v1") => vec!["models", &method],
        _ => vec!["v1beta", "models", &method],
    };
    let mut body = json!({
        "contents": [{"role": "user", "parts": [{"text": request.user}]}],
        "generationConfig": {"maxOutputTokens": max_tokens},
    });
    if !request.system.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": request.system}]});
    }
    if request.json {
        body["generationConfig"]["responseMimeType"] = json!("application/json");
    }
    Wire {
        url: endpoint(&inner.base, &segments),
        headers: Vec::new(),
        body,
    }
}

pub(super) fn answer(v: &Value) -> Result<Answer, String> {
    let usage = v.get("usageMetadata");
    let count = |k: &str| {
        usage
            .and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let Some(candidate) = v.get("candidates").and_then(|c| c.get(0)) else {
        let reason = v
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str);
        return Err(match reason {
            Some(r) => format!("the provider blocked the prompt ({r})"),
            None => "the answer has no `candidates`".to_string(),
        });
    };
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default();
    Ok(Answer {
        text,
        input_tokens: count("promptTokenCount"),
        output_tokens: count("candidatesTokenCount") + count("thoughtsTokenCount"),
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        stop_reason: candidate
            .get("finishReason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Provider, ProviderConfig, ProviderKind};

    fn provider(model: &str, base: Option<&str>) -> Provider {
        let mut c = ProviderConfig::new(ProviderKind::Gemini, model);
        c.base_url = base.map(str::to_string);
        Provider::new(c, &|_| Some("AIza-test".into())).unwrap()
    }

    #[test]
    fn the_request_is_generate_content_with_a_system_instruction() {
        let p = provider("gemini-2.5-flash", None);
        let r = CompletionRequest {
            system: "Explain.".into(),
            user: "Why?".into(),
            max_tokens: None,
            json: true,
        };
        let w = wire(&p.inner, &r, 256);
        assert_eq!(
            w.url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            w.body,
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Why?"}]}],
                "generationConfig": {"maxOutputTokens": 256, "responseMimeType": "application/json"},
                "systemInstruction": {"parts": [{"text": "Explain."}]}
            })
        );
        let p = provider("models/gemini-2.0-flash", Some("https://gw.example/v1beta"));
        let w = wire(&p.inner, &r, 1);
        assert_eq!(
            w.url.as_str(),
            "https://gw.example/v1beta/models/gemini-2.0-flash:generateContent"
        );
    }

    #[test]
    fn the_documented_example_answer_is_read() {
        // The REST answer to the chat example of Google's Gemini API text-generation
        // guide ("I have 2 dogs in my house. How many paws…"), verbatim as quoted in
        // black-bracken/mini-gemini-front (data/infra, a comment holding the example).
        let v: Value = serde_json::from_str(
            r#"{
  "candidates": [
    {
      "content": {
        "parts": [
          {
            "text": "Each dog has 4 paws, and you have 2 dogs, so there are 2 * 4 = 8 paws in your house.\n"
          }
        ],
        "role": "model"
      },
      "finishReason": "STOP",
      "avgLogprobs": -0.0096212500526059053
    }
  ],
  "usageMetadata": {
    "promptTokenCount": 29,
    "candidatesTokenCount": 31,
    "totalTokenCount": 60,
    "promptTokensDetails": [
      {
        "modality": "TEXT",
        "tokenCount": 29
      }
    ],
    "candidatesTokensDetails": [
      {
        "modality": "TEXT",
        "tokenCount": 31
      }
    ]
  },
  "modelVersion": "gemini-1.5-flash"
}"#,
        )
        .unwrap();
        let a = answer(&v).unwrap();
        assert!(a.text.starts_with("Each dog has 4 paws"));
        assert_eq!((a.input_tokens, a.output_tokens), (29, 31));
        assert_eq!(a.model.as_deref(), Some("gemini-1.5-flash"));
        assert_eq!(a.stop_reason.as_deref(), Some("STOP"));
    }

    #[test]
    fn thoughts_are_skipped_but_billed_and_blocks_are_explained() {
        let v = json!({
            "candidates": [{"content": {"parts": [{"text": "plan", "thought": true}, {"text": "{}"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "thoughtsTokenCount": 40}
        });
        let a = answer(&v).unwrap();
        assert_eq!((a.text.as_str(), a.output_tokens), ("{}", 42));
        // A blocked prompt as the API answers it, from google-gemini/generative-ai-dart
        // test/response_parsing_test.dart ("with a blocked prompt"), verbatim.
        let v: Value = serde_json::from_str(
            r#"{
  "promptFeedback": {
    "blockReason": "SAFETY",
    "safetyRatings": [
      {
        "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "probability": "NEGLIGIBLE"
      },
      {
        "category": "HARM_CATEGORY_HATE_SPEECH",
        "probability": "HIGH"
      },
      {
        "category": "HARM_CATEGORY_HARASSMENT",
        "probability": "NEGLIGIBLE"
      },
      {
        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
        "probability": "NEGLIGIBLE"
      }
    ]
  }
}"#,
        )
        .unwrap();
        assert_eq!(
            answer(&v).unwrap_err(),
            "the provider blocked the prompt (SAFETY)"
        );
    }
}
