//! Bounds on a GraphQL document, checked before async-graphql validates it, so a small
//! hostile document cannot buy seconds of CPU: a token count before parsing, then a walk of
//! the parsed document that counts aliases and the selections the operation would have with
//! every fragment spread expanded (memoised per fragment, so the walk itself is linear).
//! `__typename` and introspection fields count like any other. Execution then runs under
//! a time budget and is cancelled past it.
//!
//! The defaults follow GraphQL Armor's (15 aliases), with room for graphql-js's standard
//! introspection query.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Request, Response, ServerError, ServerResult};

use crate::config::GraphqlLimits;

/// The limits, a stage of the schema's extension ([`super::pipeline::Pipeline`]).
#[derive(Clone)]
pub struct DocumentLimits {
    limits: GraphqlLimits,
    checked: std::sync::Arc<Checked>,
}

impl DocumentLimits {
    /// The extension for `limits`, with an empty cache of checked documents.
    pub fn new(limits: GraphqlLimits) -> Self {
        Self {
            limits,
            checked: Default::default(),
        }
    }

    /// Parses the document and refuses it past a limit. Runs before async-graphql's own
    /// parse-time checks (recursive depth, directives), which walk fragments without
    /// memoising and are themselves the expensive part.
    pub(super) fn check(&self, mut request: Request) -> ServerResult<Request> {
        if let Some(document) = self.checked.get(&request.query) {
            request.set_parsed_query(ExecutableDocument::clone(&document));
            return Ok(request);
        }
        let limits = self.limits;
        let tokens = count_tokens(&request.query, limits.max_tokens);
        if tokens > limits.max_tokens {
            return Err(ServerError::new(
                format!(
                    "the document has more than {} tokens (GRAPHQL_MAX_TOKENS)",
                    limits.max_tokens
                ),
                None,
            ));
        }
        // Parsed once (or already, by an earlier stage); async-graphql reuses it.
        check_document(request.parsed_query()?, limits)?;
        let document = request.parsed_query()?.clone();
        self.checked.keep(&request.query, document);
        Ok(request)
    }

    /// Runs the operation under the time budget, cancelled past it.
    pub(super) async fn within_budget(
        &self,
        operation: impl Future<Output = Response>,
    ) -> Response {
        let budget = Duration::from_millis(self.limits.execution_timeout_ms);
        match tokio::time::timeout(budget, operation).await {
            Ok(response) => response,
            Err(_) => Response::from_errors(vec![ServerError::new(
                format!(
                    "the operation ran longer than {} ms and was cancelled \
                     (GRAPHQL_EXECUTION_TIMEOUT_MS)",
                    self.limits.execution_timeout_ms
                ),
                None,
            )]),
        }
    }
}

/// Documents already parsed and found within the limits, by their text: a client sends
/// the same few documents over and over, and parsing is most of what a small query costs
/// before it runs. The result depends on the text and the limits alone (variables are
/// checked by validation, which runs on every request). Bounded: past
/// [`Checked::MAX_DOCUMENTS`] the cache starts again, and a document longer than
/// [`Checked::MAX_LEN`] is not kept.
#[derive(Default)]
struct Checked {
    documents: std::sync::Mutex<HashMap<String, std::sync::Arc<ExecutableDocument>>>,
}

impl Checked {
    const MAX_DOCUMENTS: usize = 512;
    const MAX_LEN: usize = 16 * 1024;

    fn get(&self, query: &str) -> Option<std::sync::Arc<ExecutableDocument>> {
        self.documents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(query)
            .cloned()
    }

    fn keep(&self, query: &str, document: ExecutableDocument) {
        if query.len() > Self::MAX_LEN {
            return;
        }
        let mut documents = self
            .documents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if documents.len() >= Self::MAX_DOCUMENTS {
            documents.clear();
        }
        documents.insert(query.to_owned(), std::sync::Arc::new(document));
    }
}

/// Lexical tokens in `query` (names, numbers, strings, punctuators), counting stops just
/// past `stop` so a huge document costs no more than a small one.
pub fn count_tokens(query: &str, stop: usize) -> usize {
    let bytes = query.as_bytes();
    let mut i = 0;
    let mut tokens = 0;
    while i < bytes.len() && tokens <= stop {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if bytes[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                tokens += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                tokens += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                tokens += 1;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'-' | b'+' | b'.'))
                {
                    if bytes[i] == b'.' && bytes[i..].starts_with(b"...") {
                        break;
                    }
                    i += 1;
                }
                tokens += 1;
            }
            _ => {
                // A punctuator, or a character the parser will refuse.
                i += query[i..].chars().next().map_or(1, char::len_utf8);
                tokens += 1;
            }
        }
    }
    tokens
}

