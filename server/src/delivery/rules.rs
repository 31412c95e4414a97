//! Who may change a conversation's membership: pure decisions over facts.
//!
//! The facts come from two places the client does not control: what the
//! commit really does, as the server's public group read it
//! ([`alcove_crypto::public_group::CommitFacts`]), and what the database
//! knows of the devices and KeyPackages it names ([`DeviceFact`],
//! [`KeyPackageFact`]). Nothing here reads storage or the clock, so every
//! rule is unit-tested below without a database.
//!
//! The rules (each refusal is its own [`MembershipError`]):
//! - the committer is the calling device: at its own leaf for a member
//!   commit, the leaf its path installs for an external commit;
//! - Removes: the server's own proposals (it only proposes revoked
//!   devices), a revoked device, or a device of the committer's own user
//!   (signing out one's other device) — never the other person's devices;
//! - Adds: only a KeyPackage the server handed out for this conversation,
//!   of a device of one of its two people that is not revoked and not
//!   already a leaf, with a Welcome addressed to exactly those packages;
//! - the committer's path may refresh its own leaf's keys but not change
//!   its identity or signature key; Update, PSK, re-init and
//!   group-context-extension proposals are refused (the last could drop the
//!   server from the external senders and make revocation impossible);
//! - an external join: a non-revoked device of one of the two people whose
//!   registered signature key is the one in its new leaf;
//! - after a member commit no revoked device is left in the tree: a commit
//!   that skips a pending server Remove is refused. An external commit may
//!   not carry that Remove (RFC 9420 §12.4.3.2 allows it only the joiner's
//!   own old leaf), so a join is accepted with the revoked leaf still in;
//!   the server re-proposes the Remove at the new epoch and application
//!   messages stay refused until a member (the joiner included) commits it;
//! - every leaf after the commit is a known device of one of the two
//!   people, each device at most once.

use crate::error::AppError;
use crate::ids::{DeviceId, PracticeId, UserId};
use alcove_crypto::public_group::{CommitFacts, Committer, TreeMember};
use alcove_crypto::DeviceIdentity;
use std::collections::HashSet;

/// What the database knows of a device named by a commit.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceFact {
    /// Device.
    pub device_id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// Its practice.
    pub practice_id: PracticeId,
    /// Revoked (or its user deactivated).
    pub revoked: bool,
    /// The MLS signature key it registered with its first KeyPackages.
    pub signature_key: Option<Vec<u8>>,
}

/// What the database knows of a KeyPackage an Add uses.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyPackageFact {
    /// KeyPackageRef.
    pub kp_ref: Vec<u8>,
    /// Owner.
    pub device_id: DeviceId,
    /// The conversation it was handed out for, if claimed.
    pub conversation_id: Option<String>,
}

/// The conversation and the calling device.
#[derive(Clone, Debug)]
pub struct CommitContext<'a> {
    /// Conversation id.
    pub conversation_id: &'a str,
    /// Its practice.
    pub practice_id: PracticeId,
    /// The client.
    pub client_user_id: UserId,
    /// The staff member.
    pub staff_user_id: UserId,
    /// The device that posted the commit (from its session).
    pub caller_device: DeviceId,
    /// Its user.
    pub caller_user: UserId,
}

/// A membership change the rules allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Every leaf after the commit: (device, user, leaf index).
    pub members_after: Vec<(DeviceId, UserId, i64)>,
    /// Devices added by Welcome (they get the Welcome).
    pub welcome_to: Vec<DeviceId>,
    /// KeyPackages the commit used.
    pub used_key_packages: Vec<Vec<u8>>,
    /// True for an external commit (the caller joined by itself).
    pub external: bool,
    /// Refuse the commit if a revoked device is still a leaf when it is
    /// written (checked again inside the writing transaction).
    pub forbid_revoked: bool,
}

