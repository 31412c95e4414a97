//! First start: create the practice and the first admin's setup link.

use crate::auth::secrets;
use crate::clock::Clock;
use crate::config::Settings;
use crate::ids::{InviteId, PracticeId};
use crate::invites::http::invite_link;
use crate::storage::{NewInvite, Practice, Role, Store};

/// A practice and the one-time link for its first admin.
pub struct SetupLink {
    /// The practice created.
    pub practice_id: PracticeId,
    /// The link (contains the token; printed once on stdout, never logged).
    pub link: String,
    /// Expiry.
    pub expires_at: i64,
}

/// Creates a practice with an admin setup link.
pub async fn create_practice(
    store: &dyn Store,
    settings: &Settings,
    clock: &dyn Clock,
    name: &str,
) -> anyhow::Result<SetupLink> {
    let now = clock.now();
    let practice = Practice {
        id: PracticeId::new(),
        name: name.to_string(),
        created_at: now,
    };
    let (token, token_hash) = secrets::new_token();
    let invite = NewInvite {
        id: InviteId::new(),
        practice_id: practice.id,
        role: Role::Admin,
        token_hash,
        created_by: None,
        created_at: now,
        expires_at: now + settings.auth.setup_link_ttl_secs,
        label: None,
        for_user: None,
    };
    store.create_practice(&practice, &invite).await?;
    Ok(SetupLink {
        practice_id: practice.id,
        link: invite_link(&settings.public_url(), &token),
        expires_at: invite.expires_at,
    })
}

/// Creates the first practice when there is none.
pub async fn ensure_practice(
    store: &dyn Store,
    settings: &Settings,
    clock: &dyn Clock,
) -> anyhow::Result<Option<SetupLink>> {
    if store.practice_count().await? > 0 {
        return Ok(None);
    }
    create_practice(store, settings, clock, &settings.practice_name)
        .await
        .map(Some)
}

/// Prints the setup link for a person to open (stdout only, never the log).
pub fn print_setup_link(link: &SetupLink) {
    println!();
    println!("  Alcove is set up. Open this one-time link to create the first admin account");
    println!("  (valid for 24 hours, usable once):");
    println!();
    println!("    {}", link.link);
    println!();
}
