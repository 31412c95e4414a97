//! Commit inspection: the server's public group state of a real
//! two-device conversation at epoch 1 (`fixtures/conversation_epoch1.bin`)
//! checks a posted commit (`apply_commit`, with up to two of the server's
//! Remove proposals) and then the GroupInfo posted with it
//! (`check_group_info`), as `delivery::membership::accept_commit` does.
//!
//! Input: a byte whose value mod 3 is the number of proposals, then the
//! proposals and the commit as u16-length-prefixed parts, then the GroupInfo.
#![no_main]

use alcove_crypto::public_group::{Committer, ConversationState};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static STATE: OnceLock<Vec<u8>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let state = STATE.get_or_init(|| alcove_fuzz::fixture("conversation_epoch1.bin"));
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(flags % 3);
    let parts = alcove_fuzz::split(rest, n + 2);
    let proposals: Vec<Vec<u8>> = parts[..n].iter().map(|p| p.to_vec()).collect();
    let (commit, group_info) = (parts[n], parts[n + 1]);

    let current = ConversationState::restore(state).expect("fixture state");
    let before = current.members().expect("fixture members").len();
    let Ok((next, facts)) = current.apply_commit(commit, &proposals) else {
        return;
    };
    assert_eq!(facts.epoch, 1);
    assert_eq!(next.epoch(), 2);
    let after = next.members().expect("members after a commit");
    assert_eq!(after, facts.members_after);
    assert_eq!(
        after.len() + facts.removed.len(),
        before + facts.added.len() + usize::from(matches!(facts.committer, Committer::External(_)))
    );
    if !group_info.is_empty() {
        let _ = next.check_group_info(group_info);
    }
    let bytes = next.to_bytes().expect("state after a commit");
    let again = ConversationState::restore(&bytes).expect("state round trip");
    assert_eq!(again.epoch(), 2);
});
