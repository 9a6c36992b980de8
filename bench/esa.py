"""make bench: ESA sender group reconcile (issue #8) - a WHITELIST of 10,000 entries against a desired state that
differs by 100 (50 entries to delete, 50 to add).

1. The diff alone (``module_utils/esa_entries.diff``): best and median of ``BENCH_ROUNDS`` runs (target well
   under 1 s).
2. The whole reconcile through the real module (``library/esa_sender_group.py`` run by ``ansible-playbook``)
   against the ESA SIMULATOR (tools/esa_sim) on 127.0.0.1: check mode (the plan) and the real run. Reports wall
   time, the module's CLI round trips (one more since issue #25: ``version``), the pager stops (the shell runs on a
   PTY and a 10,000-entry PRINT stops every 40 lines: answered with a space, not a line) and the lines the
   appliance received, which must not grow with the number of unchanged entries (one NEW line per ~1,000
   characters of senders, one DELETE per deleted entry, one PRINT per read).

Rounds: ``BENCH_ROUNDS`` (default 7). ``BENCH_SMOKE=1``: 200 entries differing by 10, one round, and the module run
for the plan and the apply only (not the apply again). Prints a table and writes ``esa.json`` and ``esa.md``
(bench/common.py).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import SMOKE, finish, rounds, row  # noqa: E402
from tests.support.modules import module_util  # noqa: E402

esa_entries = module_util("esa_entries")  # module_utils/esa_entries.py, as Ansible imports it

from ops_driver.run.runner import ansible_env  # noqa: E402
from ops_sandbox import procs, simulators  # noqa: E402

ROUNDS = rounds(7)
SIZE = 200 if SMOKE else 10_000
DIFFER = 10 if SMOKE else 100

PLAYBOOK = """---
- name: Reconcile one sender group (bench)
  hosts: esa
  gather_facts: false
  tasks:
    - name: Reconcile the WHITELIST
      esa_sender_group:
        host: 127.0.0.1
        port: "{{ port }}"
        username: opsadmin
        password: "{{ password }}"
        known_hosts: "{{ known_hosts }}"
        listener: InboundMail
        operation: reconcile
        sender_groups: [WHITELIST]
        desired: {WHITELIST: "{{ desired }}"}
        comment: BENCH-ESA reconcile
        max_changes: 1000
      register: out

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ out | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      check_mode: false
      delegate_to: localhost
