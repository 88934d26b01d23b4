//! What a component may declare in `describe`: the grammar of workflow type,
//! signal and query names and how many of each, checked before anything is
//! stored, so a hostile component cannot make the deployment list
//! unreadable.

use crate::error::quote;
use crate::ids::is_invisible;
use crate::store::WorkflowTypeInfo;

/// Longest workflow type, signal or query name, bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most workflow types one component may serve.
pub const MAX_WORKFLOW_TYPES: usize = 100;
/// Most signals, and most queries, one workflow type may declare.
pub const MAX_HANDLERS_PER_TYPE: usize = 200;

/// Check everything `describe` returned; the error says which name breaks
/// which rule.
pub(super) fn check(types: &[WorkflowTypeInfo]) -> Result<(), String> {
    if types.is_empty() {
        return Err("it serves no workflow types".into());
    }
    if types.len() > MAX_WORKFLOW_TYPES {
        return Err(format!(
            "it declares {} workflow types, over the limit of {MAX_WORKFLOW_TYPES}",
            types.len()
        ));
    }
    unique("workflow type", types.iter().map(|t| t.name.as_str()))?;
    for t in types {
        for (kind, names) in [("signal", &t.signals), ("query", &t.queries)] {
            if names.len() > MAX_HANDLERS_PER_TYPE {
                return Err(format!(
                    "workflow type {} declares {} {kind} names, over the limit of \
                     {MAX_HANDLERS_PER_TYPE}",
                    quote(&t.name),
                    names.len()
                ));
            }
            unique(kind, names.iter().map(String::as_str))
                .map_err(|e| format!("workflow type {}: {e}", quote(&t.name)))?;
        }
    }
    Ok(())
}

/// Every name valid and none twice.
fn unique<'a>(kind: &str, names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        valid(kind, name)?;
        if !seen.insert(name) {
            return Err(format!("{kind} name {} is declared twice", quote(name)));
        }
    }
    Ok(())
}

/// A name is 1 to [`MAX_NAME_BYTES`] bytes of visible characters: no
/// whitespace, control, zero-width or bidirectional-override characters, so
/// it prints on one line, reads as what it is and can be typed on a command
/// line.
pub(crate) fn valid(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("a {kind} name is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "{kind} name {} is {} bytes, over the limit of {MAX_NAME_BYTES}",
            quote(name),
            name.len()
        ));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return Err(format!(
            "{kind} name {} has whitespace, control or invisible characters",
            quote(name)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(name: &str, signals: &[&str], queries: &[&str]) -> WorkflowTypeInfo {
        let owned = |names: &[&str]| names.iter().map(ToString::to_string).collect();
        WorkflowTypeInfo {
            name: name.into(),
            signals: owned(signals),
            queries: owned(queries),
        }
    }

    #[test]
    fn ordinary_names_pass() {
        let types = [
            ty("one-click-buy", &["update_purchase"], &["current_status"]),
            ty("café.v2:order", &[], &[]),
        ];
        assert_eq!(check(&types), Ok(()));
    }

    #[test]
    fn each_rule_names_what_breaks_it() {
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let cases: Vec<(Vec<WorkflowTypeInfo>, &str)> = vec![
            (vec![], "serves no workflow types"),
            (vec![ty("", &[], &[])], "a workflow type name is empty"),
            (
                vec![ty("a\nb", &[], &[])],
                r#"workflow type name "a\nb" has whitespace"#,
            ),
            (vec![ty("a b", &[], &[])], "has whitespace"),
            (vec![ty("nul\0", &[], &[])], "control"),
            (vec![ty("inv\u{202E}oice", &[], &[])], "invisible"),
            (vec![ty(&long, &[], &[])], "over the limit of 128"),
            (
                vec![ty("a", &[], &[]), ty("a", &[], &[])],
                r#""a" is declared twice"#,
            ),
            (
                vec![ty("a", &["s", "s"], &[])],
                r#"workflow type "a": signal name "s" is declared twice"#,
            ),
            (vec![ty("a", &[], &["q\t"])], "query name"),
        ];
        for (types, expected) in cases {
            let err = check(&types).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn counts_are_bounded() {
        let many: Vec<_> = (0..=MAX_WORKFLOW_TYPES)
            .map(|i| ty(&format!("t{i}"), &[], &[]))
            .collect();
        assert!(check(&many).unwrap_err().contains("101 workflow types"));
        let signals: Vec<String> = (0..=MAX_HANDLERS_PER_TYPE)
            .map(|i| format!("s{i}"))
            .collect();
        let refs: Vec<&str> = signals.iter().map(String::as_str).collect();
        assert!(
            check(&[ty("a", &refs, &[])])
                .unwrap_err()
                .contains("201 signal names")
        );
    }

    #[test]
    fn a_long_name_is_quoted_briefly() {
        let err = check(&[ty(&"y".repeat(1 << 20), &[], &[])]).unwrap_err();
        assert!(err.len() < 200, "{err}");
    }
}
