#!/usr/bin/env python3
"""rvs-vmm figures: time from `rvs-vmm run` to the guest's first serial
byte, exits per second, and the VMM's own memory (RSS less the guest's).

Usage (as root, after `cargo build --release -p rvs-vmm`):
    scripts/vmm-bench.py [--runs 20] [--bin target/release/rvs-vmm]
Prints one line per figure: median, min and max over the runs.
"""
import argparse, os, re, statistics, subprocess, sys, tempfile, time, json

def first_byte(binary):
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "run", "--test-guest"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.read(1)
    dt = time.perf_counter() - t0
    p.stdout.read()
    p.wait()
    if p.returncode != 0:
        sys.exit(f"rvs-vmm run --test-guest failed ({p.returncode})")
    return dt * 1e3

def run_exits(binary, n):
    r = subprocess.run([binary, "run", "--test-guest", "--cmdline", f"exits={n}"],
                       capture_output=True, text=True)
    m = re.search(r"\((\d+) exits, ([0-9.]+) ms\)", r.stderr)
    if r.returncode != 0 or not m:
        sys.exit(f"rvs-vmm failed: {r.stderr}")
    return int(m.group(1)), float(m.group(2))

def memory(binary, mib):
    d = tempfile.mkdtemp(prefix="rvs-vmm-bench-")
    env = dict(os.environ, RVS_VMM_DIR=f"{d}/state", RVS_VMM_RUNDIR=f"{d}/run")
    name = f"bench{os.getpid()}"
    with open(f"{d}/def.json", "w") as f:
        json.dump({"name": name, "test_guest": True, "memory_mib": mib,
                   "cmdline": "exits=999999999"}, f)
    subprocess.run([binary, "define", f"{d}/def.json"], env=env, check=True, capture_output=True)
    subprocess.run([binary, "start", name], env=env, check=True, capture_output=True)
    time.sleep(1.0)
    info = json.loads(open(f"{d}/run/{name}/info.json").read())
    status = open(f"/proc/{info['pid']}/status").read()
    kb = {k: int(v) for k, v in re.findall(r"^(VmRSS|RssAnon|RssFile|RssShmem):\s+(\d+) kB", status, re.M)}
    subprocess.run([binary, "destroy", name], env=env, capture_output=True)
    subprocess.run([binary, "undefine", name], env=env, capture_output=True)
    return kb

def summary(label, xs, unit):
    print(f"{label}: median {statistics.median(xs):.2f} {unit} (min {min(xs):.2f}, max {max(xs):.2f}, {len(xs)} runs)")

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bin", default="target/release/rvs-vmm")
    a = ap.parse_args()
    if not os.path.exists(a.bin):
        sys.exit(f"{a.bin} not found: cargo build --release -p rvs-vmm")
    summary("rvs-vmm run to the guest's first serial byte", [first_byte(a.bin) for _ in range(a.runs)], "ms")
    rates = []
    for _ in range(max(3, a.runs // 5)):
        e0, t0 = run_exits(a.bin, 0)
        e1, t1 = run_exits(a.bin, 20000)
        rates.append((e1 - e0) / ((t1 - t0) / 1e3))
    summary("port I/O exits handled per second (guest at privilege level 3)", rates, "exits/s")
    for mib in (16, 256):
        kb = memory(a.bin, mib)
        own = kb["VmRSS"] - kb["RssShmem"]
        print(f"memory, {mib} MiB guest: VmRSS {kb['VmRSS']} kB, of which guest memory touched (RssShmem) "
              f"{kb['RssShmem']} kB; the VMM's own: {own} kB (anon {kb['RssAnon']} kB, file {kb['RssFile']} kB)")

if __name__ == "__main__":
    main()
