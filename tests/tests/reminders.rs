//! Reminders, told as the practice lives them: a clinician schedules, the
//! client's preferences shape what will be sent and when, rescheduling and
//! cancelling withdraw what is pending, templates that disclose care are
//! refused — on both backends, through the HTTP API.

use alcove_server::clock::Clock;
use alcove_server::ids::{PracticeId, UserId};
use alcove_tests::mls::MlsClient;
use alcove_tests::{on_both_backends, Backend, TestApp};
use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The wall-clock time `days` from the app's now at `hour:00` in New York.
fn ny_local(app: &TestApp, days: i64, hour: u32) -> (String, i64) {
    let tz: Tz = "America/New_York".parse().unwrap();
    let now = Utc
        .timestamp_opt(app.clock.now(), 0)
        .unwrap()
        .with_timezone(&tz);
    let day = (now + Duration::days(days)).date_naive();
    let local = day.and_hms_opt(hour, 0, 0).unwrap();
    let instant = tz
        .from_local_datetime(&local)
        .earliest()
        .unwrap()
        .timestamp();
    (local.format("%Y-%m-%dT%H:%M").to_string(), instant)
}

fn appointment(client: &str, start_local: &str, recurrence: Value) -> Value {
    json!({
        "client_id": client,
        "time_zone": "America/New_York",
        "start_local": start_local,
        "duration_minutes": 50,
        "recurrence": recurrence,
        "modality": "telehealth",
    })
}