"""


def entries(rng: random.Random, n: int, offset: int = 0) -> list[str]:
    """A realistic mix: IPv4 addresses (60%), /24 networks, host names, partial domains, IPv6 addresses."""
    out = []
    for i in range(offset, offset + n):
        k = i % 10
        if k < 6:
            out.append(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")
        elif k == 6:
            out.append(f"172.{16 + (i // 10 >> 8) % 16}.{i // 10 & 255}.0/24")
        elif k == 7:
            out.append(f"mail{i}.sender{i % 97}.example.jp")
        elif k == 8:
            out.append(f".partner{i}.example.com")
        else:
            out.append(f"2001:db8:{(i >> 16) & 0xffff:x}:{i & 0xffff:x}::25")
    rng.shuffle(out)
    return out


def bench_diff(current: list[str], desired: list[str]) -> dict[str, Any]:
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        d = esa_entries.diff(current, desired)
        times.append(time.perf_counter() - t)
    assert len(d["add"]) == DIFFER // 2 and len(d["delete"]) == DIFFER // 2, d
    return {"best_s": min(times), "median_s": statistics.median(times), "add": len(d["add"]),
            "delete": len(d["delete"]), "unchanged": d["unchanged"]}


def run_module(work: Path, sim_dir: Path, port: int, desired: list[str], check: bool) -> dict[str, Any]:
    inv = work / "hosts.yml"
    inv.write_text(json.dumps({"all": {"children": {"esa": {"hosts": {"esa-bench": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    extra = work / "vars.json"
    result_file = work / "result.json"
    extra.write_text(json.dumps({"port": port, "password": (sim_dir / "password").read_text().strip(),
                                 "known_hosts": str(sim_dir / "known_hosts"), "desired": desired,
                                 "result_file": str(result_file)}))
    (work / "bench.yml").write_text(PLAYBOOK)
    log = sim_dir / "esa-bench.commands.log"
    lines_before = len(log.read_text().splitlines()) if log.is_file() else 0
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv), str(work / "bench.yml"),
           "-e", f"@{extra}", *(["--check"] if check else [])]
    env = {**os.environ, **ansible_env(), "ANSIBLE_HOME": str(work / "ansible-home")}
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"bench: ansible-playbook failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    out = json.loads(result_file.read_text())
    sent = [json.loads(x)["line"] for x in log.read_text().splitlines()[lines_before:]]
    return {"wall_s": elapsed, "round_trips": out["round_trips"], "pages": out.get("pages", 0),
            "changed": out["changed"],
            "lines_received": len(sent), "new_lines": sum(1 for x in sent if x == "new"),
            "delete_lines": sum(1 for x in sent if x == "delete"), "print_lines": sum(1 for x in sent if x == "print")}


def main() -> int:
    rng = random.Random(8)
    current = entries(rng, SIZE)
    desired = current[DIFFER // 2:] + entries(rng, DIFFER // 2, offset=SIZE)
    results: dict[str, Any] = {"entries": SIZE, "differ_by": DIFFER, "rounds": ROUNDS}
    results["diff"] = bench_diff(current, desired)
    with tempfile.TemporaryDirectory(prefix="ops-bench-esa-") as tmp:
        work = Path(tmp)
        sim_dir = work / "esa"
        sim = simulators.load("esa")
        password = "bench-" + os.urandom(8).hex()
        port = procs.free_ports(1)[0]
        config = sim.seed_esa(sim_dir, [{"name": "esa-bench", "hostname": "esa-bench.example.jp", "port": port,
                                         "sender_groups": {"WHITELIST": current}}],
                              username="opsadmin", password=password)
        (sim_dir / "password").write_text(password + "\n")
        log = work / "esasim.log"
        proc = procs.spawn([sys.executable, simulators.path("esa"), "serve", "--config", config], log=log)
        try:
            try:
                procs.wait_ready(proc, lambda: procs.accepts(port), name="bench: the ESA simulator", log=log,
                                 timeout_s=20)
            except procs.StartFailed as e:
                raise SystemExit(str(e)) from e
            results["plan"] = run_module(work, sim_dir, port, desired, check=True)
            results["apply"] = run_module(work, sim_dir, port, desired, check=False)
            got = sim.sender_group_entries(sim_dir / "esa-bench.json", "InboundMail", "WHITELIST")
            assert sorted(got) == sorted(desired), "the reconcile did not reach the desired state"
            if not SMOKE:
                results["again"] = run_module(work, sim_dir, port, desired, check=False)
                assert results["again"]["changed"] is False
        finally:
            procs.stop(proc)
    d = results["diff"]
    lines = [f"WHITELIST of {SIZE:,} entries, desired state differs by {DIFFER} ({d['delete']} to delete, "
             f"{d['add']} to add); the module run by `ansible-playbook` against the ESA simulator on 127.0.0.1.", "",
             row("measure", "result", "target"), row("---", "---", "---"),
             row("the diff (`module_utils/esa_entries.diff`)",
                 f"{d['best_s'] * 1000:.1f} ms best, {d['median_s'] * 1000:.1f} ms median of {ROUNDS}",
                 "well under 1 s")]
    for key, name in (("plan", "reconcile, plan (check mode)"), ("apply", "reconcile, apply"),
                      ("again", "reconcile, apply again (no change)")):
        if key in results:
            r = results[key]
            lines.append(row(name, f"{r['wall_s']:.2f} s; {r['round_trips']} CLI round trips + {r['pages']} "
                             f"pager stops, {r['lines_received']} lines received ({r['new_lines']} NEW, "
                             f"{r['delete_lines']} DELETE, {r['print_lines']} PRINT)", "not one per unchanged entry"))
    finish("esa", "ESA sender group reconcile", results, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
