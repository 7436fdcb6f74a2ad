//! With introspection off (production, unless `GRAPHQL_INTROSPECTION=true`), a document
//! that asks for `__schema` or `__type` is refused with an error saying so, instead of the
//! silent `null` async-graphql answers.

use async_graphql::parser::types::{Selection, SelectionSet};
use async_graphql::{Request, ServerError, ServerResult};

/// Refuses a document that asks for `__schema` or `__type` (a stage of
/// [`super::pipeline::Pipeline`], when introspection is off).
pub(super) fn refuse(mut request: Request) -> ServerResult<Request> {
    let asks = request.parsed_query().is_ok_and(|document| {
        document
            .operations
            .iter()
            .any(|(_, op)| asks_schema(&op.node.selection_set.node))
            || document
                .fragments
                .values()
                .any(|f| asks_schema(&f.node.selection_set.node))
    });
    if asks {
        return Err(ServerError::new(
            "introspection is turned off on this server (GRAPHQL_INTROSPECTION)",
            None,
        ));
    }
    Ok(request)
}

fn asks_schema(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "__schema" | "__type")
                || asks_schema(&field.node.selection_set.node)
        }
        Selection::InlineFragment(inline) => asks_schema(&inline.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}