/// The clinician schedules a weekly series of `count` for their client
/// from `start_local`; the answer (the series and its occurrences' ids).
async fn schedule_weekly(p: &alcove_tests::PracticePeople, start_local: &str, count: u32) -> Value {
    let (status, body) = p
        .clinician
        .client
        .post(
            "/api/v1/appointments",
            &appointment(
                &p.client.user_id,
                start_local,
                json!({"every_weeks": 1, "count": count}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn pending_due_times(person: &alcove_tests::Person) -> Vec<(i64, i64)> {
    let (status, list) = person.client.get("/api/v1/reminders").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut due: Vec<(i64, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "pending")
        .map(|r| {
            (
                r["starts_at"].as_i64().unwrap(),
                r["due_at"].as_i64().unwrap(),
            )
        })
        .collect();
    due.sort();
    due
}

on_both_backends!(
    a_clinician_schedules_a_weekly_appointment_and_its_reminders_are_planned,
    rescheduling_and_cancelling_withdraw_pending_reminders,
    moving_a_weekly_series_keeps_a_cancelled_week_cancelled,
    the_clients_preferences_shape_the_plan_and_their_addresses_are_sealed,
    only_the_people_looking_after_a_client_schedule_for_them,
    the_client_confirms_and_cancels_their_own_occurrences_only,
    a_template_that_discloses_care_is_refused_with_its_reason,
    concurrent_template_saves_each_get_their_own_version,
    bad_schedules_are_refused_in_plain_words,
    appointments_and_a_preference_change_at_once_leave_one_consistent_plan,
    dispatchers_claiming_at_once_never_take_the_same_reminder,
    the_clinician_sees_the_clients_answer_as_it_happens,
);

async fn a_clinician_schedules_a_weekly_appointment_and_its_reminders_are_planned(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (start, first) = ny_local(&app, 10, 15);
    let body = schedule_weekly(&p, &start, 3).await;
    assert_eq!(body["occurrences"].as_array().unwrap().len(), 3);

    // The client sees their three upcoming occurrences, at 15:00 New York
    // each week.
    let (status, list) = p.client.client.get("/api/v1/appointments").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let starts: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["starts_at"].as_i64().unwrap())
        .collect();
    assert_eq!(starts.len(), 3);
    assert_eq!(starts[0], first);
    let tz: Tz = "America/New_York".parse().unwrap();
    for s in &starts {
        let local = Utc.timestamp_opt(*s, 0).unwrap().with_timezone(&tz);
        assert_eq!(local.format("%H:%M").to_string(), "15:00");
    }

    // Default leads: 48 h and 2 h before each, written with the appointment.
    let due = pending_due_times(&p.clinician).await;
    let mut expected: Vec<(i64, i64)> = starts
        .iter()
        .flat_map(|&s| [(s, s - 48 * 3600), (s, s - 2 * 3600)])
        .collect();
    expected.sort();
    assert_eq!(due, expected);

    // Audited, naming the client, not the details.
    let (status, page) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=appointment.created")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(
        events[0]["target_user_id"],
        json!(p.client.user_id),
        "{page}"
    );
    app.stop().await;
}

async fn rescheduling_and_cancelling_withdraw_pending_reminders(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (start, _) = ny_local(&app, 10, 15);
    let (_, body) = p
        .clinician
        .client
        .post(
            "/api/v1/appointments",
            &appointment(&p.client.user_id, &start, Value::Null),
        )
        .await;
    let id = body["id"].as_str().unwrap().to_string();
    let (moved, moved_at) = ny_local(&app, 12, 9);
    let (status, body) = p
        .clinician
        .client
        .put(
            &format!("/api/v1/appointments/{id}"),
            &json!({"time_zone": "America/New_York", "start_local": moved,
                    "duration_minutes": 50, "modality": "in_person"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        pending_due_times(&p.clinician).await,
        vec![
            (moved_at, moved_at - 48 * 3600),
            (moved_at, moved_at - 2 * 3600)
        ]
    );
    let (_, list) = p.clinician.client.get("/api/v1/reminders").await;
    let withdrawn = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "withdrawn" && r["reason"] == "rescheduled")
        .count();
    assert_eq!(withdrawn, 2, "the old time's two reminders: {list}");

    let (status, body) = p
        .clinician
        .client
        .post(&format!("/api/v1/appointments/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(pending_due_times(&p.clinician).await.is_empty());
    let (_, list) = p.client.client.get("/api/v1/appointments").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "cancelled"),
        "{list}"
    );
    app.stop().await;
}

/// Four weekly times, the second cancelled (the client is away that
/// week); the clinician moves the series an hour later. The cancelled week
/// is not booked again: it stays cancelled, and it gets no reminders.
async fn moving_a_weekly_series_keeps_a_cancelled_week_cancelled(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (start, first) = ny_local(&app, 10, 15);
    let body = schedule_weekly(&p, &start, 4).await;
    let id = body["id"].as_str().unwrap().to_string();
    let away = body["occurrences"][1].as_str().unwrap().to_string();
    let (status, body) = p
        .clinician
        .client
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            &json!({"occurrence_id": away}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // What the page sends: from the next open time, the four times left
    // counting the cancelled one, an hour later.
    let (moved, moved_at) = ny_local(&app, 10, 16);
    let (status, body) = p
        .clinician
        .client
        .put(
            &format!("/api/v1/appointments/{id}"),
            &json!({"time_zone": "America/New_York", "start_local": moved,
                    "duration_minutes": 50, "modality": "telehealth",
                    "recurrence": {"every_weeks": 1, "count": 4}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["occurrences"].as_array().unwrap().len(), 3, "{body}");

    let week = 7 * 86_400;
    let (_, list) = p.client.client.get("/api/v1/appointments").await;
    let mut seen: Vec<(String, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["status"].as_str().unwrap().to_string(),
                (o["starts_at"].as_i64().unwrap() - first) / 3600,
            )
        })
        .collect();
    seen.sort_by_key(|(_, h)| *h);
    let hours = |weeks: i64, plus: i64| weeks * week / 3600 + plus;
    assert_eq!(
        seen,
        vec![
            ("scheduled".to_string(), hours(0, 1)),
            ("cancelled".to_string(), hours(1, 0)),
            ("scheduled".to_string(), hours(2, 1)),
            ("scheduled".to_string(), hours(3, 1)),
        ],
        "{list}"
    );
    // Reminders for the three booked times only (48 h and 2 h before each).
    let due = pending_due_times(&p.clinician).await;
    assert_eq!(due.len(), 6, "{due:?}");
    assert!(due.iter().all(|(at, _)| *at != moved_at + week), "{due:?}");
    app.stop().await;
}

async fn the_clients_preferences_shape_the_plan_and_their_addresses_are_sealed(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    // An 08:00 appointment; quiet hours 21:00–09:00; a 2 h lead would fall
    // at 06:00, so it moves to 20:59 the evening before.
    let (start, at) = ny_local(&app, 10, 8);
    p.clinician
        .client
        .post(
            "/api/v1/appointments",
            &appointment(&p.client.user_id, &start, Value::Null),
        )
        .await;
    let prefs = json!({
        "email_enabled": true, "sms_enabled": false,
        "email": "sam.private@example.org",
        "quiet_start": "21:00", "quiet_end": "09:00",
        "sender": "neutral", "leads_minutes": [120],
        "language": "es", "opted_out": false,
    });
    let path = format!("/api/v1/reminders/preferences/{}", p.client.user_id);
    let (status, view) = p.client.client.put(&path, &prefs).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["email_hint"], "s•••@example.org");
    assert_eq!(view["language"], "es");
    let due = pending_due_times(&p.clinician).await;
    assert_eq!(due.len(), 1, "{due:?}");
    let tz: Tz = "America/New_York".parse().unwrap();
    let local = Utc.timestamp_opt(due[0].1, 0).unwrap().with_timezone(&tz);
    assert_eq!(local.format("%H:%M").to_string(), "20:59");
    assert!(due[0].1 < at - 2 * 3600);

    // SMS allowed without a number is refused, naming the field only.
    let mut bad = prefs.clone();
    bad["sms_enabled"] = json!(true);
    let (status, body) = p.client.client.put(&path, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_field");
    let mut bad = prefs.clone();
    bad["phone"] = json!("555 0100 call me");
    let (status, body) = p.client.client.put(&path, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !body.to_string().contains("call me"),
        "the value is not echoed: {body}"
    );

    // The address is sealed at rest.
    let practice: PracticeId = {
        let (_, me) = p.client.client.get("/api/v1/me").await;
        me["practice_id"].as_str().unwrap().parse().unwrap()
    };
    let client: UserId = p.client.user_id.parse().unwrap();
    let row = app
        .store
        .reminder_preferences(practice, client)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.email_ct.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("example.org"));

    // Staff record a request made by phone: the client sees who set it.
    let mut by_phone = prefs.clone();
    by_phone["opted_out"] = json!(true);
    let (status, view) = p.clinician.client.put(&path, &by_phone).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (_, seen) = p.client.client.get(&path).await;
    assert_eq!(seen["opted_out"], true);
    assert_eq!(seen["updated_by"], json!(p.clinician.user_id));
    assert_eq!(
        seen["email_hint"], "s•••@example.org",
        "kept when not given"
    );
    app.stop().await;
}

async fn only_the_people_looking_after_a_client_schedule_for_them(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let other = app
        .register_staff(&app.invite(&p.admin, "clinician").await, "other@p.example")
        .await;
    let (start, _) = ny_local(&app, 5, 11);
    let body = appointment(&p.client.user_id, &start, Value::Null);
    let (status, err) = other.client.post("/api/v1/appointments", &body).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_assigned"))
    );
    let (status, _) = p.client.client.post("/api/v1/appointments", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An admin must say for whom.
    let (status, err) = p.admin.client.post("/api/v1/appointments", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let mut with = body.clone();
    with["clinician_id"] = json!(p.clinician.user_id);
    let (status, created) = p.admin.client.post("/api/v1/appointments", &with).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // The other clinician neither sees nor changes it.
    let id = created["id"].as_str().unwrap();
    let (status, _) = other
        .client
        .post(&format!("/api/v1/appointments/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = other.client.get("/api/v1/appointments").await;
    assert_eq!(list, json!([]));
    // Nor the client's preferences; and a client not another's.
    let path = format!("/api/v1/reminders/preferences/{}", p.client.user_id);
    let (status, _) = other.client.get(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = p
        .client
        .client
        .get(&format!(
            "/api/v1/reminders/preferences/{}",
            p.clinician.user_id
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another practice's client does not exist here.
    let (status, _) = p
        .admin
        .client
        .get(&format!("/api/v1/reminders/preferences/{}", UserId::new()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn the_client_confirms_and_cancels_their_own_occurrences_only(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (start, _) = ny_local(&app, 7, 10);
    let (_, created) = p
        .clinician
        .client
        .post(
            "/api/v1/appointments",
            &appointment(
                &p.client.user_id,
                &start,
                json!({"every_weeks": 2, "count": 2}),
            ),
        )
        .await;
    let occ = created["occurrences"][0].as_str().unwrap().to_string();
    let second = created["occurrences"][1].as_str().unwrap().to_string();
    let answer = |o: &str| format!("/api/v1/occurrences/{o}/answer");
    let (status, body) = p
        .client
        .client
        .post(&answer(&occ), &json!({"answer": "confirm"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "confirmed");
    // Confirmed keeps its reminders; cancelled withdraws them.
    assert_eq!(pending_due_times(&p.clinician).await.len(), 4);
    let (status, body) = p
        .client
        .client
        .post(&answer(&second), &json!({"answer": "cancel"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(pending_due_times(&p.clinician).await.len(), 2);
    // Cancelled cannot be confirmed again; staff do not answer for clients.
    let (status, _) = p
        .client
        .client
        .post(&answer(&second), &json!({"answer": "confirm"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = p
        .clinician
        .client
        .post(&answer(&occ), &json!({"answer": "cancel"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another client cannot touch it.
    let stranger = app
        .register_client(&app.invite(&p.clinician, "client").await, "kim@p.example")
        .await;
    let (status, _) = stranger
        .client
        .post(&answer(&occ), &json!({"answer": "cancel"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor list it by naming its client: refused as not found, never
    // answered with the stranger's own (empty) list as if it were Sam's.
    let (status, err) = stranger
        .client
        .get(&format!(
            "/api/v1/appointments?client_id={}",
            p.client.user_id
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["error"], "not_found");
    let (status, own) = p
        .client
        .client
        .get(&format!(
            "/api/v1/appointments?client_id={}",
            p.client.user_id
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "a client may name themselves");
    assert_eq!(own.as_array().map(Vec::len), Some(2), "{own}");
    let (status, err) = p
        .client
        .client
        .post(&answer(&occ), &json!({"answer": "maybe"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    app.stop().await;
}

async fn a_template_that_discloses_care_is_refused_with_its_reason(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let path = "/api/v1/reminders/templates/reminder/en";
    let (status, view) = p.admin.client.get(path).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["version"], 0);
    assert_eq!(view["findings"], json!([]), "the shipped default passes");
    assert!(view["preview"]["sms"]
        .as_str()
        .unwrap()
        .contains("Wednesday, September 30"));

    let texts = |sms: &str| {
        json!({"sms": sms, "email_subject": "Appointment on {date}",
               "email_body": "See you {weekday} at {time}. {link}"})
    };
    let (status, err) = p
        .admin
        .client
        .put(path, &texts("Your therapy session is {date} at {time}"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"], "template_refused");
    assert_eq!(err["findings"][0]["text"], "therapy");
    assert_eq!(err["findings"][0]["start"], 5);
    assert_eq!(err["findings"][1]["text"], "session");
    // The clinician's own name is refused too (its surname).
    let (_, me) = p.clinician.client.get("/api/v1/me").await;
    let name = me["display_name"].as_str().unwrap().to_string();
    let (status, lint) = p
        .admin
        .client
        .post(
            &format!("{path}/lint"),
            &texts(&format!("With {name} on {{date}}")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{lint}");
    assert_eq!(lint["findings"][0]["code"], "clinician_name", "{lint}");

    let (status, saved) = p
        .admin
        .client
        .put(
            path,
            &texts("{sender}: {weekday} at {time}. Reply {confirm} or {cancel}."),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 1);
    let (_, now) = p.clinician.client.get(path).await;
    assert_eq!(now["version"], 1);
    let (status, _) = p.clinician.client.put(path, &texts("{time}")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only admins change templates"
    );
    let (status, _) = p.client.client.get(path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Texts past 4,000 bytes are refused before any linting, saved or not.
    let huge = "a".repeat(4_001);
    for (status, err) in [
        p.admin.client.put(path, &texts(&huge)).await,
        p.admin
            .client
            .post(&format!("{path}/lint"), &texts(&huge))
            .await,
    ] {
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
    }
    let (status, err) = p
        .admin
        .client
        .get("/api/v1/reminders/templates/letter/en")
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    app.stop().await;
}

async fn concurrent_template_saves_each_get_their_own_version(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let path = "/api/v1/reminders/templates/nudge/es";
    let saves = (0..12).map(|i| {
        let client = admin.client.clone();
        async move {
            client
                .put(
                    path,
                    &json!({"sms": format!("{{sender}}: mensaje nuevo {i}. {{link}}"),
                            "email_subject": "Mensaje nuevo", "email_body": "Entre: {link}"}),
                )
                .await
        }
    });
    let results = futures_util::future::join_all(saves).await;
    let mut versions: Vec<i64> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::OK, "{body}");
            body["version"].as_i64().unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=12).collect::<Vec<_>>());
    app.stop().await;
}

async fn bad_schedules_are_refused_in_plain_words(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (start, _) = ny_local(&app, 3, 10);
    let post = |body: Value| {
        let c = p.clinician.client.clone();
        async move { c.post("/api/v1/appointments", &body).await }
    };
    let mut zone = appointment(&p.client.user_id, &start, Value::Null);
    zone["time_zone"] = json!("Mars/Olympus");
    let (s, e) = post(zone).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_time_zone"))
    );
    let (s, e) = post(appointment(
        &p.client.user_id,
        "2020-01-01T10:00",
        Value::Null,
    ))
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("in_the_past"))
    );
    let (s, e) = post(appointment(
        &p.client.user_id,
        "2027-03-14T02:30",
        Value::Null,
    ))
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("nonexistent_time"))
    );
    let (s, e) = post(appointment(
        &p.client.user_id,
        &start,
        json!({"every_weeks": 3, "count": 4}),
    ))
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_recurrence"))
    );
    let (s, e) = post(appointment(&p.client.user_id, "tomorrow at 3", Value::Null)).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
    );
    let mut long = appointment(&p.client.user_id, &start, Value::Null);
    long["duration_minutes"] = json!(100_000);
    let (s, _) = post(long).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing half-written: no reminders exist.
    assert!(pending_due_times(&p.clinician).await.is_empty());
    app.stop().await;
}

async fn appointments_and_a_preference_change_at_once_leave_one_consistent_plan(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let creates = (0..10).map(|i| {
        let c = p.clinician.client.clone();
        let (start, _) = ny_local(&app, 5 + i, 14);
        let body = appointment(&p.client.user_id, &start, Value::Null);
        async move {
            let (status, body) = c.post("/api/v1/appointments", &body).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    });
    let path = format!("/api/v1/reminders/preferences/{}", p.client.user_id);
    let prefs = json!({"email_enabled": false, "sms_enabled": false, "sender": "neutral",
                       "leads_minutes": [24 * 60], "language": "en", "opted_out": false});
    let change = async {
        let (status, body) = p.client.client.put(&path, &prefs).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    let (_, ()) = tokio::join!(futures_util::future::join_all(creates), change);
    // Whatever the interleaving: one reminder per occurrence, 24 h before.
    let due = pending_due_times(&p.clinician).await;
    assert_eq!(due.len(), 10, "{due:?}");
    assert!(
        due.iter().all(|(start, at)| start - at == 24 * 3600),
        "{due:?}"
    );
    app.stop().await;
}

async fn dispatchers_claiming_at_once_never_take_the_same_reminder(b: Backend) {
    // The server's own dispatcher looks once at start, then sleeps an hour:
    // the claims below are the only ones.
    let Some(app) = TestApp::start_with(b, |s| s.reminders.dispatch_interval_ms = 3_600_000).await
    else {
        return;
    };
    let p = app.practice_with_people().await;
    let (start, at) = ny_local(&app, 5, 15);
    for _ in 0..40 {
        let (status, body) = p
            .clinician
            .client
            .post(
                "/api/v1/appointments",
                &appointment(&p.client.user_id, &start, Value::Null),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // 80 reminders; all due an hour after the appointment's 2 h one.
    let now = at;
    let claims = (0..4).map(|_| {
        let store = app.store.clone();
        async move {
            store
                .claim_due_reminders(now, now + 60, 30)
                .await
                .expect("claim")
        }
    });
    let claimed = futures_util::future::join_all(claims).await;
    let mut ids: Vec<String> = claimed.iter().flatten().map(|r| r.id.to_string()).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "a reminder was claimed twice");
    assert_eq!(total, 80, "4 × 30 claims cover all 80");
    // Leased: nothing more to claim until the lease runs out.
    assert!(app
        .store
        .claim_due_reminders(now + 1, now + 61, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        app.store
            .claim_due_reminders(now + 61, now + 121, 100)
            .await
            .unwrap()
            .len(),
        80
    );
    app.stop().await;
}

/// The next `appointments_changed` frame on the device's socket (10 s
/// deadline), skipping deliveries and other notices.
async fn appointments_changed(d: &mut MlsClient) {
    loop {
        let frame = d.next_frame().await;
        assert_ne!(frame["type"], "closed", "{frame}");
        if frame["type"] == "appointments_changed" {
            assert_eq!(
                frame,
                json!({"type": "appointments_changed"}),
                "the frame carries nothing"
            );
            return;
        }
    }
}

async fn the_clinician_sees_the_clients_answer_as_it_happens(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let lee = app
        .register_staff(&app.invite(&p.admin, "clinician").await, "lee@p.example")
        .await;
    let mut office = MlsClient::sign_in(&app, &p.clinician, "Office").await;
    let mut phone = MlsClient::sign_in(&app, &p.client, "Phone").await;
    office.connect(&app).await;
    phone.connect(&app).await;

    // Scheduled: the client's phone hears of it at once.
    let (start, _) = ny_local(&app, 7, 10);
    let (status, created) = p
        .clinician
        .client
        .post(
            "/api/v1/appointments",
            &appointment(&p.client.user_id, &start, Value::Null),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    appointments_changed(&mut phone).await;
    appointments_changed(&mut office).await;

    // The client confirms in the app: the clinician's office hears of it
    // without asking, and the list it then reads says so.
    let occ = created["occurrences"][0].as_str().unwrap();
    let (status, body) = phone
        .api
        .post(
            &format!("/api/v1/occurrences/{occ}/answer"),
            &json!({"answer": "confirm"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    appointments_changed(&mut office).await;
    let (_, list) = office.api.get("/api/v1/appointments").await;
    assert_eq!(list[0]["status"], "confirmed", "{list}");

    // Who is told: the client, the clinician and the admins — not another
    // clinician of the practice, nor a revoked device.
    let practice: PracticeId = p.client.practice_id.parse().unwrap();
    let client: UserId = p.client.user_id.parse().unwrap();
    let clinician: UserId = p.clinician.user_id.parse().unwrap();
    let told = |devices: Vec<alcove_server::ids::DeviceId>| {
        let mut d: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
        d.sort();
        d
    };
    let mut expected = vec![
        p.admin.device_id.clone(),
        p.clinician.device_id.clone(),
        office.device_id.clone(),
        p.client.device_id.clone(),
        phone.device_id.clone(),
    ];
    expected.sort();
    let watchers = app
        .store
        .appointment_watchers(practice, client, clinician)
        .await
        .unwrap();
    assert_eq!(told(watchers), expected);
    assert!(!expected.contains(&lee.device_id));
    let (status, body) = phone
        .api
        .post(
            &format!("/api/v1/devices/{}/revoke", phone.device_id),
            &json!({"reason": "signed_out"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    expected.retain(|d| d != &phone.device_id);
    let watchers = app
        .store
        .appointment_watchers(practice, client, clinician)
        .await
        .unwrap();
    assert_eq!(told(watchers), expected);
    app.stop().await;
}
