#!/usr/bin/env bash
# make demo: sandbox up, then the sample work requests through plan and apply, with evidence paths.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export OPS_EVIDENCE_DIR="${OPS_EVIDENCE_DIR:-$PWD/evidence}"
# one evidence store per installation: it is started once, explicitly (a command never creates one silently)
[ -f "$OPS_EVIDENCE_DIR/ledger.jsonl" ] || ops-driver evidence init

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
plan_id() { python -c 'import json,sys; print(json.load(sys.stdin)["run_id"])'; }

say "Sandbox: a fresh moto server on 127.0.0.1 with prod, dr, maint and sandbox instances"
ops-driver sandbox down > /dev/null
ops-driver sandbox up

plan_edited() {  # plan a copy of request $1 edited by the sed expression $2; print the plan's exit code
  local bad rc
  bad=$(mktemp --suffix=.yml)
  sed "$2" "$1" > "$bad"
  set +e; ops-driver plan --quiet "$bad"; rc=$?; set -e
  rm -f "$bad"
  echo "exit code: $rc"
}

# Change classes (policy/change.yml): the demo's operator is "operator-a" (OPS_OPERATOR); a minor or major plan
# is approved by "reviewer-b" (and "reviewer-c" for major) before operator-a applies it.
export OPS_OPERATOR="${OPS_OPERATOR:-operator-a}"
approvals_needed() { python -c 'import json,sys; print(json.load(sys.stdin)["manifest"].get("approvals_required") or 0)'; }

run_request() {  # plan (check mode + diff), show the reviewer's report head, approve if the class needs it, apply
  local request=$1
  say "Plan: $request (check mode, nothing changes; operator $OPS_OPERATOR)"
  local id need reviewer
  id=$(ops-driver plan --quiet --json "$request" | plan_id)
  ops-driver evidence show "$id" | sed -n '/^## Changes/,/^## Warnings/p'
  need=$(ops-driver evidence show --json "$id" | approvals_needed)
  for reviewer in reviewer-b reviewer-c; do
    [ "$need" -gt 0 ] || break
    ops-driver approve "$id" --by "$reviewer" --comment "reviewed the plan's report.md"
    need=$((need - 1))
  done
  say "Apply: $id"
  ops-driver apply --quiet "$id"
}


run_request examples/requests/info-005-ec2-stop.yml
run_request examples/requests/info-004-ec2-start.yml

run_request examples/requests/info-011-ami.yml
run_request examples/requests/info-012-ebs-snapshot.yml

say "The same AMI request again: already made for this ticket and generation, nothing is created"
ops-driver plan --quiet examples/requests/info-011-ami.yml

run_request examples/requests/info-013-s3-download.yml
echo "restored files:"; find "${OPS_SANDBOX_DIR:-$PWD/.sandbox}/restore" -type f | sort

