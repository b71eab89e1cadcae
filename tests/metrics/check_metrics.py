#!/usr/bin/env python3
"""Run the simulation, parse the metrics it prints (the Prometheus text
exposition format render_metrics writes) with the Prometheus project's own
Python parser, and check every figure against the simulation's own totals:
its verdict table per action and wire code, its decision count and its
engine-state line.

Usage: check_metrics.py <example_simulation> [scenarios]
"""
import collections
import re
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

SENDING = {
    "SendVerificationCodeForBindSecureMobilePhone",
    "SendVerificationCodeForEnableRD",
    "GetMigrationVerifyCode",
    "SendPhoneVerificationForMessageContact",
}
CONSUMING = {"BindSecureMobilePhone", "EnableResourceDirectory", "ChatappMigrationVerified"}
LIMITS = ["flow_control", "resend_too_soon", "binding_locked", "phone_window_exceeded", "daily_quota_exceeded"]
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def main():
    simulation = sys.argv[1]
    scenarios = sys.argv[2] if len(sys.argv) > 2 else "3000"
    run = subprocess.run([simulation, "--scenarios", scenarios, "--seed", "77", "--threads", "2"],
                         capture_output=True, text=True, check=False)
    out = run.stdout
    check(run.returncode == 0, "the simulation failed (exit %d)" % run.returncode)

    # The simulation's own totals: the verdict table and the decision line.
    table = {}
    lines = out.splitlines()
    start = lines.index("verdicts per action and error:") + 2
    for line in lines[start:]:
        if not line.strip():
            break
        action, code, _status, count = line.split()
        table[(action, "OK" if code == "ok" else code)] = int(count)
    decisions = int(re.search(r"^(\d+) decisions in", out, re.M).group(1))
    state = re.search(r"engine state: (\d+) quotas, (\d+) rates, (\d+) phone windows, (\d+) challenges "
                      r"\(capacity (\d+) each\)", out)
    check(sum(table.values()) == decisions, "the table does not add up to the decision count")

    text = out.split("-- begin metrics --\n", 1)[1].split("-- end metrics --\n", 1)[0]
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def samples(family, suffix="_total"):
        f = families.get(family)
        check(f is not None, "family %s missing" % family)
        return [s for s in (f.samples if f else []) if s.name == family + suffix or suffix == ""]

    # prometheus_client names a counter's family without its _total suffix.
    responses = samples("phoneverify_responses")
    by_code = collections.Counter()
    by_action = collections.Counter()
    by_reason = collections.Counter()
    for s in responses:
        check(s.value > 0, "a zero series of phoneverify_responses_total is rendered: %s" % (s.labels,))
        check(set(s.labels) == {"action", "code", "reason"}, "labels of %s" % (s.labels,))
        by_code[(s.labels["action"], s.labels["code"])] += int(s.value)
        by_action[s.labels["action"]] += int(s.value)
        by_reason[(s.labels["action"], s.labels["reason"])] += int(s.value)
    check(dict(by_code) == table, "responses per (action, code) differ from the simulation's table:\n  %s\n  %s"
          % (sorted(by_code.items()), sorted(table.items())))
    check(sum(by_code.values()) == decisions, "responses total %d, decisions %d" % (sum(by_code.values()), decisions))

    for s in samples("phoneverify_sends"):
        a = s.labels["action"]
        check(a in SENDING, "sends_total for a consumer %s" % a)
        check(int(s.value) == by_action[a], "sends_total{%s} %d, table %d" % (a, s.value, by_action[a]))
    check({s.labels["action"] for s in samples("phoneverify_sends")} == SENDING, "sends_total lacks an action")
    for s in samples("phoneverify_codes_issued"):
        a = s.labels["action"]
        check(int(s.value) == table.get((a, "OK"), 0), "codes_issued_total{%s}" % a)
    for s in samples("phoneverify_checks"):
        a = s.labels["action"]
        check(a in CONSUMING and int(s.value) == by_action[a], "checks_total{%s}" % a)
    check({s.labels["action"] for s in samples("phoneverify_checks")} == CONSUMING, "checks_total lacks an action")

    rejections = collections.Counter()
    for s in samples("phoneverify_code_rejections"):
        check(s.labels["status"] != "ok" and s.value > 0, "code_rejections_total %s" % (s.labels,))
        rejections[s.labels["action"]] += int(s.value)
    for a in CONSUMING | SENDING:
        check(rejections[a] == by_reason[(a, "code_rejected")], "code_rejections_total{%s}" % a)
    # Every code check that failed in the simulation is Invalid.VerificationCode.
    check(sum(rejections.values()) == sum(n for (a, c), n in table.items() if c == "Invalid.VerificationCode"),
          "code rejections differ from the Invalid.VerificationCode rows")

    limit = {(s.labels["action"], s.labels["limit"]): int(s.value) for s in samples("phoneverify_limit_refusals")}
    for (a, r), n in limit.items():
        check(r in LIMITS, "unknown limit %s" % r)
        check(n == by_reason[(a, r)], "limit_refusals_total{%s,%s} %d, responses %d" % (a, r, n, by_reason[(a, r)]))
    for (a, r), n in by_reason.items():
        if r in LIMITS:
            check(limit.get((a, r)) == n, "a limit refusal %s %s is missing from limit_refusals_total" % (a, r))
    # The simulation's SMS pumping and CAMS bursts hit limits: the family is not empty.
    check(sum(limit.values()) > 0, "no limit refusal counted")
    check(limit.get(("GetMigrationVerifyCode", "flow_control"), 0) ==
          table.get(("GetMigrationVerifyCode", "System.LimitControl"), 0), "CAMS flow control != System.LimitControl")

    for s in samples("phoneverify_lockouts"):
        a = s.labels["action"]
        expected = by_reason[(a, "binding_locked")] + sum(
            int(t.value) for t in samples("phoneverify_code_rejections")
            if t.labels["action"] == a and t.labels["status"] == "locked")
        check(int(s.value) == expected, "lockouts_total{%s}" % a)
    for s in samples("phoneverify_store_full_refusals"):
        a = s.labels["action"]
        check(int(s.value) == by_reason[(a, "state_unavailable")] == 0, "store_full_refusals_total{%s}" % a)
    random_failures = samples("phoneverify_randomness_failures")
    check(len(random_failures) == 1 and random_failures[0].value == 0, "randomness_failures_total")

    entries = {s.labels["kind"]: int(s.value) for s in samples("phoneverify_store_entries", "")}
    capacity = {s.labels["kind"]: int(s.value) for s in samples("phoneverify_store_capacity", "")}
    check(families["phoneverify_store_entries"].type == "gauge", "store_entries is a gauge")
    check(entries == {"quota": int(state.group(1)), "rate": int(state.group(2)), "windows": int(state.group(3)),
                      "challenge": int(state.group(4))}, "store_entries %s vs %s" % (entries, state.groups()))
    check(set(capacity.values()) == {int(state.group(5))}, "store_capacity %s" % capacity)
    for name, f in families.items():
        check(name.startswith("phoneverify_"), "foreign family %s" % name)
        check(f.documentation, "family %s has no HELP" % name)

    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    print("ok: %d series in %d families, %d responses, match the simulation's totals"
          % (sum(len(f.samples) for f in families.values()), len(families), decisions))


if __name__ == "__main__":
    main()
