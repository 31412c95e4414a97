//! Identifier newtypes, parsed at the edge.
//!
//! Every identifier that crosses the API is a UUID (v4, random) kept in its own
//! type, so a `DeviceId` can never be passed where a `UserId` is expected. In
//! both databases identifiers are stored as their hyphenated text form, which
//! keeps the SQL identical across backends.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh random identifier.
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(self.to_string(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(Self(uuid::Uuid::parse_str(s)?))
            }
        }
    };
}

id_type!(
    /// A practice: the tenant every row belongs to.
    PracticeId
);
id_type!(
    /// A person with one role in one practice.
    UserId
);
id_type!(
    /// One browser or app install of a user; every session is bound to one.
    DeviceId
);
id_type!(
    /// A single-use invitation.
    InviteId
);
id_type!(
    /// One login of one device.
    SessionId
);
id_type!(
    /// An appointment series.
    AppointmentId
);
id_type!(
    /// One occurrence of an appointment series.
    OccurrenceId
);
id_type!(
    /// One reminder to send.
    ReminderId
);
id_type!(
    /// One nudge sent, withheld or failed.
    NudgeId
);
id_type!(
    /// One incident.
    IncidentId
);
id_type!(
    /// One webhook endpoint.
    WebhookEndpointId
);
