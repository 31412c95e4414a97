//! The SQL behind `PeopleStore`, once for both backends.

macro_rules! impl_people_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{PracticeId, UserId};
            use $crate::people::store::*;
            use $crate::storage::StoreResult;

            #[async_trait::async_trait]
            impl PeopleStore for $store {
                async fn set_residence(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    state: Option<&'static str>,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE users SET state_of_residence = $1 WHERE id = $2 AND practice_id = $3",
                    )
                    .bind(state)
                    .bind(user)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await
                }

                async fn residences(
                    &self,
                    practice: PracticeId,
                    users: &[String],
                ) -> StoreResult<Vec<(String, String)>> {
                    let mut out = Vec::new();
                    for chunk in users.chunks(500) {
                        let mut q = sqlx::QueryBuilder::<$db>::new(
                            "SELECT id, state_of_residence FROM users WHERE state_of_residence IS NOT NULL AND practice_id = ",
                        );
                        q.push_bind(practice).push(" AND id IN (");
                        let mut ids = q.separated(", ");
                        for u in chunk {
                            ids.push_bind(u.as_str());
                        }
                        q.push(")");
                        let rows: Vec<(String, String)> =
                            q.build_query_as().fetch_all(self.reader()).await?;
                        out.extend(rows);
                    }
                    Ok(out)
                }
            }
        };
    };
}
