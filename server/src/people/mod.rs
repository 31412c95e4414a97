//! People of the practice as its admins manage them: the list, one person,
//! and what the practice records about a person beyond their account — for
//! now their state of residence, which breach notification needs
//! (45 CFR 164.406: more than 500 residents of one state affected means its
//! media too). Accounts themselves (sign-in, devices) are `auth` and
//! `account`; deactivation is `revocation`.
//!
//! Invariants:
//! - Only admins read the list or another person (`Permission::ManagePeople`);
//!   reading is audited (`users.listed`, `users.viewed`).
//! - A state of residence is a USPS code of a state, DC or a territory
//!   (`rules::UsState`), or nothing; anything else is refused at the edge.
//! - Recording it is audited in its transaction as
//!   `user.residence_recorded`, without the state (the entry says that it
//!   changed and whose; the practice sees the value).

pub mod http;
pub mod rules;
#[macro_use]
mod sql;
pub mod store;
