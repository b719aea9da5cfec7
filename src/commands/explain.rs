//! `medic explain [action]`: what an action does, its config and its outputs.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::print_json;
use crate::cli::Output;
use crate::{CmdResult, Failure};

/// Print one action's reference, or the list of actions.
pub fn explain(name: Option<&str>, output: Output) -> CmdResult {
    let registry = medic_actions::registry();
    let Some(name) = name else {
        let infos = registry.infos();
        if output == Output::Json {
            print_json(&json!(
                infos
                    .iter()
                    .map(|i| json!({"name": i.name, "description": i.description}))
                    .collect::<Vec<_>>()
            ));
        } else {
            for info in infos {
                println!(
                    "{:<12} {}",
                    info.name,
                    info.description.lines().next().unwrap_or_default()
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let Some(action) = registry.get(name) else {
        let hint = medic_engine::diagnostic::suggest(name, registry.names())
            .map(|s| format!(": did you mean `{s}`?"))
            .unwrap_or_else(|| format!("; actions are: {}", registry.names().join(", ")));
        return Err(Failure::usage(format!("unknown action `{name}`{hint}")));
    };
    let info = action.info();
    if output == Output::Json {
        print_json(&json!({
            "name": info.name,
            "description": info.description,
            "config_schema": info.config_schema,
            "outputs": info.outputs.iter().map(|o| json!({"name": o.name, "type": o.kind, "description": o.description})).collect::<Vec<_>>(),
            "example": info.example,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}\n", info.name);
    println!("{}\n", info.description);
    println!("CONFIG (with:)");
    for line in config_lines(&info.config_schema) {
        println!("  {line}");
    }
    println!("\nOUTPUTS");
    for o in info.outputs {
        println!("  {:<14} {:<8} {}", o.name, o.kind, o.description);
    }
    println!("\nEXAMPLE\n{}", info.example.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// One line per config field: name, type, required or default, description.
fn config_lines(schema: &Value) -> Vec<String> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return vec!["(none)".into()];
    };
    props
        .iter()
        .map(|(name, prop)| {
            let kind = type_name(prop, schema);
            let mut flags = String::new();
            if required.contains(&name.as_str()) {
                flags.push_str("required");
            } else if let Some(d) = prop.get("default").filter(|d| !d.is_null()) {
                flags.push_str(&format!("default {d}"));
            }
            let desc = prop
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .replace('\n', " ");
            format!("{name:<14} {kind:<18} {flags:<16} {desc}")
        })
        .collect()
}

fn type_name(prop: &Value, root: &Value) -> String {
    if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        if let Some(def) = root.get("$defs").and_then(|d| d.get(name)) {
            return type_name(def, root);
        }
        return name.to_string();
    }
    if let Some(c) = prop.get("const") {
        return c
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| c.to_string());
    }
    if let Some(values) = prop.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|");
    }
    if let Some(variants) = prop
        .get("oneOf")
        .or_else(|| prop.get("anyOf"))
        .and_then(Value::as_array)
    {
        let names: Vec<String> = variants
            .iter()
            .map(|v| type_name(v, root))
            .filter(|n| n != "null")
            .collect();
        return names.join("|");
    }
    match prop.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join("|"),
        _ if prop.get("const").is_some() => prop["const"].to_string(),
        _ => "any".into(),
    }
}