fn refuse(message: String) -> ServerError {
    ServerError::new(message, None)
}

/// How deep introspection (`__schema`, `__type`) may nest: enough for graphql-js's standard
/// query (its `TypeRef` fragment nests `ofType` eight times), whatever `GRAPHQL_MAX_DEPTH` is.
pub const INTROSPECTION_MAX_DEPTH: usize = 20;

/// Aliases, depth and expanded selections of every operation in `document`, against the
/// limits. Depth counts fragments expanded; introspection subtrees have their own bound.
pub fn check_document(document: &ExecutableDocument, limits: GraphqlLimits) -> ServerResult<()> {
    let mut depths = Depths::default();
    for (_, operation) in document.operations.iter() {
        let (plain, introspection) =
            depths.of_set(document, &operation.node.selection_set.node, false);
        if plain > limits.max_depth {
            return Err(refuse(format!(
                "the operation nests {plain} levels deep; at most {} are allowed \
                 (GRAPHQL_MAX_DEPTH)",
                limits.max_depth
            )));
        }
        if introspection > INTROSPECTION_MAX_DEPTH {
            return Err(refuse(format!(
                "introspection nests {introspection} levels deep; at most \
                 {INTROSPECTION_MAX_DEPTH} are allowed"
            )));
        }
    }
    let mut aliases = 0usize;
    let mut expanded: HashMap<Name, usize> = HashMap::new();
    let mut visiting: Vec<Name> = Vec::new();
    for fragment in document.fragments.values() {
        aliases += count_aliases(&fragment.node.selection_set.node);
    }
    for (_, operation) in document.operations.iter() {
        aliases += count_aliases(&operation.node.selection_set.node);
        let selections = expand(
            document,
            &operation.node.selection_set.node,
            &mut expanded,
            &mut visiting,
            limits.max_selections,
        );
        if selections > limits.max_selections {
            return Err(refuse(format!(
                "the operation selects more than {} fields once its fragments are expanded \
                 (GRAPHQL_MAX_SELECTIONS)",
                limits.max_selections
            )));
        }
    }
    if aliases > limits.max_aliases {
        return Err(refuse(format!(
            "the document uses {aliases} aliases; at most {} are allowed (GRAPHQL_MAX_ALIASES)",
            limits.max_aliases
        )));
    }
    Ok(())
}

/// Depths of selection sets with fragments expanded, memoised per (fragment, inside
/// introspection): (deepest plain path, deepest introspection path).
#[derive(Default)]
struct Depths {
    memo: HashMap<(Name, bool), (usize, usize)>,
    visiting: Vec<Name>,
}

