//! The web console's boundaries, driven in-process: no page without a session,
//! no session without a key's secret, no POST without its session's CSRF token
//! or from another origin, and a key doing in the console exactly what its role
//! allows over the API, refused in the API's words. (The browser tests in
//! tests/console drive the same pages through Chromium.)

use std::sync::Arc;

use axum::http::StatusCode;
use tablesafe_backup::service::{BackupService, DestinationRules, ServiceConfig};
use tablesafe_server::{console_router, KeyRoles, Permission, Role};

use crate::harness::{send_to, Harness, Reply};

struct Console {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn key(role: Role) -> (String, String) {
    (format!("key-{role}"), format!("secret-of-{role}"))
}

async fn console() -> (Harness, Console) {
    let keys: Vec<(String, String, Role)> = Role::ALL
        .into_iter()
        .map(|role| {
            let (id, secret) = key(role);
            (id, secret, role)
        })
        .collect();
    let borrowed: Vec<(&str, &str, Role)> = keys.iter().map(|(i, s, r)| (i.as_str(), s.as_str(), *r)).collect();
    let h = Harness::with_keys(&borrowed);
    let dir = tempfile::tempdir().unwrap();
    let service = BackupService::start(ServiceConfig {
        engine: Arc::clone(&h.state.engine),
        data_dir: dir.path().to_owned(),
        plan_file: dir.path().join("plans.toml"),
        unlock: tablesafe_repo::Unlock { password: Some("console test password".into()), identities: Vec::new() },
        default_plan: false,
        destinations: DestinationRules { root: None, allowed: Vec::new() },
        priority: Default::default(),
    })
    .await
    .unwrap();
    let roles = KeyRoles::new(keys.iter().map(|(id, _, role)| (id.clone(), *role)));
    let router = console_router(Arc::clone(&h.state), roles, Some(service));
    (h, Console { router, _dir: dir })
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// A signed-in browser: its cookie and the CSRF token of its session.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Console {
    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let headers: Vec<(String, String)> = cookie.map(|c| ("cookie".to_owned(), c.to_owned())).into_iter().collect();
        send_to(&self.router, "GET", path.trim_start_matches('/'), &headers, Vec::new()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &str, origin: Option<&str>) -> Reply {
        let mut headers = vec![
            ("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
            ("host".to_owned(), "console.test".to_owned()),
        ];
        headers.extend(cookie.map(|c| ("cookie".to_owned(), c.to_owned())));
        headers.extend(origin.map(|o| ("origin".to_owned(), o.to_owned())));
        send_to(&self.router, "POST", path.trim_start_matches('/'), &headers, form.as_bytes().to_vec()).await
    }

    async fn sign_in(&self, role: Role) -> Browser {
        let (id, secret) = key(role);
        let reply = self.post("/signin", None, &format!("access_key_id={id}&access_key_secret={secret}"), None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", text(&reply));
        assert_eq!(header(&reply, "location"), Some("/tables"));
        let set = header(&reply, "set-cookie").unwrap();
        assert!(set.contains("; HttpOnly") && set.contains("; SameSite=Strict"), "{set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        let page = text(&self.get("/plans", Some(&cookie)).await);
        let csrf = page.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
        Browser { cookie, csrf }
    }
}

#[tokio::test]
async fn no_page_without_a_session_and_no_session_without_the_secret() {
    let (_h, c) = console().await;
    for path in ["/tables", "/tables/t", "/plans", "/plans/new", "/jobs", "/jobs/j/events", "/repository", "/charts"] {
        let reply = c.get(path, None).await;
        assert_eq!((reply.status, header(&reply, "location")), (StatusCode::SEE_OTHER, Some("/signin")), "{path}");
        let forged = c.get(path, Some("tablesafe_console=00ff")).await;
        assert_eq!(forged.status, StatusCode::SEE_OTHER, "{path}");
    }
    assert_eq!(c.get("/signin", None).await.status, StatusCode::OK);
    assert_eq!(c.get("/static/console.js", None).await.status, StatusCode::OK);

    let (id, secret) = key(Role::Admin);
    let (reader, reader_secret) = key(Role::ReadOnly);
    for form in [
        format!("access_key_id={id}&access_key_secret=wrong"),
        format!("access_key_id={id}&access_key_secret={reader_secret}"),
        format!("access_key_id={reader}&access_key_secret={secret}"),
        format!("access_key_id=nobody&access_key_secret={secret}"),
        format!("access_key_id={id}"),
    ] {
        let reply = c.post("/signin", None, &form, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{form}");
        assert!(text(&reply).contains("wrong access key id or secret"), "{form}");
        assert!(header(&reply, "set-cookie").is_none(), "{form}");
    }
    let from_elsewhere = format!("access_key_id={id}&access_key_secret={secret}");
    let reply = c.post("/signin", None, &from_elsewhere, Some("http://evil.example")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let browser = c.sign_in(Role::Admin).await;
    let tables = c.get("/tables", Some(&browser.cookie)).await;
    assert_eq!(tables.status, StatusCode::OK);
    assert!(text(&tables).contains(&format!("{id} (admin)")), "{}", text(&tables));
    let out = c.post("/signout", Some(&browser.cookie), &format!("csrf={}", browser.csrf), None).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(header(&out, "set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(c.get("/tables", Some(&browser.cookie)).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn failed_sign_ins_make_the_next_ones_wait_even_with_the_right_secret() {
    let (_h, c) = console().await;
    let (id, secret) = key(Role::Admin);
    for attempt in 0..10 {
        let reply =
            c.post("/signin", None, &format!("access_key_id={id}&access_key_secret=guess{attempt}"), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let reply = c.post("/signin", None, &format!("access_key_id={id}&access_key_secret={secret}"), None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", text(&reply));
    assert!(header(&reply, "set-cookie").is_none());
    let wait: u64 = header(&reply, "retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=900).contains(&wait), "{wait}");
    assert!(text(&reply).contains("Too many failed sign-ins from this address"), "{}", text(&reply));
}

#[tokio::test]
async fn every_post_needs_its_sessions_csrf_token_and_origin() {
    let (_h, c) = console().await;
    let admin = c.sign_in(Role::Admin).await;
    let other = c.sign_in(Role::Admin).await;
    assert_ne!(admin.csrf, other.csrf);
    let created = c
        .post(
            "/plans",
            Some(&admin.cookie),
            &format!("csrf={}&name=p&every=1h&destination=repo&enabled=on", admin.csrf),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", text(&created));
    let posts = [
        ("/plans", "name=q&every=1h&destination=repo"),
        ("/plans/p", "every=2h&destination=repo"),
        ("/plans/p/run", ""),
        ("/plans/p/delete", ""),
        ("/restore", "table=t&plan=p"),
        ("/jobs/j/verify-restore", ""),
        ("/signout", ""),
    ];
    for (path, form) in posts {
        let sep = if form.is_empty() { "" } else { "&" };
        let cases = [
            (form.to_owned(), None),
            (format!("{form}{sep}csrf={}", other.csrf), None),
            (format!("{form}{sep}csrf="), None),
            (format!("{form}{sep}csrf={}", admin.csrf), Some("http://evil.example")),
        ];
        for (body, origin) in cases {
            let reply = c.post(path, Some(&admin.cookie), &body, origin).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} {body} {origin:?}");
            assert!(text(&reply).contains("CSRF"), "{path}: {}", text(&reply));
        }
    }
    // Not a form at all: refused the same way, not by its media type.
    let reply = send_to(&c.router, "POST", "plans/p/run", &[("cookie".into(), admin.cookie.clone())], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // None of it ran: the plan is as it was and has no job.
    let plan = text(&c.get("/plans/p", Some(&admin.cookie)).await);
    assert!(plan.contains("every 1h") && plan.contains(">never<"), "{plan}");
}

#[tokio::test]
async fn a_key_does_in_the_console_what_its_role_allows_over_the_api() {
    let (_h, c) = console().await;
    let admin = c.sign_in(Role::Admin).await;
    let form = format!("csrf={}&name=p&tables=t&every=1h&destination=repo&enabled=on", admin.csrf);
    assert_eq!(c.post("/plans", Some(&admin.cookie), &form, None).await.status, StatusCode::SEE_OTHER);
    for role in Role::ALL {
        let browser = c.sign_in(role).await;
        let (id, _) = key(role);
        let cookie = Some(browser.cookie.as_str());
        let runs = role.allows(Permission::RunBackups);
        let restores = role.allows(Permission::Restore);
        let manages = role.allows(Permission::ManagePlans);

        let plan = text(&c.get("/plans/p", cookie).await);
        assert_eq!(plan.contains(r#"id="run-now""#), runs, "{role}");
        assert_eq!(plan.contains(r#"id="delete-plan""#), manages, "{role}");
        assert_eq!(plan.contains(r#"id="edit-plan""#), manages, "{role}");
        assert_eq!(text(&c.get("/plans", cookie).await).contains(r#"id="new-plan""#), manages, "{role}");
        let table = text(&c.get("/tables/t", cookie).await);
        assert_eq!(table.contains(r#"id="restore-form""#), restores, "{role}: {table}");

        // The forged requests, with a valid token: the role decides.
        let csrf = format!("csrf={}", browser.csrf);
        let cases = [
            ("/plans/p/run", csrf.clone(), "StartBackup", runs),
            (
                "/plans",
                format!("{csrf}&name=q_{}&every=1h&destination=repo", role.as_str().replace('-', "_")),
                "CreateBackupPlan",
                manages,
            ),
            ("/plans/p", format!("{csrf}&tables=t&every=2h&destination=repo&enabled=on"), "UpdateBackupPlan", manages),
        ];
        for (path, body, action, allowed) in cases {
            let reply = c.post(path, cookie, &body, None).await;
            if allowed {
                assert_eq!(reply.status, StatusCode::SEE_OTHER, "{role} {path}: {}", text(&reply));
            } else {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role} {path}");
                let page = text(&reply);
                assert!(page.contains("may not"), "{page}");
                let words = format!(
                    "The access key &#39;{id}&#39; has the role &#39;{role}&#39;, which does not allow {action}"
                );
                let plain = format!("The access key '{id}' has the role '{role}', which does not allow {action}");
                assert!(page.contains(&words) || page.contains(&plain), "{role} {path}: {page}");
            }
        }
        // A restore over the plan: refused for the role, or refused by the
        // service because no snapshot holds the table yet (past the role check).
        let reply = c.post("/restore", cookie, &format!("{csrf}&table=t&plan=p"), None).await;
        if restores {
            assert_ne!(reply.status, StatusCode::FORBIDDEN, "{role}: {}", text(&reply));
        } else {
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role}");
            assert!(text(&reply).contains("which does not allow StartRestore"), "{}", text(&reply));
        }
        // Only admin keys may delete, and the plan is still there for the next role.
        if !manages {
            let reply = c.post("/plans/p/delete", cookie, &csrf, None).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role}");
        }
        assert_eq!(c.get("/plans/p", cookie).await.status, StatusCode::OK, "{role}");
    }
}

#[tokio::test]
async fn a_plan_the_api_refuses_is_refused_in_its_words_and_the_form_kept() {
    let (_h, c) = console().await;
    let admin = c.sign_in(Role::Admin).await;
    let cases = [
        ("name=p&every=1h&destination=../elsewhere", "OTSParameterInvalid"),
        ("name=p&every=often&destination=repo", "OTSParameterInvalid"),
        ("name=bad%20name&every=1h&destination=repo", "OTSParameterInvalid"),
        ("name=p&every=1h&destination=repo&keep_last=three", "keep_last must be a whole number"),
    ];
    for (form, expected) in cases {
        let reply = c.post("/plans", Some(&admin.cookie), &format!("csrf={}&{form}", admin.csrf), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{form}: {}", text(&reply));
        let page = text(&reply);
        assert!(page.contains(expected), "{form}: {page}");
        assert!(page.contains(r#"id="plan-form""#), "{form}: the form is shown again");
    }
    // Nothing was created.
    assert!(!text(&c.get("/plans", Some(&admin.cookie)).await).contains(r#"data-plan="p""#));
}
