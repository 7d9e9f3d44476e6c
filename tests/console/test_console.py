"""The web console in a real browser (headless chromium through selenium), against
`tablesafe serve --console-listen`, following the HTML contract of the console.

One test walks the whole flow by clicking and typing, as an operator would: sign-in (a wrong
secret first), a stream table written through the official Python SDK, a backup plan created
in the console and run from it, the backup job watched live, two sets of writes around an
instant, the table's timeline showing the snapshot and the archive reaching the instant, a
point-in-time restore to that instant from the timeline's form, the console's own
verify-restore of it, the restored table read back through the SDK, then the jobs list,
repository and charts pages, CSRF and role checks by forged requests, sign-out, and the tables
page on a phone-sized screen. Every page visited is saved as a PNG (conftest.out_dir()).
"""

import re
import time
from datetime import datetime, timedelta, timezone

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchWriteRowRequest,
    Condition,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    TableInBatchWriteRowItem,
)

import sdk_helpers
from console_support import ADMIN_KEY, PHONE, READER_KEY

TABLE = "console_orders"
PLAN = "console-plan"
DESTINATION = "console-repo"  # relative: under --backup-root
TARGET = TABLE + "_at_instant"
SEED_ROWS = 20000  # enough that the backup is still running when its page first renders
IGNORE = Condition(RowExistenceExpectation.IGNORE)
FINISHED = ("succeeded", "failed", "interrupted")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


# ---------------------------------------------------------------------------------------------
# SDK side


def put_rows(client, table, ids):
    ids = list(ids)
    for off in range(0, len(ids), 200):
        req = BatchWriteRowRequest()
        req.add(TableInBatchWriteRowItem(table, [
            PutRowItem(Row([("id", i)], [("name", "order-%d" % i), ("amount", i * 10),
                                         ("status", "new")]), IGNORE)
            for i in ids[off:off + 200]]))
        res = client.batch_write_row(req)
        assert res.is_all_succeed()


def scan(client, table):
    """Every row as (id, [(column, value, timestamp ms)]), in key order, through the SDK."""
    out = []
    start = [("id", INF_MIN)]
    while start is not None:
        _, start, rows, _ = client.get_range(table, "FORWARD", start, [("id", INF_MAX)],
                                             max_version=1)
        out.extend((r.primary_key[0][1], sorted(tuple(c) for c in r.attribute_columns))
                   for r in rows)
    return out


def cell_ms(client, table, row_id, column):
    """The timestamp (ms) of the newest version of `column` in row `row_id`."""
    _, row, _ = client.get_row(table, [("id", row_id)], columns_to_get=[column], max_version=1)
    assert row is not None, (table, row_id)
    stamps = [c[2] for c in row.attribute_columns if c[0] == column]
    assert stamps, row.attribute_columns
    return max(stamps)


def past(ms):
    """Returns once the clock has passed `ms` (the server's clock is this machine's)."""
    deadline = time.monotonic() + 5
    while sdk_helpers.now_ms() <= ms:
        assert time.monotonic() < deadline, "the clock did not advance"
        time.sleep(0.001)  # only separates two writes' millisecond timestamps