/// A refused membership change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The committer's leaf is not the calling device.
    #[error("the commit is not signed by this device's leaf")]
    NotMember,
    /// openmls' public processing refused the commit.
    #[error("invalid commit: {0}")]
    InvalidCommit(String),
    /// The epoch moved on.
    #[error("stale epoch")]
    StaleEpoch {
        /// Current epoch.
        current: i64,
    },
    /// A Remove of a device the committer may not remove.
    #[error("remove not allowed")]
    RemoveNotAllowed,
    /// An Add of a device (or a KeyPackage) that may not be added.
    #[error("add not allowed")]
    AddNotAllowed,
    /// An Add of a device that is already a leaf.
    #[error("already a member")]
    AlreadyMember,
    /// A change of the committer's identity or key, or an Update proposal.
    #[error("update not allowed")]
    UpdateNotAllowed,
    /// A proposal type the server never allows.
    #[error("proposal not allowed: {0}")]
    ProposalNotAllowed(&'static str),
    /// An external join by a device that may not join.
    #[error("join not allowed")]
    JoinNotAllowed,
    /// A revoked device would stay in the group.
    #[error("removal pending")]
    RemovalPending,
    /// The Welcome is not addressed to exactly the added packages.
    #[error("welcome mismatch")]
    WelcomeMismatch,
    /// The GroupInfo does not describe the state after the commit.
    #[error("group info mismatch: {0}")]
    GroupInfoMismatch(String),
    /// No public group state yet (the creator has not uploaded it).
    #[error("group state missing")]
    GroupStateMissing,
    /// The public group state already exists.
    #[error("group state exists")]
    GroupStateExists,
    /// The uploaded state does not match the server's membership.
    #[error("group state mismatch: {0}")]
    GroupStateMismatch(&'static str),
    /// A request field that is no longer accepted.
    #[error("field removed: {0}")]
    FieldRemoved(&'static str),
}

impl From<MembershipError> for AppError {
    fn from(e: MembershipError) -> Self {
        use MembershipError as E;
        let forbidden =
            |code: &'static str, msg: &'static str| AppError::forbidden(msg).with_code(code);
        match e {
            E::NotMember => forbidden("not_member", "this device is not the committer of this commit, or not a member"),
            E::InvalidCommit(_) => AppError::bad_request("invalid_commit", "the commit is not valid for this conversation's group"),
            E::StaleEpoch { current } => super::error::DeliveryError::StaleEpoch { current }.into(),
            E::RemoveNotAllowed => forbidden(
                "remove_not_allowed",
                "a commit may remove only the server's proposed removals, revoked devices and your own devices",
            ),
            E::AddNotAllowed => forbidden(
                "add_not_allowed",
                "a commit may add only devices of this conversation's people, with KeyPackages claimed for it",
            ),
            E::AlreadyMember => AppError::conflict("already_member", "the commit adds a device that is already a member"),
            E::UpdateNotAllowed => forbidden(
                "update_not_allowed",
                "a commit may not change a member's identity or signature key",
            ),
            E::ProposalNotAllowed(_) => forbidden(
                "proposal_not_allowed",
                "the commit carries a proposal type this server does not allow",
            ),
            E::JoinNotAllowed => forbidden(
                "join_not_allowed",
                "this device may not join this conversation by itself",
            ),
            E::RemovalPending => super::error::DeliveryError::RemovalPending.into(),
            E::WelcomeMismatch => AppError::bad_request(
                "welcome_mismatch",
                "the Welcome must be addressed to exactly the devices the commit adds",
            ),
            E::GroupInfoMismatch(_) => AppError::bad_request(
                "group_info_mismatch",
                "group_info must be the GroupInfo of the epoch the commit creates, signed by a member",
            ),
            E::GroupStateMissing => AppError::conflict(
                "group_state_missing",
                "the conversation's creator has not uploaded the group's first GroupInfo yet",
            ),
            E::GroupStateExists => AppError::conflict("group_state_exists", "the server already holds this group's state"),
            E::GroupStateMismatch(_) => AppError::bad_request(
                "group_state_mismatch",
                "the GroupInfo does not match this conversation's members, epoch or server key",
            ),
            E::FieldRemoved(field) => AppError::bad_request(
                "field_removed",
                format!("`{field}` is no longer accepted: the server reads membership from the commit itself"),
            ),
        }
    }
}

fn parse_identity(identity: &DeviceIdentity) -> Option<(PracticeId, UserId, DeviceId)> {
    Some((
        identity.practice_id.parse().ok()?,
        identity.user_id.parse().ok()?,
        identity.device_id.parse().ok()?,
    ))
}

fn is_caller(ctx: &CommitContext<'_>, identity: &DeviceIdentity) -> bool {
    parse_identity(identity) == Some((ctx.practice_id, ctx.caller_user, ctx.caller_device))
}

fn allowed_user(ctx: &CommitContext<'_>, user: UserId) -> bool {
    user == ctx.client_user_id || user == ctx.staff_user_id
}

/// The device a leaf's identity names, if the database knows it and the
/// identity's user and practice are that device's.
fn device_of<'f>(identity: &DeviceIdentity, devices: &'f [DeviceFact]) -> Option<&'f DeviceFact> {
    let (practice, user, device) = parse_identity(identity)?;
    devices
        .iter()
        .find(|d| d.device_id == device && d.user_id == user && d.practice_id == practice)
}

