//! The audit service: the audit store and signing key behind one cheap
//! handle (in `AppState`), signing tree heads, and the periodic publisher
//! that hands them to witnesses outside the server.

use super::canonical::Hash;
use super::merkle::{Frontier, Tree};
use super::signing::{AuditKey, SignedTreeHead};
use crate::audit::store::AuditStore;
use crate::config::Settings;
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Cheap to clone; loads its key on first use.
#[derive(Clone)]
pub struct AuditService {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    store: Arc<dyn AuditStore>,
    /// The one-off leaf-hash backfill, done on first use.
    backfilled: tokio::sync::OnceCell<()>,
    key: Mutex<Option<Arc<AuditKey>>>,
}

impl std::fmt::Debug for AuditService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditService").finish_non_exhaustive()
    }
}

impl AuditService {
    /// A handle for the key file `settings` name over `store` (the main
    /// store's `audit_store()`, so that on SQLite its writes go through the
    /// server's one writer connection).
    pub fn new(settings: &Settings, store: Arc<dyn AuditStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                store,
                backfilled: tokio::sync::OnceCell::new(),
                key: Mutex::new(None),
            }),
        }
    }

    /// Where the signing key lives.
    pub fn key_path(&self) -> PathBuf {
        self.inner.settings.audit_key_path()
    }

    /// The signing key (created 0600 on first use).
    pub fn key(&self) -> anyhow::Result<Arc<AuditKey>> {
        let mut slot = self
            .inner
            .key
            .lock()
            .map_err(|_| anyhow::anyhow!("audit key lock poisoned"))?;
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let key = Arc::new(AuditKey::load_or_create(&self.key_path())?);
        *slot = Some(key.clone());
        Ok(key)
    }

    /// The audit store (fills leaf hashes of pre-0003 rows on first use).
    pub async fn store(&self) -> anyhow::Result<Arc<dyn AuditStore>> {
        let store = &self.inner.store;
        self.inner
            .backfilled
            .get_or_try_init(|| async {
                let filled = store.backfill_leaf_hashes().await?;
                if filled > 0 {
                    tracing::info!(
                        entries = filled,
                        "audit: leaf hashes filled for entries written before migration 0003"
                    );
                }
                Ok::<_, anyhow::Error>(())
            })
            .await?;
        Ok(store.clone())
    }

    /// The practice's current tree, from the stored leaf hashes. Refuses a
    /// log with gaps or missing hashes (run `alcove audit verify`).
    pub async fn tree(&self, practice: &str) -> anyhow::Result<Tree> {
        let store = self.store().await?;
        let rows = store.audit_leaves(practice, i64::MAX).await?;
        let mut leaves: Vec<Hash> = Vec::with_capacity(rows.len());
        for (i, (seq, leaf)) in rows.into_iter().enumerate() {
            match leaf.as_deref().and_then(super::canonical::as_hash) {
                Some(l) if seq == i as i64 + 1 => leaves.push(l),
                _ => return Err(LogDamaged("the audit log of this practice is damaged").into()),
            }
        }
        Ok(Tree::new(leaves))
    }

    /// Signs (and records) the practice's current head, after checking that
    /// the log still extends the last head signed and that every entry since
    /// then matches its leaf hash — a damaged log is never signed over.
    pub async fn sign_head(
        &self,
        practice: &str,
        now: i64,
    ) -> anyhow::Result<(SignedTreeHead, Tree)> {
        let store = self.store().await?;
        let key = self.key()?;
        let tree = self.tree(practice).await?;
        let public = key.public_key();
        let last = store
            .signed_heads(practice)
            .await?
            .into_iter()
            .filter(|h| public.verify_head(h))
            .max_by_key(|h| h.tree_size);
        let checked_from = match &last {
            Some(h) if h.tree_size as usize <= tree.size() => {
                let mut f = Frontier::new();
                for l in &tree.leaves()[..h.tree_size as usize] {
                    f.push(*l);
                }
                if Some(f.root()) != h.root() {
                    return Err(
                        LogDamaged("the audit log no longer matches its last signed head").into(),
                    );
                }
                h.tree_size as i64
            }
            Some(_) => {
                return Err(LogDamaged("the audit log is shorter than its last signed head").into())
            }
            None => 0,
        };
        let mut after = checked_from;
        loop {
            let rows = store.audit_rows(practice, after, 5000).await?;
            let Some(last_row) = rows.last() else { break };
            after = last_row.entry.seq;
            for r in &rows {
                if r.stored_leaf() != Some(r.entry.leaf_hash()) {
                    return Err(LogDamaged("an audit entry does not match its leaf hash").into());
                }
            }
        }
        let head = key.sign_head(practice, tree.size() as u64, &tree.root(), now);
        store.store_signed_head(&head).await?;
        Ok((head, tree))
    }
}

