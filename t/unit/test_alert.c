/*
 * test_alert.c — the alert rule (failing, reminders at most once per
 * repeat_after, recovered once), URL hosts in messages without user,
 * password, path or query, the [alert] settings checks, and the payloads.
 */
#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "tap.h"

int
main(void)
{
	alert_state st;
	char		buf[8192];
	pgark_config cfg;
	pgark_err	err;
	alert_event ev;

	/* the rule */
	memset(&st, 0, sizeof(st));
	is_int(alert_next(&st, 0, 0, 100, 60), ALERT_NONE, "success, nothing on record: nothing");
	is_int(alert_next(&st, 0, 1, 100, 60), ALERT_FAILING, "first failure: failing");
	is_int(st.since, 100, "... since now");
	is_int(st.count, 1, "... count 1");
	is_int(alert_next(&st, 1, 1, 130, 60), ALERT_NONE, "failing again within repeat_after: nothing");
	is_int(alert_next(&st, 1, 1, 159, 60), ALERT_NONE, "... still nothing");
	is_int(st.count, 3, "... counted");
	is_int(alert_next(&st, 1, 1, 160, 60), ALERT_REMINDER, "repeat_after later: reminder");
	is_int(alert_next(&st, 1, 1, 200, 60), ALERT_NONE, "... then quiet again");
	is_int(alert_next(&st, 1, 1, 220, 60), ALERT_REMINDER, "... a reminder per repeat_after");
	is_int(st.since, 100, "... since unchanged");
	is_int(alert_next(&st, 1, 1, 100000, 0), ALERT_NONE, "repeat_after 0: no reminders");
	is_int(alert_next(&st, 1, 0, 100001, 60), ALERT_RECOVERED, "first success: recovered");
	is_int(st.count, 7, "... with the count of failures");

	/* hosts for messages */
	alert_url_host("https://user:pw@hooks.example.com:8443/services/T0KEN?x=1", buf, sizeof(buf));
	is_str(buf, "https://hooks.example.com:8443", "userinfo, path and query stripped");
	alert_url_host("smtp://a@b:c@mail.example.com", buf, sizeof(buf));
	is_str(buf, "smtp://mail.example.com", "the last @ ends the userinfo");
	alert_url_host("nonsense", buf, sizeof(buf));
	is_str(buf, "(not a URL)", "not a URL");

	/* settings */
	config_defaults(&cfg);
	ok(!alert_enabled(&cfg), "off by default");
	is_int(cfg.alert_repeat_after, 3600, "repeat_after defaults to 1h");
	is_int(cfg.alert_timeout, 10, "timeout defaults to 10 s");
	ok(alert_validate(&cfg, "f", &err) == 0, "nothing set: valid");
	snprintf(cfg.alert_webhook, sizeof(cfg.alert_webhook), "http://127.0.0.1/x");
	ok(alert_validate(&cfg, "f", &err) != 0, "no state_dir, no spool: refused");
	snprintf(cfg.spool, sizeof(cfg.spool), "/var/spool/pgark");
	ok(alert_validate(&cfg, "f", &err) == 0, "with a spool: valid");
	ok(alert_state_dir(&cfg, buf, sizeof(buf)) == 0 && strcmp(buf, "/var/spool/pgark/alert") == 0,
	   "state in SPOOL/alert");
	snprintf(cfg.alert_email, sizeof(cfg.alert_email), "a@example.org");
	ok(alert_validate(&cfg, "f", &err) != 0, "email without smtp_url: refused");
	snprintf(cfg.alert_smtp_url, sizeof(cfg.alert_smtp_url), "smtps://u:SECRET@mail.example.org");
	ok(alert_validate(&cfg, "f", &err) == 0, "with smtp_url: valid");
	snprintf(cfg.alert_email, sizeof(cfg.alert_email), "a@example.org, b c@example.org");
	ok(alert_validate(&cfg, "f", &err) != 0, "an address with a space: refused");
	snprintf(cfg.alert_email, sizeof(cfg.alert_email), "a@example.org, b@example.org");
	snprintf(cfg.alert_smtp_url, sizeof(cfg.alert_smtp_url), "http://u:SECRET@mail.example.org");
	ok(alert_validate(&cfg, "f", &err) != 0, "smtp_url not smtp: refused");
	ok(strstr(err.msg, "SECRET") == NULL && strstr(err.msg, "http://mail.example.org") != NULL,
	   "... naming the host, not the password: %s", err.msg);

	/* payloads */
	ev.program = "wal-push";
	ev.host = "db1";
	ev.repository = "/var/lib/pgark";
	ev.status = ALERT_REMINDER;
	ev.since = 0;
	ev.time = 86400;
	ev.message = "line1\nsaid \"no\"";
	ev.count = 3;
	ok(alert_json(&ev, buf, sizeof(buf)) == 0, "json");
	is_str(buf, "{\"program\":\"wal-push\",\"host\":\"db1\",\"repository\":\"/var/lib/pgark\",\"status\":\"reminder\","
		   "\"since\":\"1970-01-01T00:00:00Z\",\"time\":\"1970-01-02T00:00:00Z\",\"message\":\"line1\\nsaid \\\"no\\\"\","
		   "\"count\":3}", "... the schema, escaped");
	ok(alert_mail(&cfg, &ev, buf, sizeof(buf)) == 0, "mail");
	like(buf, "Subject: [pgark] STILL FAILING wal-push on db1: line1 said \"no\"\r\n", "... one-line subject");
	like(buf, "Date: Fri, 02 Jan 1970 00:00:00 +0000\r\n", "... RFC 5322 date");
	like(buf, "To: a@example.org, b@example.org\r\n", "... To");
	like(buf, "From: pgark@db1\r\n", "... From defaults to pgark@HOST");
	ok(strstr(buf, "SECRET") == NULL, "... no password");
	return done_testing();
}
