//! Revocation: cutting off a lost device or a departed person at once.
//!
//! When `revoke_devices` or `deactivate_user` returns:
//! - every session token of the devices fails at its next use (the storage
//!   transaction ended the sessions and marked the devices revoked);
//! - their sockets have been told to close with reason `revoked`;
//! - their KeyPackages, pending Welcomes and unlock shares are gone, so they
//!   can never be added again and their sealed local state can never be
//!   opened again (crypto-shredding);
//! - for every conversation they are still a leaf of, the server (the MLS
//!   external sender) has put a signed Remove proposal into the log, and
//!   the conversation refuses application messages until a member commits
//!   the removal.
//!
//! `ensure_removals` is idempotent: it (re)issues proposals for the current
//! epoch wherever a revoked device is still a leaf. It runs after every
//! revocation, after every accepted commit (a commit that did not include
//! the removal moved the epoch, so the proposal is re-issued), and at start
//! (so a crash between the revocation and its proposals loses nothing).

pub mod error;
pub mod http;
pub mod jobs;
#[macro_use]
mod sql;
pub mod store;

use crate::audit::Event;
use crate::delivery::{group_id, wake::Wake};
use crate::ids::{DeviceId, PracticeId, UserId};
use crate::revocation::store::{HowRevoked, Revoked};
use crate::state::AppState;
use crate::storage::StoreResult;
use error::RevocationError;

/// Revokes devices of a practice and starts their removal from every group.
pub async fn revoke_devices(
    state: &AppState,
    practice: PracticeId,
    devices: &[DeviceId],
    reason: &'static str,
    lost_by: Option<UserId>,
    event: Event,
) -> StoreResult<Revoked> {
    // Asked before the revocation closes them (this node's sockets; a
    // multi-node wake-up implementation answers for all of them).
    let sockets_open: Vec<DeviceId> = devices
        .iter()
        .copied()
        .filter(|d| state.delivery.wakeups.online(&[*d]))
        .collect();
    let revoked = state
        .store
        .revoke_devices(
            practice,
            devices,
            HowRevoked {
                reason,
                lost_by,
                sockets_open: &sockets_open,
            },
            state.now(),
            event,
        )
        .await?;
    after_revocation(state, &revoked).await?;
    Ok(revoked)
}

/// Signs out (revokes) shared-computer devices with no live session left,
/// as the server: at most `batch` per call. Returns whether more may be
/// waiting.
pub async fn sign_out_lapsed_shared_devices(state: &AppState, batch: i64) -> StoreResult<bool> {
    let lapsed = state
        .store
        .lapsed_shared_devices(state.now(), batch)
        .await?;
    for (practice, device) in &lapsed {
        // The server acts: no actor. The entry's detail says "signed_out".
        let event = Event::new(
            *practice,
            crate::audit::Action::DeviceRevoked,
            &crate::audit::RequestMeta::default(),
        );
        revoke_devices(state, *practice, &[*device], "signed_out", None, event).await?;
    }
    Ok(lapsed.len() as i64 >= batch)
}

/// Deactivates a user and starts the removal of all their devices.
pub async fn deactivate_user(
    state: &AppState,
    practice: PracticeId,
    user: UserId,
    event: Event,
) -> Result<Revoked, RevocationError> {
    let revoked = state
        .store
        .deactivate_user(practice, user, state.now(), event)
        .await?;
    after_revocation(state, &revoked).await?;
    Ok(revoked)
}

async fn after_revocation(state: &AppState, revoked: &Revoked) -> StoreResult<()> {
    state.delivery.wakeups.wake(&revoked.devices, Wake::Revoked);
    for conversation in &revoked.conversations {
        ensure_removals(state, conversation).await?;
    }
    Ok(())
}

/// Issues the server's Remove proposal, for the current epoch, for every
/// revoked device still in the conversation, and wakes its members.
pub async fn ensure_removals(state: &AppState, conversation: &str) -> StoreResult<()> {
    // A commit can move the epoch between reading and appending; a few
    // rounds settle it, and the next commit retries anyway.
    for _ in 0..3 {
        let pending = state
            .store
            .pending_removals(None, Some(conversation))
            .await?;
        let mut raced = false;
        for removal in pending.iter().filter(|r| !r.proposed) {
            let (Ok(epoch), Ok(leaf)) = (
                u64::try_from(removal.epoch),
                u32::try_from(removal.leaf_index),
            ) else {
                continue;
            };
            let proposal = match state.delivery.external_sender.propose_remove(
                group_id(conversation),
                epoch,
                leaf,
            ) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(code = e.code(), "cannot sign a removal proposal");
                    continue;
                }
            };
            match state
                .store
                .append_removal_proposal(removal, &proposal, state.now())
                .await?
            {
                Some(_) => {
                    let members: Vec<DeviceId> = state
                        .store
                        .members(conversation)
                        .await?
                        .into_iter()
                        .map(|m| m.device_id)
                        .collect();
                    state
                        .delivery
                        .wakeups
                        .wake(&members, Wake::Conversation(conversation.to_string()));
                }
                None => raced = true,
            }
        }
        if !raced {
            break;
        }
    }
    Ok(())
}

/// Re-issues every missing proposal (at start, after a crash).
pub async fn ensure_all_removals(state: &AppState) -> StoreResult<()> {
    let pending = state.store.pending_removals(None, None).await?;
    let mut conversations: Vec<String> = pending
        .into_iter()
        .filter(|p| !p.proposed)
        .map(|p| p.conversation_id)
        .collect();
    conversations.dedup();
    for conversation in conversations {
        ensure_removals(state, &conversation).await?;
    }
    Ok(())
}