/// The log failed the check before signing: a gap, a missing or wrong leaf
/// hash, or no longer the tree its last signed head covered. Not a passing
/// failure (a storage error is not this): someone changed the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}; run `alcove audit verify`")]
pub struct LogDamaged(&'static str);

/// Told when a practice's log fails the check before signing, so that it is
/// recorded where the practice will see it (the `audit.verification_failed`
/// event, which opens an audit-tampering incident), not only in the logs.
#[async_trait]
pub trait DamageReport: Send + Sync + 'static {
    /// `practice`'s log failed `check` at `now`: `before_signing` (gaps,
    /// leaf hashes, the last signed head) or `witness` (a head a witness
    /// holds is not a prefix of the log: a database restored to an earlier
    /// state, or rewritten).
    async fn damaged(&self, practice: &str, check: &'static str, now: i64);
}

/// Somewhere signed tree heads are kept outside the server's database.
#[async_trait]
pub trait Witness: Send + Sync + 'static {
    /// For logs.
    fn describe(&self) -> String;
    /// Hands over one head.
    async fn publish(&self, head: &SignedTreeHead) -> anyhow::Result<()>;
    /// The heads it holds, when it can be read back (a file); none by
    /// default (a URL witness is checked offline by its keeper).
    async fn held(&self) -> anyhow::Result<Vec<SignedTreeHead>> {
        Ok(Vec::new())
    }
}

/// Appends each head as one JSON line to a file (fsynced).
pub struct FileWitness {
    /// The file.
    pub path: PathBuf,
}

#[async_trait]
impl Witness for FileWitness {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn held(&self) -> anyhow::Result<Vec<SignedTreeHead>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<SignedTreeHead>> {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            // A line cut short by a crash mid-append is skipped; the heads
            // before it still stand.
            Ok(text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect())
        })
        .await?
    }

    async fn publish(&self, head: &SignedTreeHead) -> anyhow::Result<()> {
        let path = self.path.clone();
        let mut line = serde_json::to_string(head)?;
        line.push('\n');
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            use std::io::Write;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut f = options.open(&path)?;
            f.write_all(line.as_bytes())?;
            f.sync_all()?;
            Ok(())
        })
        .await?
    }
}

/// POSTs each head as JSON to a URL (expects a 2xx answer).
pub struct HttpWitness {
    /// The URL.
    pub url: String,
    client: reqwest::Client,
}

impl HttpWitness {
    /// A witness at `url`.
    pub fn new(url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            url: url.to_string(),
            client,
        }
    }
}

#[async_trait]
impl Witness for HttpWitness {
    fn describe(&self) -> String {
        "url witness".into()
    }

    async fn publish(&self, head: &SignedTreeHead) -> anyhow::Result<()> {
        let response = self.client.post(&self.url).json(head).send().await?;
        if !response.status().is_success() {
            anyhow::bail!("witness answered {}", response.status());
        }
        Ok(())
    }
}

/// The witnesses `settings` configure: the heads file (default
/// `<data_dir>/audit-heads.jsonl`) and, when set, a URL.
pub fn configured_witnesses(settings: &Settings) -> Vec<Arc<dyn Witness>> {
    let mut out: Vec<Arc<dyn Witness>> = vec![Arc::new(FileWitness {
        path: settings.audit_heads_path(),
    })];
    if let Some(url) = settings
        .audit
        .witness_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        out.push(Arc::new(HttpWitness::new(url)));
    }
    out
}

