//! Keyset pagination. Ids are UUIDv7, so ordering by id is ordering by creation, and a
//! cursor is the last id seen (opaque to clients).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::AppError;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// Page size when the client does not say.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// `first`/`after`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items.
    pub first: u64,
    /// Items strictly after this id.
    pub after: Option<Uuid>,
    /// Whether the list's total is wanted (`totalCount` selected); counting is the dearest
    /// statement of a page, so it runs only when asked.
    pub count: bool,
}

impl PageRequest {
    /// Parses the Relay arguments; a bad cursor or size names its argument.
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<Self, AppError> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
            Some(_) => {
                return Err(AppError::bad_input(
                    "first",
                    format!("must be between 1 and {MAX_PAGE_SIZE}"),
                ));
            }
        };
        let after = after.map(decode_cursor).transpose()?;
        Ok(Self {
            first,
            after,
            count: true,
        })
    }

    /// The same request, counting the whole list only if `count`.
    pub fn counting(self, count: bool) -> Self {
        Self { count, ..self }
    }
}

/// One page of items in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether more items follow.
    pub has_next: bool,
    /// Whether items precede (a cursor was given).
    pub has_previous: bool,
    /// Items in the whole list; 0 when the request did not ask for it (`count` false).
    pub total: u64,
}

impl<T> Page<T> {
    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
            total: self.total,
        }
    }
}

/// The opaque cursor of an id.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<Uuid, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input("after", "not a cursor from this API"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let page = PageRequest::parse(Some(5), Some(&encode_cursor(id))).unwrap();
        assert_eq!(page.after, Some(id));
        assert_eq!(page.first, 5);
        let err = PageRequest::parse(None, Some("not-a-cursor")).unwrap_err();
        assert!(matches!(err, AppError::BadInput { ref field, .. } if field == "after"));
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert!(PageRequest::parse(Some(0), None).is_err());
    }
}
