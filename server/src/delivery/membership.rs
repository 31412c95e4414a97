//! Accepting commits: membership computed from MLS content.
//!
//! A commit goes through three steps, in this order:
//! 1. the conversation's public group (`alcove_crypto::public_group`)
//!    checks it as far as public data allows and reports what it does;
//! 2. `rules::decide_commit` decides, over those facts and what storage
//!    knows of the devices and KeyPackages named, whether this caller may
//!    make this change;
//! 3. storage writes it — log entry, new group state and GroupInfo,
//!    membership rows from the tree, Welcomes, audit — in one transaction
//!    guarded by the epoch, so of two commits for one epoch exactly one is
//!    written, and a state only ever moves by a checked commit.
//!
//! Steps 1 and 2 read without a transaction: if anything they read moved
//! (the epoch), step 3 refuses with `stale_epoch`; a revocation that lands
//! between 2 and 3 is caught by step 3's own check of the tree's devices.

use super::rules::{self, CommitContext, MembershipError};
use super::{group_id, wake::Wake};
use crate::audit::Event;
use crate::delivery::store::{Conversation, GroupState, NewCommit};
use crate::error::{ApiResult, AppError};
use crate::ids::DeviceId;
use crate::state::AppState;
use crate::storage::StoreError;
use alcove_crypto::public_group::ConversationState;

/// A commit as posted by a device.
pub struct PostedCommit {
    /// The commit (`MLSMessage` PublicMessage).
    pub commit: Vec<u8>,
    /// The Welcome for added devices.
    pub welcome: Option<Vec<u8>>,
    /// The GroupInfo of the epoch the commit creates.
    pub group_info: Vec<u8>,
}

/// Where an accepted commit landed.
pub struct AcceptedCommit {
    /// Its sequence number.
    pub seq: i64,
    /// The epoch after it.
    pub epoch: i64,
}

fn invalid(e: alcove_crypto::Error) -> MembershipError {
    match e {
        alcove_crypto::Error::WrongEpoch { group_epoch, .. } => MembershipError::StaleEpoch {
            current: i64::try_from(group_epoch).unwrap_or(i64::MAX),
        },
        other => MembershipError::InvalidCommit(other.code().to_string()),
    }
}

/// Run the CPU-bound MLS checks off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MembershipError> + Send + 'static,
) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(AppError::from),
        Err(e) => Err(AppError::internal(anyhow::anyhow!(
            "commit check task: {e}"
        ))),
    }
}