/// Publishes signed heads of every practice whose log grew since the last
/// publication; `published` remembers sizes between rounds.
pub async fn publish_once(
    service: &AuditService,
    witnesses: &[Arc<dyn Witness>],
    published: &mut std::collections::HashMap<String, u64>,
    now: i64,
    report: Option<&dyn DamageReport>,
) -> anyhow::Result<Vec<SignedTreeHead>> {
    let store = service.store().await?;
    let mut out = Vec::new();
    for practice in store.audit_practices().await? {
        let head = match service.sign_head(&practice, now).await {
            Ok((head, _)) => head,
            Err(e) => {
                // Never sign over a damaged log; say so loudly, and where
                // the practice sees it.
                tracing::error!(error = %e, "audit: signed tree head withheld");
                if let (Some(report), true) = (report, e.downcast_ref::<LogDamaged>().is_some()) {
                    report.damaged(&practice, "before_signing", now).await;
                }
                continue;
            }
        };
        if published.get(&practice) == Some(&head.tree_size) {
            continue;
        }
        let mut all_ok = true;
        for w in witnesses {
            if let Err(e) = w.publish(&head).await {
                all_ok = false;
                tracing::warn!(witness = %w.describe(), error = %e, "audit: publishing a signed tree head failed");
            }
        }
        if all_ok {
            published.insert(practice, head.tree_size);
        }
        out.push(head);
    }
    Ok(out)
}

/// Checks the log of each practice against the largest head, signed by
/// this server's key, that a readable witness holds: the log must still
/// contain it (its first `tree_size` leaves hash to its root). A database
/// restored from an earlier backup, or rewritten, fails this even when it
/// is consistent with itself (its own signed heads rolled back with it).
/// Returns the practices that failed, each reported as `witness`.
pub async fn check_witnessed(
    service: &AuditService,
    witnesses: &[Arc<dyn Witness>],
    now: i64,
    report: Option<&dyn DamageReport>,
) -> anyhow::Result<Vec<String>> {
    let public = service.key()?.public_key();
    let mut largest: std::collections::BTreeMap<String, SignedTreeHead> = Default::default();
    for w in witnesses {
        let held = match w.held().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(witness = %w.describe(), error = %e, "audit: a witness could not be read back");
                continue;
            }
        };
        for h in held.into_iter().filter(|h| public.verify_head(h)) {
            let bigger = largest
                .get(&h.practice_id)
                .is_none_or(|l| h.tree_size > l.tree_size);
            if bigger {
                largest.insert(h.practice_id.clone(), h);
            }
        }
    }
    let mut failed = Vec::new();
    for (practice, head) in largest {
        let tree = match service.tree(&practice).await {
            Ok(t) => t,
            // A damaged log is reported by the check before signing.
            Err(e) if e.downcast_ref::<LogDamaged>().is_some() => continue,
            Err(e) => return Err(e),
        };
        let contained = (head.tree_size as usize) <= tree.size() && {
            let mut f = Frontier::new();
            for l in &tree.leaves()[..head.tree_size as usize] {
                f.push(*l);
            }
            Some(f.root()) == head.root()
        };
        if !contained {
            tracing::error!(
                practice = %practice,
                witnessed_size = head.tree_size,
                log_size = tree.size(),
                "audit: the log no longer contains a head its witness holds"
            );
            if let Some(report) = report {
                report.damaged(&practice, "witness", now).await;
            }
            failed.push(practice);
        }
    }
    Ok(failed)
}

/// Runs `publish_once` every `interval` (first round at once) until the
/// task is aborted; before the first round, checks the log against what
/// the witnesses hold (`check_witnessed`).
pub fn spawn_publisher(
    service: AuditService,
    clock: Arc<dyn crate::clock::Clock>,
    witnesses: Vec<Arc<dyn Witness>>,
    interval: std::time::Duration,
    report: Option<Arc<dyn DamageReport>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = check_witnessed(&service, &witnesses, clock.now(), report.as_deref()).await
        {
            tracing::warn!(error = %e, "audit: checking the log against its witnesses failed");
        }
        let mut published = std::collections::HashMap::new();
        let mut ticker = tokio::time::interval(interval.max(std::time::Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = publish_once(
                &service,
                &witnesses,
                &mut published,
                clock.now(),
                report.as_deref(),
            )
            .await
            {
                tracing::warn!(error = %e, "audit: publishing signed tree heads failed");
            }
        }
    })
}