def rfc3339_ms(ms):
    dt = datetime.fromtimestamp(ms // 1000, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_ms(text):
    """The first RFC 3339 time in `text`, as ms since the epoch (None if there is none)."""
    m = RFC3339_MS.search(text or "")
    if not m:
        return None
    dt = datetime.fromisoformat(m.group(0).replace("Z", "+00:00"))
    return (dt - EPOCH) // timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------------
# Browser side


def sign_in(b, key_id, secret):
    b.type_into("form#signin input[name=access_key_id]", key_id)
    secret_input = b.type_into("form#signin input[name=access_key_secret]", secret)
    assert secret_input.get_attribute("type") == "password"
    b.find("button#signin-submit").click()


def csrf_of(b):
    """The page's CSRF token (every POSTing form carries it; the sign-out form is on every
    page)."""
    token = b.find("form#signout input[type=hidden][name=csrf]").get_attribute("value")
    assert token, "empty csrf token"
    return token


def job_id_of(b):
    m = re.fullmatch(r"/jobs/([^/?#]+)", b.path())
    assert m, b.path()
    return m.group(1)


def job_state(b):
    return b.find("#job-state").get_attribute("data-state")


def watch_job(b):
    """Starts recording, in the page's sessionStorage (so that it outlives the reload the
    page may do when the job ends), every value #job-state's data-state and #job-rows' text
    take through live updates; returns the state the page was rendered with."""
    return b.driver.execute_script("""
        const key = 'consoleTest:' + location.pathname;
        const log = {rendered: null, states: [], rows: [], updates: 0};
        const read = () => {
            const el = document.querySelector('#job-state');
            const rows = document.querySelector('#job-rows');
            return [el ? el.getAttribute('data-state') : null, rows ? rows.textContent : null];
        };
        const [state, rows] = read();
        log.rendered = state;
        log.states.push(state);
        log.rows.push(rows);
        sessionStorage.setItem(key, JSON.stringify(log));
        new MutationObserver(() => {
            const [s, r] = read();
            log.updates += 1;
            if (log.states[log.states.length - 1] !== s) { log.states.push(s); }
            if (log.rows[log.rows.length - 1] !== r) { log.rows.push(r); }
            sessionStorage.setItem(key, JSON.stringify(log));
        }).observe(document.documentElement,
                   {subtree: true, childList: true, attributes: true, characterData: true});
        return state;
    """)


def watched(b):
    """What watch_job recorded on this job's page: {rendered, states, rows, updates}."""
    return b.driver.execute_script(
        "const v = sessionStorage.getItem('consoleTest:' + location.pathname);"
        "return v ? JSON.parse(v) : null;")


def wait_job_end(b, what):
    b.wait("%s to end (#job-state data-state)" % what, lambda d: job_state(b) in FINISHED)
    state = job_state(b)
    if state != "succeeded":
        error = b.text("#job-error") if b.has("#job-error") else "(no #job-error)"
        raise AssertionError("%s ended %s: %s" % (what, state, error))
    assert b.text("#job-state"), "#job-state has no text"


def nav(b, which):
    b.find("a#nav-%s" % which).click()


def assert_nav(b, key_id, role):
    for which in ("tables", "plans", "jobs", "repository", "charts"):
        assert b.has("a#nav-%s" % which), which
    assert b.has("form#signout") and b.has("button#signout-submit")
    whoami = b.text("#whoami")
    assert key_id in whoami and role in whoami, whoami


# ---------------------------------------------------------------------------------------------
# The test


def test_console_backup_restore_to_an_instant_and_access_control(console, browsers):
    srv = console.srv
    client = srv.client()  # the admin key's
    log = srv.log_tail(200)
    assert "console:" in log and console.url("/") in log, \
        "the serve banner does not print the console line `console: %s`:\n%s" % (
            console.url("/"), log)

    admin = browsers(console.base, "admin")

    # --- 1. Sign-in: a page without a session redirects there; a wrong secret is refused ---
    admin.get("/tables")
    admin.wait_path(lambda p: p.startswith("/signin"), "/tables to redirect to /signin")
    assert admin.has("form#signin"), admin.driver.page_source[:500]
    form = admin.find("form#signin")
    assert form.get_attribute("method").lower() == "post"
    assert form.get_attribute("action").endswith("/signin"), form.get_attribute("action")
    admin.screenshot("01-signin.png")

    sign_in(admin, ADMIN_KEY[0], ADMIN_KEY[1] + "-wrong")
    admin.wait("the sign-in error", lambda d: admin.has(".error"))
    assert admin.status() == 401, admin.status()
    assert "wrong access key id or secret" in admin.text(".error"), admin.text(".error")
    assert not any(c["name"] == "tablesafe_console" for c in admin.driver.get_cookies())
    admin.screenshot("02-signin-wrong-secret.png")

    sign_in(admin, ADMIN_KEY[0], ADMIN_KEY[1])
    admin.wait_path(lambda p: p == "/tables", "sign-in to land on /tables")
    cookie = [c for c in admin.driver.get_cookies() if c["name"] == "tablesafe_console"]
    assert cookie, admin.driver.get_cookies()
    assert cookie[0].get("httpOnly") is True and cookie[0].get("sameSite") == "Strict", cookie
    assert_nav(admin, ADMIN_KEY[0], "admin")

    # --- 2. A stream table with rows, through the official SDK ------------------------------
    sdk_helpers.create_table_with_stream(client, TABLE)
    put_rows(client, TABLE, range(1, SEED_ROWS + 1))
    seeded = scan(client, TABLE)
    assert len(seeded) == SEED_ROWS

    nav(admin, "tables")
    admin.wait("the table in table#tables",
               lambda d: admin.has('table#tables tr[data-table="%s"] a.table-link' % TABLE))
    link = admin.find('table#tables tr[data-table="%s"] a.table-link' % TABLE)
    assert link.get_attribute("href").endswith("/tables/" + TABLE), link.get_attribute("href")
    admin.screenshot("03-tables.png")

    # --- 3. A plan, created in the console ------------------------------------------------------
    nav(admin, "plans")
    admin.wait_path(lambda p: p == "/plans", "/plans")
    assert admin.has("table#plans")
    assert not admin.has('table#plans tr[data-plan="%s"]' % PLAN)
    admin.screenshot("04-plans.png")
    admin.find("a#new-plan").click()
    admin.wait_path(lambda p: p == "/plans/new", "/plans/new")
    assert admin.has("form#plan-form input[type=hidden][name=csrf]")
    for field in ("name", "tables", "every", "cron", "timezone", "destination", "keep_last",
                  "keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
                  "verify_data_percent", "archive", "enabled"):
        assert admin.has('form#plan-form [name="%s"]' % field), field
    assert admin.find("form#plan-form input[name=enabled]").is_selected(), \
        "enabled is not checked by default"
    admin.type_into("form#plan-form input[name=name]", PLAN)
    admin.type_into("form#plan-form input[name=tables]", TABLE)
    admin.type_into("form#plan-form input[name=destination]", DESTINATION)
    archive = admin.find("form#plan-form input[name=archive]")
    if not archive.is_selected():
        archive.click()
    # First a schedule the API refuses: 400, the form kept, the API's error shown.
    admin.type_into("form#plan-form input[name=every]", "now and then")
    admin.screenshot("05-plan-form.png")
    admin.find("button#plan-submit").click()
    admin.wait("the plan form's error", lambda d: admin.has(".error"))
    assert admin.status() == 400, admin.status()
    assert admin.has("form#plan-form"), "the form is not kept after a refused plan"
    assert admin.find("form#plan-form input[name=name]").get_attribute("value") == PLAN
    assert admin.find("form#plan-form input[name=tables]").get_attribute("value") == TABLE
    assert admin.text(".error"), "empty .error"
    admin.screenshot("06-plan-form-error.png")
    # Then the right one.
    admin.type_into("form#plan-form input[name=every]", "1h")
    admin.type_into("form#plan-form input[name=destination]", DESTINATION)
    archive = admin.find("form#plan-form input[name=archive]")
    if not archive.is_selected():
        archive.click()
    admin.find("button#plan-submit").click()
    admin.wait_path(lambda p: p == "/plans/" + PLAN, "the new plan's page /plans/%s" % PLAN)
    for css in ("form#run-now", "button#run-now-submit", "form#delete-plan", "a#edit-plan"):
        assert admin.has(css), css
    page = admin.find("body").text
    assert TABLE in page and DESTINATION in page and "1h" in page, page
    admin.screenshot("07-plan.png")

    # --- 4. Run it now, and watch the job ----------------------------------------------------
    admin.find("button#run-now-submit").click()
    admin.wait_path(lambda p: p.startswith("/jobs/"), "run-now to land on the job's page")
    backup_job = job_id_of(admin)
    first_state = watch_job(admin)
    admin.screenshot("08-job-running.png")
    assert admin.text("#job-kind") == "backup", admin.text("#job-kind")
    assert first_state in ("running",) + FINISHED, first_state
    for css in ("#job-rows", "#job-bytes", "#job-rate", "#job-eta", "progress#job-progress"):
        assert admin.has(css), css
    wait_job_end(admin, "the backup job")
    seen = watched(admin)
    assert seen is not None, "nothing recorded on the job's page"
    if first_state == "running":
        # Rendered running; the live updates (SSE) changed the page before it ended.
        assert seen["updates"] > 0 and seen["states"][0] == "running", seen
    assert job_state(admin) == "succeeded"
    rows_text = admin.text("#job-rows")
    assert rows_text, "#job-rows is empty"
    assert str(SEED_ROWS) in re.sub(r"[ ,_\u202f\u00a0']", "", rows_text), \
        "#job-rows %r does not show the %d rows backed up" % (rows_text, SEED_ROWS)
    assert admin.text("#job-bytes"), "#job-bytes is empty"
    admin.screenshot("09-job-finished.png")
    events = admin.fetch_start("/jobs/%s/events" % backup_job)
    assert events["status"] == 200 and "text/event-stream" in (events["type"] or ""), events
    print("backup job %s: rendered %s, seen live %s, rows at the end %r"
          % (backup_job, first_state, seen, rows_text))

    # --- 5. Writes around an instant ---------------------------------------------------------
    # Set A: a delete, a new row, updates; the instant is the last one's own timestamp (a
    # time in ms stands for all of that millisecond, so every write of set A is in).
    client.delete_row(TABLE, Row([("id", 6)]), IGNORE)
    put_rows(client, TABLE, [SEED_ROWS + 1, SEED_ROWS + 2])
    for row_id in (1, 2, 3):
        client.update_row(TABLE, Row([("id", row_id)], {"put": [("status", "paid")]}), IGNORE)
    instant_ms = cell_ms(client, TABLE, 3, "status")
    at_instant = scan(client, TABLE)
    assert max(ts for _, cols in at_instant for _, _, ts in cols) == instant_ms
    past(instant_ms + 1)
    # Set B, after it: changes and deletes that the restore must not hold.
    client.update_row(TABLE, Row([("id", 1)], {"put": [("status", "refunded")]}), IGNORE)
    client.delete_row(TABLE, Row([("id", 2)]), IGNORE)
    client.delete_row(TABLE, Row([("id", SEED_ROWS + 1)]), IGNORE)
    put_rows(client, TABLE, [SEED_ROWS + 3])
    live = scan(client, TABLE)
    assert live != at_instant
    assert cell_ms(client, TABLE, 1, "status") > instant_ms

    # --- 6. The table's timeline -------------------------------------------------------------
    nav(admin, "tables")
    admin.wait("the table link", lambda d: admin.has('tr[data-table="%s"] a.table-link' % TABLE))
    admin.find('tr[data-table="%s"] a.table-link' % TABLE).click()
    admin.wait_path(lambda p: p.split("?")[0] == "/tables/" + TABLE, "/tables/%s" % TABLE)

    def archived_past_instant(_driver):
        if not admin.has("svg#timeline circle.snapshot"):
            return False
        return (parse_ms(admin.text("#restorable-until")) or 0) >= instant_ms
    admin.wait_refreshing("the timeline's snapshot and #restorable-until >= %s"
                          % rfc3339_ms(instant_ms), archived_past_instant)
    circles = admin.find_all("svg#timeline circle.snapshot")
    snapshot_ids = {c.get_attribute("data-snapshot") for c in circles}
    assert all(snapshot_ids) and len(snapshot_ids) == 1, snapshot_ids
    snap_ms = int(circles[0].get_attribute("data-time-ms"))
    assert snap_ms < instant_ms, (snap_ms, instant_ms)
    spans = [(int(r.get_attribute("data-from-ms")), int(r.get_attribute("data-to-ms")))
             for r in admin.find_all("svg#timeline rect.span")]
    assert any(lo <= instant_ms <= hi for lo, hi in spans), (spans, instant_ms)
    for css in ("a#zoom-in", "a#zoom-out", "a#zoom-all"):
        assert admin.has(css), css
    for css in ("select[name=plan]", "input[name=instant]", "select[name=snapshot]",
                "input[name=target]", "input[type=hidden][name=csrf]", "button#restore-submit"):
        assert admin.has("form#restore-form " + css), css
    snapshot_options = Select(admin.find("form#restore-form select[name=snapshot]")).options
    assert snapshot_options[0].get_attribute("value") == "", "first snapshot option is not none"
    admin.screenshot("10-table-timeline.png")

    # Zooming in narrows the window (?from=&to=); "all" goes back.
    admin.find("a#zoom-in").click()
    admin.wait_path(lambda p: "from=" in p and "to=" in p, "zoom-in to set ?from=&to=")
    assert admin.has("svg#timeline") and admin.has("form#restore-form")
    admin.find("a#zoom-all").click()
    admin.wait("zoom-all to show the snapshot again",
               lambda d: admin.has("svg#timeline circle.snapshot"))

    # A click in the timeline sets the form's instant.
    instant = admin.find("form#restore-form input[name=instant]")
    instant.clear()
    svg = admin.find("svg#timeline")
    # (Near its left end, away from the snapshot's circle, a click on which picks the
    # snapshot instead.)
    ActionChains(admin.driver).move_to_element_with_offset(
        svg, -int(svg.size["width"] * 0.4), 0).click().perform()
    admin.wait("a click in the timeline to set the instant",
               lambda d: instant.get_attribute("value").strip() != "")
    clicked = instant.get_attribute("value").strip()
    assert parse_ms(clicked) is not None or clicked.isdigit(), clicked

    # --- 7. Restore to the instant -----------------------------------------------------------
    plan_select = Select(admin.find("form#restore-form select[name=plan]"))
    plan_select.select_by_value(PLAN)
    Select(admin.find("form#restore-form select[name=snapshot]")).select_by_value("")
    admin.type_into("form#restore-form input[name=instant]", rfc3339_ms(instant_ms))
    admin.type_into("form#restore-form input[name=target]", TARGET)
    # What the form posts (also the hidden fields beyond the contract's, e.g. the table):
    # the read-only key's forged restore below sends the same.
    restore_fields = admin.driver.execute_script(
        "return Object.fromEntries(new FormData(document.querySelector('form#restore-form')));")
    assert restore_fields.get("instant") == rfc3339_ms(instant_ms), restore_fields
    admin.find("button#restore-submit").click()
    admin.wait_path(lambda p: p.startswith("/jobs/"), "the restore to land on its job's page")
    restore_job = job_id_of(admin)
    watch_job(admin)
    assert admin.text("#job-kind") == "restore", admin.text("#job-kind")
    wait_job_end(admin, "the restore job")
    admin.wait_refreshing("a#verify-job on the restore's page", lambda d: admin.has("a#verify-job"))
    admin.screenshot("11-restore-job.png")
    admin.find("a#verify-job").click()
    admin.wait_path(lambda p: p.startswith("/jobs/") and p != "/jobs/" + restore_job,
                    "the verify job's page")
    verify_job = job_id_of(admin)
    watch_job(admin)
    assert admin.text("#job-kind") == "verify-restore", admin.text("#job-kind")
    wait_job_end(admin, "the verify-restore job")
    admin.wait("#verify-result", lambda d: admin.has("#verify-result")
               and admin.text("#verify-result") != "")
    assert admin.text("#verify-result") == "equal", (
        admin.text("#verify-result"),
        admin.text("ul#differences") if admin.has("ul#differences") else None)
    admin.screenshot("12-verify-job.png")

    # --- 8. The restored table holds the instant's rows, through the SDK --------------------
    restored = scan(client, TARGET)
    assert len(restored) == len(at_instant)
    assert restored == at_instant, "the restored table is not the table at the instant"
    assert restored != live
    assert scan(client, TABLE) == live

    # --- Jobs, repository, charts ------------------------------------------------------------
    nav(admin, "jobs")
    admin.wait_path(lambda p: p.startswith("/jobs"), "/jobs")
    for job_id, kind in ((backup_job, "backup"), (restore_job, "restore"),
                         (verify_job, "verify-restore")):
        css = 'table#jobs tr[data-job="%s"][data-kind="%s"][data-state="succeeded"]' % (job_id, kind)
        assert admin.has(css), css
        assert admin.has('table#jobs tr[data-job="%s"] a[href$="/jobs/%s"]' % (job_id, job_id))
    admin.screenshot("13-jobs.png")
    admin.get("/jobs?kind=restore")
    rows = admin.find_all("table#jobs tr[data-job]")
    assert rows and all(r.get_attribute("data-kind") == "restore" for r in rows), \
        [(r.get_attribute("data-job"), r.get_attribute("data-kind")) for r in rows]

    nav(admin, "repository")
    admin.wait_path(lambda p: p.startswith("/repository"), "/repository")
    if not admin.has('table#snapshots tr[data-snapshot]'):
        admin.get("/repository?plan=" + PLAN)  # the nav may not pick a plan
    for css in ("#stored-bytes", "#logical-bytes", "#dedup-ratio", "#compression-ratio",
                "table#snapshots"):
        assert admin.has(css), css
        if css.startswith("#"):
            assert admin.text(css), "%s is empty" % css
    listed = {r.get_attribute("data-snapshot")
              for r in admin.find_all("table#snapshots tr[data-snapshot]")}
    assert listed == snapshot_ids, (listed, snapshot_ids)
    admin.screenshot("14-repository.png")

    nav(admin, "charts")
    admin.wait_path(lambda p: p.startswith("/charts"), "/charts")
    for css in ("svg#chart-durations", "svg#chart-bytes", "svg#chart-lag"):
        assert admin.has(css), css
    admin.screenshot("15-charts.png")

    # --- 10. CSRF: a POST without the token, or with a wrong one, is refused ---------------
    admin.get("/jobs?kind=backup")
    backups_before = [r.get_attribute("data-job")
                      for r in admin.find_all("table#jobs tr[data-job]")]
    assert backup_job in backups_before, backups_before
    forged = admin.fetch("/plans/%s/run" % PLAN)
    assert forged["status"] == 403 and "CSRF" in forged["body"], forged
    forged = admin.fetch("/plans/%s/run" % PLAN, form={"csrf": "not-the-token"})
    assert forged["status"] == 403 and "CSRF" in forged["body"], forged
    admin.get("/jobs?kind=backup")
    backups = [r.get_attribute("data-job") for r in admin.find_all("table#jobs tr[data-job]")]
    assert backups == backups_before, "a refused POST started a backup: %s" % backups

    # --- Sign-out -----------------------------------------------------------------------------
    admin.find("button#signout-submit").click()
    admin.wait_path(lambda p: p.startswith("/signin"), "sign-out to land on /signin")
    admin.get("/tables/" + TABLE)
    admin.wait_path(lambda p: p.startswith("/signin"), "a signed-out page to redirect to /signin")

    # --- 9. The read-only key: no restore form, and a forged restore is refused --------------
    reader = browsers(console.base, "reader")
    reader.get("/signin")
    sign_in(reader, READER_KEY[0], READER_KEY[1])
    reader.wait_path(lambda p: p == "/tables", "the reader's sign-in to land on /tables")
    assert_nav(reader, READER_KEY[0], "read-only")
    reader.find('tr[data-table="%s"] a.table-link' % TABLE).click()
    reader.wait_path(lambda p: p.split("?")[0] == "/tables/" + TABLE, "the reader's table page")
    reader.wait("the reader's timeline", lambda d: reader.has("svg#timeline circle.snapshot"))
    assert not reader.has("form#restore-form"), "a read-only key sees the restore form"
    reader.screenshot("16-readonly-table.png")
    token = csrf_of(reader)
    forged = reader.fetch("/restore", form=dict(restore_fields, csrf=token,
                                                target=TABLE + "_forged"))
    assert forged["status"] == 403 and "may not" in forged["body"], forged
    assert "read-only" in forged["body"], "the refusal does not name the role: %s" % forged
    forged = reader.fetch("/plans/%s/run" % PLAN, form={"csrf": token})
    assert forged["status"] == 403 and "may not" in forged["body"], forged
    assert TABLE + "_forged" not in client.list_table()
    nav(reader, "plans")
    reader.wait_path(lambda p: p == "/plans", "the reader's /plans")
    assert reader.has('table#plans tr[data-plan="%s"]' % PLAN)
    assert not reader.has("a#new-plan"), "a read-only key is offered a new plan"

    # --- A phone-sized screen: the tables page fits its width ---------------------------------
    phone = browsers(console.base, "phone", size=PHONE)
    phone.get("/signin")
    sign_in(phone, READER_KEY[0], READER_KEY[1])
    phone.wait_path(lambda p: p == "/tables", "the phone's sign-in to land on /tables")
    assert phone.has('table#tables tr[data-table="%s"]' % TABLE)
    inner, scroll = phone.driver.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth];")
    assert inner == PHONE[0], inner
    phone.screenshot("17-phone-tables.png")
    assert scroll <= inner + 1, \
        "the tables page overflows a %d px wide screen: scrollWidth %d" % (inner, scroll)
