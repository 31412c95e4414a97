//! Job: sign out shared-computer devices whose last session is over.
//!
//! A person who signs in on a shared or public computer keeps nothing in
//! that browser after the tab closes (`docs/account.md`), so the device can
//! never be used again; left as it is, it would stay a member of every
//! conversation — one more leaf that makes a sender believe a message
//! reached someone — and its KeyPackages would keep it addable. Each round
//! revokes, as the server, every such device with no live session (ended by
//! logout or a password change, expired, or idle past its timeout), through
//! the same revocation as any other: removed from its conversations, its
//! unlock share destroyed. A logout revokes its own shared device at once
//! (`auth/http.rs`); this job is for the sessions nobody ended.

use crate::jobs::{Job, Round};
use crate::state::AppState;
use async_trait::async_trait;

/// Devices revoked per round at most.
const BATCH: i64 = 50;

/// The job.
pub struct SharedDevices {
    state: AppState,
}

impl SharedDevices {
    /// The job over this state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[async_trait]
impl Job for SharedDevices {
    fn name(&self) -> &'static str {
        "revocation.shared_devices"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let more = super::super::sign_out_lapsed_shared_devices(&self.state, BATCH).await?;
        Ok(if more { Round::More } else { Round::Idle })
    }
}