/// Devices (by id) a commit's facts name: look them up before deciding.
pub fn named_devices(facts: &CommitFacts) -> Vec<DeviceId> {
    let mut ids: Vec<DeviceId> = facts
        .members_after
        .iter()
        .map(|m| &m.identity)
        .chain(facts.removed.iter().map(|r| &r.identity))
        .chain(std::iter::once(facts.committer.identity()))
        .filter_map(|i| i.device_id.parse().ok())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Decide whether the caller may make this commit.
pub fn decide_commit(
    ctx: &CommitContext<'_>,
    facts: &CommitFacts,
    devices: &[DeviceFact],
    key_packages: &[KeyPackageFact],
    welcome_refs: &[Vec<u8>],
) -> Result<Decision, MembershipError> {
    let external = match &facts.committer {
        Committer::Member(m) => {
            if !is_caller(ctx, &m.identity) {
                return Err(MembershipError::NotMember);
            }
            false
        }
        Committer::External(m) => {
            if !is_caller(ctx, &m.identity) {
                return Err(MembershipError::JoinNotAllowed);
            }
            let Some(device) = device_of(&m.identity, devices) else {
                return Err(MembershipError::JoinNotAllowed);
            };
            if device.revoked
                || !allowed_user(ctx, device.user_id)
                || device.practice_id != ctx.practice_id
                || device.signature_key.as_deref() != Some(m.signature_key.as_slice())
            {
                return Err(MembershipError::JoinNotAllowed);
            }
            true
        }
    };
    if let Some(name) = facts.other_proposals.first() {
        return Err(MembershipError::ProposalNotAllowed(name));
    }
    if facts.updates > 0 {
        return Err(MembershipError::UpdateNotAllowed);
    }
    if let (Committer::Member(m), Some((identity, key))) = (&facts.committer, &facts.path_leaf) {
        if identity != &m.identity || key != &m.signature_key {
            return Err(MembershipError::UpdateNotAllowed);
        }
    }

    for removed in &facts.removed {
        if removed.by_server {
            continue;
        }
        let device = device_of(&removed.identity, devices);
        let own = device.is_some_and(|d| d.user_id == ctx.caller_user);
        let revoked = device.is_some_and(|d| d.revoked);
        if !own && !revoked {
            return Err(MembershipError::RemoveNotAllowed);
        }
    }

    let mut used_key_packages = Vec::new();
    let mut welcome_to = Vec::new();
    for added in &facts.added {
        let leaves_of_device = facts
            .members_after
            .iter()
            .filter(|m| m.identity == added.identity)
            .count();
        if leaves_of_device > 1 {
            return Err(MembershipError::AlreadyMember);
        }
        let Some(device) = device_of(&added.identity, devices) else {
            return Err(MembershipError::AddNotAllowed);
        };
        let claimed = key_packages.iter().any(|k| {
            k.kp_ref == added.key_package_ref
                && k.device_id == device.device_id
                && k.conversation_id.as_deref() == Some(ctx.conversation_id)
        });
        if !claimed || device.revoked || !allowed_user(ctx, device.user_id) {
            return Err(MembershipError::AddNotAllowed);
        }
        used_key_packages.push(added.key_package_ref.clone());
        welcome_to.push(device.device_id);
    }
    let wanted: HashSet<&[u8]> = used_key_packages.iter().map(Vec::as_slice).collect();
    let addressed: HashSet<&[u8]> = welcome_refs.iter().map(Vec::as_slice).collect();
    if wanted != addressed || welcome_refs.len() != addressed.len() {
        return Err(MembershipError::WelcomeMismatch);
    }

    let mut members_after = Vec::with_capacity(facts.members_after.len());
    let mut seen = HashSet::new();
    let mut revoked_left = false;
    for m in &facts.members_after {
        let Some(device) = device_of(&m.identity, devices) else {
            return Err(MembershipError::AddNotAllowed);
        };
        if !allowed_user(ctx, device.user_id) || !seen.insert(device.device_id) {
            return Err(MembershipError::AddNotAllowed);
        }
        revoked_left |= device.revoked;
        members_after.push((device.device_id, device.user_id, i64::from(m.leaf_index)));
    }
    if revoked_left && !external {
        return Err(MembershipError::RemovalPending);
    }
    Ok(Decision {
        members_after,
        welcome_to,
        used_key_packages,
        external,
        forbid_revoked: !external,
    })
}

/// Decide whether an uploaded first GroupInfo may start the server's state:
/// it must be at the conversation's epoch, carry the server (and only it)
/// as external sender, and have exactly the member rows the server holds
/// (at epoch 0: the creator at leaf 0).
pub fn decide_bootstrap(
    state_epoch: u64,
    conversation_epoch: i64,
    external_senders: &[Vec<u8>],
    server_sender: &[u8],
    tree: &[TreeMember],
    rows: &[(DeviceId, i64)],
) -> Result<(), MembershipError> {
    if i64::try_from(state_epoch).ok() != Some(conversation_epoch) {
        return Err(MembershipError::GroupStateMismatch("epoch"));
    }
    if external_senders.len() != 1 || external_senders[..] != [server_sender.to_vec()] {
        return Err(MembershipError::GroupStateMismatch("external sender"));
    }
    let mut from_tree: Vec<(DeviceId, i64)> = Vec::with_capacity(tree.len());
    for m in tree {
        let device = m
            .identity
            .device_id
            .parse()
            .map_err(|_| MembershipError::GroupStateMismatch("identity"))?;
        from_tree.push((device, i64::from(m.leaf_index)));
    }
    let mut rows = rows.to_vec();
    from_tree.sort();
    rows.sort();
    if from_tree != rows {
        return Err(MembershipError::GroupStateMismatch("members"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alcove_crypto::public_group::{AddedDevice, RemovedDevice};
    use axum::http::StatusCode;

    struct World {
        practice: PracticeId,
        client: UserId,
        staff: UserId,
        outsider: UserId,
        devices: Vec<DeviceFact>,
    }

    fn uuid<T: std::str::FromStr>() -> T
    where
        T::Err: std::fmt::Debug,
    {
        uuid::Uuid::new_v4().to_string().parse().unwrap()
    }

    impl World {
        fn new() -> Self {
            Self {
                practice: uuid(),
                client: uuid(),
                staff: uuid(),
                outsider: uuid(),
                devices: Vec::new(),
            }
        }
        fn device(&mut self, user: UserId, revoked: bool) -> DeviceIdentity {
            let device_id: DeviceId = uuid();
            self.devices.push(DeviceFact {
                device_id,
                user_id: user,
                practice_id: self.practice,
                revoked,
                signature_key: Some(device_id.to_string().into_bytes()),
            });
            DeviceIdentity::new(
                self.practice.to_string(),
                user.to_string(),
                device_id.to_string(),
            )
            .unwrap()
        }
        fn ctx<'a>(&self, caller: &DeviceIdentity) -> CommitContext<'a> {
            CommitContext {
                conversation_id: "conv",
                practice_id: self.practice,
                client_user_id: self.client,
                staff_user_id: self.staff,
                caller_device: caller.device_id.parse().unwrap(),
                caller_user: caller.user_id.parse().unwrap(),
            }
        }
    }

    fn leaf(i: u32, identity: &DeviceIdentity) -> TreeMember {
        TreeMember {
            leaf_index: i,
            identity: identity.clone(),
            signature_key: identity.device_id.clone().into_bytes(),
        }
    }

    fn facts(committer: Committer, members_after: Vec<TreeMember>) -> CommitFacts {
        CommitFacts {
            epoch: 3,
            committer,
            added: Vec::new(),
            removed: Vec::new(),
            updates: 0,
            other_proposals: Vec::new(),
            path_leaf: None,
            members_after,
        }
    }

    fn removed(i: u32, identity: &DeviceIdentity, by_server: bool) -> RemovedDevice {
        RemovedDevice {
            leaf_index: i,
            identity: identity.clone(),
            by_server,
        }
    }

    #[test]
    fn a_self_update_keeps_everyone_and_is_allowed() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let p = w.device(w.client, false);
        let mut f = facts(
            Committer::Member(leaf(0, &c)),
            vec![leaf(0, &c), leaf(1, &p)],
        );
        f.path_leaf = Some((c.clone(), c.device_id.clone().into_bytes()));
        let d = decide_commit(&w.ctx(&c), &f, &w.devices, &[], &[]).unwrap();
        assert_eq!(d.members_after.len(), 2);
        assert!(d.forbid_revoked && !d.external);
    }

    #[test]
    fn a_commit_signed_by_another_leaf_is_not_the_callers() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let p = w.device(w.client, false);
        let f = facts(
            Committer::Member(leaf(0, &c)),
            vec![leaf(0, &c), leaf(1, &p)],
        );
        assert_eq!(
            decide_commit(&w.ctx(&p), &f, &w.devices, &[], &[]),
            Err(MembershipError::NotMember)
        );
    }

    #[test]
    fn a_client_cannot_remove_the_clinicians_devices() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let p = w.device(w.client, false);
        let mut f = facts(Committer::Member(leaf(1, &p)), vec![leaf(1, &p)]);
        f.removed = vec![removed(0, &c, false)];
        assert_eq!(
            decide_commit(&w.ctx(&p), &f, &w.devices, &[], &[]),
            Err(MembershipError::RemoveNotAllowed)
        );
    }

    #[test]
    fn own_devices_revoked_devices_and_server_proposals_may_be_removed() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let p1 = w.device(w.client, false);
        let p2 = w.device(w.client, false);
        let lost = w.device(w.staff, true);
        let mut f = facts(
            Committer::Member(leaf(1, &p1)),
            vec![leaf(0, &c), leaf(1, &p1)],
        );
        f.removed = vec![removed(2, &p2, false), removed(3, &lost, false)];
        decide_commit(&w.ctx(&p1), &f, &w.devices, &[], &[]).unwrap();
        f.removed = vec![removed(3, &lost, true)];
        decide_commit(&w.ctx(&p1), &f, &w.devices, &[], &[]).unwrap();
    }

    #[test]
    fn a_commit_that_leaves_a_revoked_device_in_is_refused() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let lost = w.device(w.client, true);
        let f = facts(
            Committer::Member(leaf(0, &c)),
            vec![leaf(0, &c), leaf(1, &lost)],
        );
        assert_eq!(
            decide_commit(&w.ctx(&c), &f, &w.devices, &[], &[]),
            Err(MembershipError::RemovalPending)
        );
    }

    #[test]
    fn adds_need_a_package_claimed_here_for_an_allowed_device_and_a_matching_welcome() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let p = w.device(w.client, false);
        let stranger = w.device(w.outsider, false);
        let kp = KeyPackageFact {
            kp_ref: vec![7; 32],
            device_id: p.device_id.parse().unwrap(),
            conversation_id: Some("conv".into()),
        };
        let mut f = facts(
            Committer::Member(leaf(0, &c)),
            vec![leaf(0, &c), leaf(1, &p)],
        );
        f.added = vec![AddedDevice {
            key_package_ref: vec![7; 32],
            identity: p.clone(),
            leaf_index: 1,
        }];
        let d = decide_commit(
            &w.ctx(&c),
            &f,
            &w.devices,
            std::slice::from_ref(&kp),
            &[vec![7; 32]],
        )
        .unwrap();
        assert_eq!(d.welcome_to, vec![p.device_id.parse::<DeviceId>().unwrap()]);
        // Without a Welcome, or one to another package.
        assert_eq!(
            decide_commit(&w.ctx(&c), &f, &w.devices, std::slice::from_ref(&kp), &[]),
            Err(MembershipError::WelcomeMismatch)
        );
        assert_eq!(
            decide_commit(
                &w.ctx(&c),
                &f,
                &w.devices,
                std::slice::from_ref(&kp),
                &[vec![7; 32], vec![8; 32]]
            ),
            Err(MembershipError::WelcomeMismatch)
        );
        // A package never handed out for this conversation.
        let elsewhere = KeyPackageFact {
            conversation_id: Some("other".into()),
            ..kp.clone()
        };
        assert_eq!(
            decide_commit(&w.ctx(&c), &f, &w.devices, &[elsewhere], &[vec![7; 32]]),
            Err(MembershipError::AddNotAllowed)
        );
        // An outsider's device, even with a package.
        let mut f2 = facts(
            Committer::Member(leaf(0, &c)),
            vec![leaf(0, &c), leaf(1, &stranger)],
        );
        f2.added = vec![AddedDevice {
            key_package_ref: vec![9; 32],
            identity: stranger.clone(),
            leaf_index: 1,
        }];
        let skp = KeyPackageFact {
            kp_ref: vec![9; 32],
            device_id: stranger.device_id.parse().unwrap(),
            conversation_id: Some("conv".into()),
        };
        assert_eq!(
            decide_commit(&w.ctx(&c), &f2, &w.devices, &[skp], &[vec![9; 32]]),
            Err(MembershipError::AddNotAllowed)
        );
        // The same device twice.
        let mut f3 = facts(
            Committer::Member(leaf(0, &c)),
            vec![leaf(0, &c), leaf(1, &p), leaf(2, &p)],
        );
        f3.added = vec![AddedDevice {
            key_package_ref: vec![7; 32],
            identity: p.clone(),
            leaf_index: 2,
        }];
        assert_eq!(
            decide_commit(&w.ctx(&c), &f3, &w.devices, &[kp], &[vec![7; 32]]),
            Err(MembershipError::AlreadyMember)
        );
    }

    #[test]
    fn identity_changes_and_foreign_proposals_are_refused() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let p = w.device(w.client, false);
        let mut f = facts(
            Committer::Member(leaf(1, &p)),
            vec![leaf(0, &c), leaf(1, &p)],
        );
        f.path_leaf = Some((c.clone(), c.device_id.clone().into_bytes()));
        assert_eq!(
            decide_commit(&w.ctx(&p), &f, &w.devices, &[], &[]),
            Err(MembershipError::UpdateNotAllowed)
        );
        f.path_leaf = None;
        f.other_proposals = vec!["group_context_extensions"];
        assert_eq!(
            decide_commit(&w.ctx(&p), &f, &w.devices, &[], &[]),
            Err(MembershipError::ProposalNotAllowed(
                "group_context_extensions"
            ))
        );
    }

    #[test]
    fn external_joins_by_an_allowed_device_with_its_registered_key() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let p = w.device(w.client, false);
        let lost = w.device(w.client, true);
        let stranger = w.device(w.outsider, false);
        // Joining while a revoked device is still in: allowed (its removal
        // follows at the next epoch).
        let f = facts(
            Committer::External(leaf(2, &p)),
            vec![leaf(0, &c), leaf(1, &lost), leaf(2, &p)],
        );
        let d = decide_commit(&w.ctx(&p), &f, &w.devices, &[], &[]).unwrap();
        assert!(d.external && !d.forbid_revoked);
        // A stranger, or a device claiming another's identity.
        let f = facts(
            Committer::External(leaf(1, &stranger)),
            vec![leaf(0, &c), leaf(1, &stranger)],
        );
        assert_eq!(
            decide_commit(&w.ctx(&stranger), &f, &w.devices, &[], &[]),
            Err(MembershipError::JoinNotAllowed)
        );
        let f = facts(
            Committer::External(leaf(1, &p)),
            vec![leaf(0, &c), leaf(1, &p)],
        );
        assert_eq!(
            decide_commit(&w.ctx(&c), &f, &w.devices, &[], &[]),
            Err(MembershipError::JoinNotAllowed)
        );
        // A key other than the registered one.
        let mut wrong = leaf(1, &p);
        wrong.signature_key = vec![1; 32];
        let f = facts(Committer::External(wrong.clone()), vec![leaf(0, &c), wrong]);
        assert_eq!(
            decide_commit(&w.ctx(&p), &f, &w.devices, &[], &[]),
            Err(MembershipError::JoinNotAllowed)
        );
        // A revoked device cannot come back by itself.
        let f = facts(
            Committer::External(leaf(1, &lost)),
            vec![leaf(0, &c), leaf(1, &lost)],
        );
        assert_eq!(
            decide_commit(&w.ctx(&lost), &f, &w.devices, &[], &[]),
            Err(MembershipError::JoinNotAllowed)
        );
    }

    #[test]
    fn bootstrap_must_match_the_rows_the_epoch_and_the_server_key() {
        let mut w = World::new();
        let c = w.device(w.staff, false);
        let tree = vec![leaf(0, &c)];
        let rows = vec![(c.device_id.parse().unwrap(), 0)];
        let server = vec![1, 2, 3];
        decide_bootstrap(0, 0, std::slice::from_ref(&server), &server, &tree, &rows).unwrap();
        assert!(
            decide_bootstrap(1, 0, std::slice::from_ref(&server), &server, &tree, &rows).is_err()
        );
        assert!(decide_bootstrap(0, 0, &[], &server, &tree, &rows).is_err());
        assert!(decide_bootstrap(0, 0, &[server.clone(), vec![9]], &server, &tree, &rows).is_err());
        assert!(
            decide_bootstrap(0, 0, std::slice::from_ref(&server), &server, &tree, &[]).is_err()
        );
    }

    #[test]
    fn every_refusal_has_its_own_code() {
        let errors = [
            MembershipError::NotMember,
            MembershipError::InvalidCommit(String::new()),
            MembershipError::StaleEpoch { current: 1 },
            MembershipError::RemoveNotAllowed,
            MembershipError::AddNotAllowed,
            MembershipError::AlreadyMember,
            MembershipError::UpdateNotAllowed,
            MembershipError::ProposalNotAllowed("x"),
            MembershipError::JoinNotAllowed,
            MembershipError::RemovalPending,
            MembershipError::WelcomeMismatch,
            MembershipError::GroupInfoMismatch(String::new()),
            MembershipError::GroupStateMissing,
            MembershipError::GroupStateExists,
            MembershipError::GroupStateMismatch("x"),
            MembershipError::FieldRemoved("x"),
        ];
        let codes: HashSet<&str> = errors
            .iter()
            .map(|e| AppError::from(e.clone()).code)
            .collect();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(
            AppError::from(MembershipError::RemoveNotAllowed).status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            AppError::from(MembershipError::StaleEpoch { current: 4 }).status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            AppError::from(MembershipError::FieldRemoved("added")).status,
            StatusCode::BAD_REQUEST
        );
    }
}