# NAS transfers (STAT-011/012): the archive password comes from the inventory's vault (STAT-011 here) or an
# environment variable named in the request (STAT-012 here). Both are the sandbox's, never production ones:
# the sandbox vault opens with inventories/sandbox/vault-password, and OPS_NAS_PASSWORD is set to the same
# password so that STAT-012 can open the archive STAT-011 made.
export ANSIBLE_VAULT_PASSWORD_FILE="${ANSIBLE_VAULT_PASSWORD_FILE:-$PWD/inventories/sandbox/vault-password}"
export OPS_NAS_PASSWORD="${OPS_NAS_PASSWORD:-sandbox-nas-password-from-vault}"
say "A minor change (STAT-011 is 軽微): planned by operator-a, refused until approved by someone else"
minor_id=$(ops-driver plan --quiet --json examples/requests/stat-011-nas-prod-to-maint.yml | plan_id)
set +e; ops-driver apply --quiet "$minor_id"; echo "exit code: $? (no approval yet)"; set -e
set +e; ops-driver approve "$minor_id" --by operator-a; echo "exit code: $? (the operator may not approve)"; set -e
ops-driver approve "$minor_id" --by reviewer-b --comment "checked the file list and the target folder"
say "The auditor's offline check of that signed approval (OpenSSH only; in the sandbox the demo keys' own list)"
for rec in "$OPS_EVIDENCE_DIR/approvals/$minor_id"/*.json; do
  ssh-keygen -Y verify -f "$OPS_EVIDENCE_DIR/.sandbox-signers/allowed_signers" -I reviewer-b \
    -n ops-driver-approval -s "$rec.sig" < "$rec"
done
ops-driver apply --quiet "$minor_id"
echo "ledger head (write it on the ticket): $(ops-driver evidence head)"
run_request examples/requests/stat-012-nas-maint-to-prod.yml
run_request examples/requests/stat-006-release-maint-to-prod-nas.yml
run_request examples/requests/stat-007-release-prod-nas-to-servers.yml
echo "files on the sandbox shares and servers:"
(cd "${OPS_SANDBOX_DIR:-$PWD/.sandbox}" && find nas servers -type f | sort)

say "An unencrypted transfer of personal data out of production is refused (exit 2)"
bad=$(mktemp --suffix=.yml)
grep -v -E 'compression|encryption|password' examples/requests/stat-011-nas-prod-to-maint.yml > "$bad"
set +e; ops-driver plan --quiet "$bad"; rc=$?; set -e
rm -f "$bad"
echo "exit code: $rc"

# Closed mode (COMM-022) on the sandbox's real web stack: nginx (portal, Sorry server) behind haproxy, under
# supervisord. What users get is asked through haproxy before and after.
public_url=$(python -c 'import json,os,sys; d=os.environ.get("OPS_SANDBOX_DIR") or ".sandbox"; print(json.load(open(d+"/web/endpoints.json"))["public_url"])')
answer() { curl -s -o /tmp/ops-demo-page.html -w '%{http_code}' "$public_url"; printf ' '; grep -o -E '情報系ポータル（通常運用）|ただいまメンテナンス中です（Sorry）' /tmp/ops-demo-page.html || true; }
say "What users get now at $public_url"; answer
run_request examples/requests/comm-022-close.yml
say "What users get after the close"; answer
run_request examples/requests/comm-022-open.yml
say "What users get after the open"; answer
rm -f /tmp/ops-demo-page.html

# Middleware services (INFO-023 / INFO-022) and desknet's NEO (COMM-024): stop order, reverse start order,
# health checks after every start.
run_request examples/requests/info-023-mw-stop.yml
run_request examples/requests/info-022-mw-start.yml
run_request examples/requests/comm-024-desknets-neo-restart.yml

say "A reboot of a sandbox server is refused by the plan: the host is this machine, the control node (exit 2)"
set +e; ops-driver plan --quiet examples/requests/info-021-os-reboot.yml; rc=$?; set -e
echo "exit code: $rc"

# Dedicated Host reboot (CORE-049) on the day the annual schedule gives the sandbox this month.
year=$(date +%Y); month=$(date +%-m)
if [ ! -f "schedule/$year.yml" ]; then
  export OPS_SCHEDULE_DIR; OPS_SCHEDULE_DIR=$(mktemp -d)   # a year the repository has no schedule for yet
  ops-driver schedule generate --year "$year" --out "$OPS_SCHEDULE_DIR/$year.yml"
fi
say "The annual schedule of the Dedicated Host reboot ($year): one day per environment and month, no holiday"
ops-driver schedule show --year "$year"
ops-driver schedule check --year "$year"
day=$(ops-driver schedule show --year "$year" --json | python -c "import json,sys; d=json.load(sys.stdin); print([m for m in d['months'] if m['month'] == $month][0]['sandbox']['date'])")
next_day=$(date -d "$day + 1 day" +%F)
say "On $next_day (not the sandbox's day) the plan is refused (exit 4)"
set +e; OPS_TODAY=$next_day ops-driver plan --quiet examples/requests/core-049-dedicated-host-reboot.yml; rc=$?; set -e
echo "exit code: $rc"
say "On $day (OPS_TODAY; the evidence records the override)"
export OPS_TODAY=$day
run_request examples/requests/core-049-dedicated-host-reboot.yml
unset OPS_TODAY

# DataStage (STAT-001 / STAT-015 / STAT-013) against the sandbox's DataStage SIMULATOR (tools/datastage_sim):
# the morning check, a release with backup and verification, the monthly run logs.
run_request examples/requests/stat-001-datastage-check.yml
run_request examples/requests/stat-015-datastage-release.yml
run_request examples/requests/stat-013-datastage-logs.yml

# The AWS daily checks (INFO-007 / INFO-008 / INFO-010): read-only, the plan is the check. The sandbox's seeded
# findings show in each report; INFO-008 fails on its failed backup job (exit 3), as a high finding must.
for task in INFO-007:events INFO-008:backup INFO-010:config; do
  say "AWS daily check ${task%%:*} (read-only: the plan is the check)"
  set +e; ops-driver plan --quiet "examples/requests/$(echo "${task%%:*}" | tr A-Z a-z)-aws-${task#*:}-check.yml"; rc=$?; set -e
  echo "exit $rc"
  sed -n '/^## Check findings/,/^## Attachments/p' "$(ls -d "$OPS_EVIDENCE_DIR"/*-"${task%%:*}"-plan-* | tail -1)/report.md"
done

# ESA whitelist / blacklist (COMM-025 / CORE-023) against the sandbox's ESA SIMULATOR (tools/esa_sim, AsyncOS CLI
# over SSH): the monthly inventory and its difference from desired_state/esa/sandbox.yml, a reconcile back to it,
# a registration, a deletion, and a request with an e-mail address (refused, exit 2).
latest_apply() { ls -d "$OPS_EVIDENCE_DIR"/*-"$1"-apply-* | tail -1; }
run_request examples/requests/comm-025-esa-inventory.yml
say "Inventory CSV of esa-comm-sandbox01 (evidence attachment)"
cat "$(latest_apply COMM-025)/attachment-esa-inventory-esa-comm-sandbox01.csv"
run_request examples/requests/comm-025-esa-reconcile.yml
run_request examples/requests/comm-025-esa-add.yml
run_request examples/requests/comm-025-esa-delete.yml
run_request examples/requests/core-023-esa-add.yml
say "An e-mail address in a sender group request is refused before any appliance is contacted (exit 2)"
plan_edited examples/requests/comm-025-esa-add.yml 's/- \.mail\.partner2\.example\.jp/- postmaster@partner2.example.jp/'

say "A second plan of the same start predicts no change"
ops-driver plan --quiet examples/requests/info-004-ec2-start.yml

say "A sandbox request that names a production instance is refused (exit 2), nothing runs"
plan_edited examples/requests/info-005-ec2-stop.yml 's/\[joho-web01, joho-ap01\]/[prod-joho-web01]/'

say "Evidence bundles (verify recomputes every SHA-256)"
ops-driver evidence verify
echo "evidence folder: $OPS_EVIDENCE_DIR"
say "Instances now"
ops-driver sandbox status

# The record of work (ops-driver report) of this month and what is due today, in the Japanese calendar (Asia/Tokyo).
month=$(TZ=Asia/Tokyo date +%Y-%m)
say "Manual work on the record: the pre-business health check (COMM-014) done by hand, with the sandbox's state attached"
state_file=$(mktemp --suffix=-sandbox-status.json)
ops-driver sandbox status --json > "$state_file"
ops-driver record COMM-014 --result done --environment sandbox --note "web and AP instances checked in the console" \
  --attach "$state_file"
rm -f "$state_file"
say "The record of work of $month (sandbox): every plan and apply, records of manual work, approvals, totals, due tasks"
ops-driver report --month "$month" --environment sandbox --format md | sed -n '/^## Summary/,/^## Runs/p'
ops-driver report --month "$month" --environment sandbox --out "$OPS_EVIDENCE_DIR/record-$month.html"
ops-driver report --month "$month" --environment sandbox --lang ja --out "$OPS_EVIDENCE_DIR/record-$month-ja.html"

say "Today's checklist ($(TZ=Asia/Tokyo date +%F), sandbox): what is still open (COMM-014 was recorded above)"
ops-driver due --open --environment sandbox | sed -n '1,15p'