/// Check, decide and store a commit from `caller` (an authenticated device
/// of one of the conversation's people); wake the members and added
/// devices; re-issue the server's removals for the new epoch.
pub async fn accept_commit(
    state: &AppState,
    conversation: &Conversation,
    caller: (crate::ids::UserId, DeviceId),
    posted: PostedCommit,
    event: Event,
) -> ApiResult<AcceptedCommit> {
    let Some(stored) = state.store.group_state(&conversation.id).await? else {
        return Err(MembershipError::GroupStateMissing.into());
    };
    if stored.epoch != conversation.epoch {
        return Err(MembershipError::StaleEpoch {
            current: conversation.epoch,
        }
        .into());
    }
    let proposals = state
        .store
        .server_proposals(&conversation.id, stored.epoch)
        .await?;
    let welcome_refs = match &posted.welcome {
        Some(w) => alcove_crypto::server::welcome_key_package_refs(w)
            .map_err(|_| MembershipError::WelcomeMismatch)?,
        None => Vec::new(),
    };
    let commit_bytes = posted.commit.clone();
    let group_info = posted.group_info.clone();
    let state_bytes = stored.state;
    let (new_state, facts) = blocking(move || {
        let current = ConversationState::restore(&state_bytes).map_err(invalid)?;
        let (next, facts) = current
            .apply_commit(&commit_bytes, &proposals)
            .map_err(invalid)?;
        next.check_group_info(&group_info)
            .map_err(|e| MembershipError::GroupInfoMismatch(e.code().to_string()))?;
        let bytes = next
            .to_bytes()
            .map_err(|e| MembershipError::InvalidCommit(e.code().to_string()))?;
        Ok((bytes, facts))
    })
    .await?;

    let devices = rules::named_devices(&facts);
    let kp_refs: Vec<Vec<u8>> = facts
        .added
        .iter()
        .map(|a| a.key_package_ref.clone())
        .collect();
    let known = state.store.membership_facts(&devices, &kp_refs).await?;
    let ctx = CommitContext {
        conversation_id: &conversation.id,
        practice_id: conversation.practice_id,
        client_user_id: conversation.client_user_id,
        staff_user_id: conversation.staff_user_id,
        caller_device: caller.1,
        caller_user: caller.0,
    };
    let decision = rules::decide_commit(
        &ctx,
        &facts,
        &known.devices,
        &known.key_packages,
        &welcome_refs,
    )?;
    let new = NewCommit {
        conversation_id: conversation.id.clone(),
        sender_device: caller.1,
        epoch: stored.epoch,
        data: posted.commit,
        state: new_state,
        group_info: posted.group_info,
        members_after: decision.members_after,
        welcome: posted.welcome.filter(|_| !decision.welcome_to.is_empty()),
        welcome_to: decision.welcome_to.clone(),
        used_key_packages: decision.used_key_packages,
        forbid_revoked: decision.forbid_revoked,
    };
    let mut event = event;
    event.target_conversation = Some(conversation.id.clone());
    let appended = state.store.accept_commit(&new, state.now(), event).await?;
    state
        .delivery
        .wakeups
        .wake(&appended.wake, Wake::Conversation(conversation.id.clone()));
    state
        .delivery
        .wakeups
        .wake(&decision.welcome_to, Wake::Welcome);
    // Any revoked device still a leaf (an external join does not remove
    // it) gets the server's Remove proposal for the new epoch.
    crate::revocation::ensure_removals(state, &conversation.id).await?;
    Ok(AcceptedCommit {
        seq: appended.seq,
        epoch: stored.epoch + 1,
    })
}

/// Start the server's public group state from the GroupInfo a member
/// uploads (the creator at epoch 0, or a member of a conversation from
/// before the server held state). Its tree must have exactly the member
/// rows the server holds and the server as the only external sender.
pub async fn init_group_state(
    state: &AppState,
    conversation: &Conversation,
    group_info: Vec<u8>,
    event: Event,
) -> ApiResult<()> {
    if state.store.group_state(&conversation.id).await?.is_some() {
        return Err(MembershipError::GroupStateExists.into());
    }
    let gid = group_id(&conversation.id).to_vec();
    let gi = group_info.clone();
    let parsed = blocking(move || {
        let s = ConversationState::from_group_info(&gi, &gid)
            .map_err(|_| MembershipError::GroupStateMismatch("group info"))?;
        let members = s
            .members()
            .map_err(|_| MembershipError::GroupStateMismatch("identity"))?;
        let senders = s
            .external_senders()
            .map_err(|_| MembershipError::GroupStateMismatch("external sender"))?;
        let bytes = s
            .to_bytes()
            .map_err(|_| MembershipError::GroupStateMismatch("group info"))?;
        Ok((s.epoch(), members, senders, bytes))
    })
    .await?;
    let (epoch, members, senders, bytes) = parsed;
    let rows: Vec<(DeviceId, i64)> = state
        .store
        .members(&conversation.id)
        .await?
        .into_iter()
        .map(|m| (m.device_id, m.leaf_index))
        .collect();
    let server = state
        .delivery
        .external_sender
        .public_bytes()
        .map_err(|e| AppError::internal(anyhow::anyhow!("server key: {}", e.code())))?;
    rules::decide_bootstrap(
        epoch,
        conversation.epoch,
        &senders,
        &server,
        &members,
        &rows,
    )?;
    let stored = GroupState {
        epoch: conversation.epoch,
        state: bytes,
        group_info,
    };
    let mut event = event;
    event.target_conversation = Some(conversation.id.clone());
    match state
        .store
        .init_group_state(&conversation.id, &stored, state.now(), event)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(MembershipError::GroupStateExists.into()),
        Err(StoreError::NotFound) => Err(AppError::not_found("conversation")),
        Err(e) => Err(e.into()),
    }
}
