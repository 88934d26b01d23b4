//! Raw bindings generated from the `keel:workflow` WIT package. Private to
//! the SDK except for what the export macro needs.

wit_bindgen::generate!({
    world: "workflow",
    path: "../wit",
    pub_export_macro: true,
    export_macro_name: "__export_workflow_component",
    default_bindings_module: "keel_sdk::__private::bindings",
});
