//! OAuth scope strings: space-separated, order and repetition irrelevant.

use std::collections::BTreeSet;

/// `scope` with its words sorted, deduplicated and single-space separated.
pub(crate) fn normalize(scope: &str) -> String {
    words(scope).into_iter().collect::<Vec<_>>().join(" ")
}

/// Whether every scope in `requested` is in `allowed`.
pub(crate) fn is_subset(requested: &str, allowed: &str) -> bool {
    words(requested).is_subset(&words(allowed))
}

fn words(scope: &str) -> BTreeSet<&str> {
    scope.split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_order_and_spacing() {
        assert_eq!(normalize("  b a  b "), "a b");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn subset_ignores_order() {
        assert!(is_subset("a c", "c b a"));
        assert!(is_subset("", "a"));
        assert!(!is_subset("a d", "a b"));
    }
}