impl Depths {
    fn of_set(
        &mut self,
        document: &ExecutableDocument,
        set: &SelectionSet,
        introspection: bool,
    ) -> (usize, usize) {
        let mut deepest = (0, 0);
        for item in &set.items {
            let (plain, intro) = match &item.node {
                Selection::Field(field) => {
                    let inside = introspection
                        || matches!(field.node.name.node.as_str(), "__schema" | "__type");
                    let (p, i) = self.of_set(document, &field.node.selection_set.node, inside);
                    if inside {
                        (0, 1 + p.max(i))
                    } else {
                        (1 + p, if i > 0 { 1 + i } else { 0 })
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.of_set(document, &inline.node.selection_set.node, introspection)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.clone();
                    let key = (name.clone(), introspection);
                    if let Some(known) = self.memo.get(&key) {
                        *known
                    } else if self.visiting.contains(&name) {
                        (0, 0)
                    } else if let Some(fragment) = document.fragments.get(&name) {
                        self.visiting.push(name);
                        let found =
                            self.of_set(document, &fragment.node.selection_set.node, introspection);
                        self.visiting.pop();
                        self.memo.insert(key, found);
                        found
                    } else {
                        (0, 0)
                    }
                }
            };
            deepest = (deepest.0.max(plain), deepest.1.max(intro));
        }
        deepest
    }
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(inline) => count_aliases(&inline.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Selections in `set` with every spread expanded; saturates just past `cap`. A fragment
/// that spreads itself (which validation refuses) counts as nothing here.
fn expand(
    document: &ExecutableDocument,
    set: &SelectionSet,
    memo: &mut HashMap<Name, usize>,
    visiting: &mut Vec<Name>,
    cap: usize,
) -> usize {
    let mut total = 0usize;
    for item in &set.items {
        let add = match &item.node {
            Selection::Field(field) => {
                1 + expand(
                    document,
                    &field.node.selection_set.node,
                    memo,
                    visiting,
                    cap,
                )
            }
            Selection::InlineFragment(inline) => expand(
                document,
                &inline.node.selection_set.node,
                memo,
                visiting,
                cap,
            ),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if let Some(known) = memo.get(name) {
                    *known
                } else if visiting.contains(name) {
                    0
                } else if let Some(fragment) = document.fragments.get(name) {
                    visiting.push(name.clone());
                    let count = expand(
                        document,
                        &fragment.node.selection_set.node,
                        memo,
                        visiting,
                        cap,
                    );
                    visiting.pop();
                    memo.insert(name.clone(), count);
                    count
                } else {
                    0
                }
            }
        };
        total = total.saturating_add(add).min(cap.saturating_add(1));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_documents_are_found_by_their_text_and_stay_bounded() {
        let checked = Checked::default();
        let document = async_graphql::parser::parse_query("{ me { id } }").unwrap();
        checked.keep("{ me { id } }", document.clone());
        assert!(checked.get("{ me { id } }").is_some());
        assert!(checked.get("{ me { id name } }").is_none(), "another text");
        for i in 0..Checked::MAX_DOCUMENTS + 10 {
            checked.keep(&format!("{{ a{i} }}"), document.clone());
        }
        let kept = checked.documents.lock().unwrap().len();
        assert!((1..=Checked::MAX_DOCUMENTS).contains(&kept), "{kept} kept");
        let long = format!("{{ me {{ id }} }}{}", " ".repeat(Checked::MAX_LEN));
        checked.keep(&long, document);
        assert!(checked.get(&long).is_none(), "a long document is not kept");
    }

    fn limits() -> GraphqlLimits {
        GraphqlLimits::default()
    }

    fn check(query: &str) -> ServerResult<()> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        check_document(&document, limits())
    }

    /// `fragment F1 on Query { ...F0 a1: __typename ...F0 }` … `{ ...F<n> }`.
    fn doubling(n: usize) -> String {
        let mut query = String::from("fragment F0 on Query { __typename }\n");
        for i in 1..=n {
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{p} t{i}: __typename ...F{p} }}\n",
                p = i - 1
            ));
        }
        query.push_str(&format!("{{ ...F{n} }}"));
        query
    }

    #[test]
    fn tokens_are_counted_like_the_lexer_does() {
        assert_eq!(count_tokens("{ me { id } }", 100), 6);
        assert_eq!(count_tokens("query Q($a: Int = 1) { x(a: $a) }", 100), 19);
        assert_eq!(
            count_tokens("# comment\n{ a(s: \"x y\", b: \"\"\"z\"\"\") }", 100),
            11
        );
        assert_eq!(count_tokens("{ ...F }", 100), 4);
        assert!(count_tokens(&"a ".repeat(1_000_000), 10) <= 11);
    }

    #[test]
    fn fragment_doubling_is_refused_before_validation() {
        assert!(check(&doubling(3)).is_ok());
        let err = check(&doubling(20)).unwrap_err();
        assert!(
            err.message.contains("GRAPHQL_MAX_SELECTIONS"),
            "{}",
            err.message
        );
    }

    #[test]
    fn aliases_are_bounded() {
        let many: String = (0..16).map(|i| format!("a{i}: __typename ")).collect();
        let err = check(&format!("{{ {many} }}")).unwrap_err();
        assert!(err.message.contains("aliases"), "{}", err.message);
        let few: String = (0..15).map(|i| format!("a{i}: __typename ")).collect();
        assert!(check(&format!("{{ {few} }}")).is_ok());
    }

    #[test]
    fn the_standard_introspection_query_fits() {
        let query = include_str!("../../tests/api/graphql/tools/introspection.graphql");
        assert!(count_tokens(query, 10_000) < limits().max_tokens / 2);
        assert!(check(query).is_ok());
    }

    #[test]
    fn depth_counts_fragments_and_spares_introspection() {
        let mut limits = limits();
        limits.max_depth = 3;
        let check =
            |q: &str| check_document(&async_graphql::parser::parse_query(q).unwrap(), limits);
        assert!(check("{ a { b { c } } }").is_ok());
        assert!(check("{ a { b { c { d } } } }").is_err());
        assert!(check("fragment F on T { c { d } } { a { b { ...F } } }").is_err());
        assert!(check("{ __schema { types { fields { type { ofType { name } } } } } }").is_ok());
        let query = include_str!("../../tests/api/graphql/tools/introspection.graphql");
        assert!(check(query).is_ok());
        let too_deep = format!(
            "{{ __schema {{ types {} }} }}",
            "{ ofType ".repeat(25) + &"}".repeat(25)
        );
        assert!(check(&too_deep).is_err());
    }

    #[test]
    fn self_spreading_fragments_do_not_hang_the_walk() {
        assert!(check("fragment A on Query { ...A } { ...A }").is_ok());
    }
}
