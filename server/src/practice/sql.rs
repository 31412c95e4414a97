//! The SQL behind `PracticeStore`, once for both backends.

macro_rules! impl_practice_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::PracticeId;
            use $crate::practice::store::*;
            use $crate::storage::StoreResult;

            #[async_trait::async_trait]
            impl PracticeStore for $store {
                async fn rename_practice(
                    &self,
                    practice: PracticeId,
                    name: &str,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query("UPDATE practices SET name = $1 WHERE id = $2")
                        .bind(name)
                        .bind(practice)
                        .execute(&mut *tx)
                        .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await
                }
            }
        };
    };
}
