//! GroupInfo validation: starting the server's group state from an
//! uploaded GroupInfo (`ConversationState::from_group_info`, called by
//! `PUT …/group-info` at epoch 0), and checking a GroupInfo against a real
//! state at epoch 1 (`check_group_info`, as for the GroupInfo posted with
//! every commit).
#![no_main]

use alcove_crypto::public_group::ConversationState;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static STATE: ConversationState =
        ConversationState::restore(&alcove_fuzz::fixture("conversation_epoch1.bin"))
            .expect("fixture state");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = ConversationState::from_group_info(data, alcove_fuzz::GROUP_ID) {
        assert_eq!(s.group_id(), alcove_fuzz::GROUP_ID);
        let _ = s.members();
        let _ = s.external_senders();
        let bytes = s.to_bytes().expect("state from a group info");
        let again = ConversationState::restore(&bytes).expect("state round trip");
        assert_eq!(again.epoch(), s.epoch());
    }
    STATE.with(|state| {
        if let Ok(signer) = state.check_group_info(data) {
            assert!(state
                .members()
                .expect("members")
                .iter()
                .any(|m| m.leaf_index == signer));
        }
    });
});
