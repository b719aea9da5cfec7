//! JSON Schemas generated from Medic's own types.
//!
//! `medic schema` prints the workflow schema for editors; validation checks each step's
//! `with:` block against its action's schema. Both come from the same Rust types.

use schemars::JsonSchema;
use serde_json::Value;

/// The JSON Schema of `T` as a JSON value (draft 2020-12, definitions inlined under `$defs`).
pub fn schema_value<T: JsonSchema>() -> Value {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    schema.to_value()
}

/// The JSON Schema of workflow files.
pub fn workflow_schema() -> Value {
    schema_value::<crate::raw::RawWorkflow>()
}
