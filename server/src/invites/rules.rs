//! Why a link was not redeemed, from what its row says. Pure.

use super::error::InviteError;
use crate::storage::error::StoreError;

/// The refusal for a link the single-use UPDATE did not match, from its
/// row's `(expires_at, used_at, revoked_at)` (none: no such link). The
/// UPDATE matched nothing, so a row that is neither used nor revoked has
/// expired.
pub fn refusal(row: Option<(i64, Option<i64>, Option<i64>)>) -> InviteError {
    match row {
        None => StoreError::NotFound.into(),
        Some((_, Some(_), _)) | Some((_, _, Some(_))) => InviteError::Used,
        Some(_) => InviteError::Expired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_or_revoked_links_are_used_and_the_rest_expired() {
        assert!(matches!(
            refusal(Some((9, Some(1), None))),
            InviteError::Used
        ));
        assert!(matches!(
            refusal(Some((9, None, Some(1)))),
            InviteError::Used
        ));
        assert!(matches!(
            refusal(Some((9, None, None))),
            InviteError::Expired
        ));
        assert!(matches!(
            refusal(None),
            InviteError::Store(StoreError::NotFound)
        ));
    }
}
