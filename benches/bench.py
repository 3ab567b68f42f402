#!/usr/bin/env python3
"""Side-by-side benchmark of the llm-router gateway against baselines measured in the same run.

    python3 benches/bench.py            # direct-to-relay vs llm-router
    python3 benches/bench.py --peers    # + nginx (1 worker) and, if it installs, LiteLLM proxy
    python3 benches/bench.py --quick    # 3 s points, one run each (smoke test of the script)

Besides the instant relay it runs a realistic one (200 chunks 20 ms apart, 64 streams at
once) and reports what each hop adds to the first byte and to the gaps between chunks.

It builds release binaries, starts the simulated relay (instant answers), the targets, and
the repo's load generator (examples/loadgen.rs), pins the proxy under test to CPU 0 and the
relay and load generator to the other CPUs, warms up, and reports the median of repeated
runs as a table (bench-results/latest.md) and JSON (bench-results/<time>.json). Every figure
is also given as a ratio to the baselines of the same run. Nothing here asserts timings.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
BIN = TARGET / "llm-router"
LOADGEN = TARGET / "examples" / "loadgen"
RELAY_KEY = "bench-relay-key"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def pinned(cmd, cpu_list):
    if shutil.which("taskset") and cpu_list:
        return ["taskset", "-c", ",".join(str(c) for c in cpu_list)] + cmd
    return cmd


def wait_http(url, timeout=30, headers=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def rss_kib(pid, field="VmRSS"):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pids(pid):
    """The process and its children (nginx master + worker, uvicorn workers)."""
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        for c in out.split():
            pids += tree_pids(int(c))
    except FileNotFoundError:
        pass
    return pids


def cpu_seconds(pid):
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def tree_rss(pid, field="VmRSS"):
    return sum(rss_kib(p, field) for p in tree_pids(pid))


class Proc:
    def __init__(self, name, cmd, env=None, cwd=None):
        self.name = name
        self.logf = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=self.logf, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)


def body_file(body):
    """Bodies go through a file: a 1 MiB image does not fit on a command line."""
    f = tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".json", delete=False)
    f.write(body.encode())
    f.close()
    return f.name


def loadgen(url, body, conc, duration, cpu_list, headers=(), requests=None):
    cmd = [str(LOADGEN), "--url", url, "--body-file", body_file(body), "-c", str(conc), "-d", str(duration)]
    for h in headers:
        cmd += ["-H", h]
    if requests:
        cmd += ["-n", str(requests)]
    out = subprocess.run(pinned(cmd, cpu_list), capture_output=True, text=True, timeout=duration * 10 + 600)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr}")
    return json.loads(out.stdout)


def median_of(runs):
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) if isinstance(runs[0][k], (int, float)) else runs[0][k]
            for k in keys}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", action="store_true", help="also measure nginx (apt) and LiteLLM (pip, venv)")
    ap.add_argument("--quick", action="store_true", help="3 s per point, one run (smoke test)")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per point (default 15)")
    ap.add_argument("--runs", type=int, default=3, help="runs per point; the median is reported")
    ap.add_argument("--soak", type=int, default=1_000_000, help="requests in the soak test (0 to skip)")
    ap.add_argument("--no-realistic", dest="realistic", action="store_false",
                    help="skip the realistic scenario (a relay streaming 200 chunks 20 ms apart, c=64)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    ap.add_argument("--keep-temp", action="store_true",
                    help="keep the scratch directory (process logs, configs, request bodies)")
    a = ap.parse_args()
    # Every temporary file (the gateway's request log alone reaches gigabytes over a full
    # run) goes in one scratch directory, removed at exit unless --keep-temp.
    tempfile.tempdir = tempfile.mkdtemp(prefix="llm-router-bench-")
    if a.keep_temp:
        log(f"scratch directory: {tempfile.tempdir}")
    else:
        import atexit
        atexit.register(shutil.rmtree, tempfile.tempdir, True)
    if a.quick:
        a.duration, a.runs, a.soak = 3.0, 1, min(a.soak, 50_000)

    if not a.no_build:
        log("building release binaries")
        # Two builds: built together, the binary would get the dev-dependency features the
        # example pulls in (tokio's test-util clock), which users' builds never have.
        subprocess.run(["cargo", "build", "--release", "--bin", "llm-router"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "--example", "loadgen"], cwd=ROOT, check=True)

    cl = cpus()
    proxy_cpu = cl[:1]
    other_cpu = cl[1:] or cl
    log(f"proxy under test on CPU {proxy_cpu}, relay and load on CPUs {other_cpu}")

    procs = []
    results = {"machine": machine(), "duration_s": a.duration, "runs": a.runs, "targets": {}, "scenarios": {}}
    try:
        sim_port = free_port()
        sim = Proc("sim", pinned([str(BIN), "sim", "--port", str(sim_port), "--threads", "1",
                                  "--require-key", RELAY_KEY], other_cpu))
        procs.append(sim)
        sim_url = f"http://127.0.0.1:{sim_port}"
        wait_http(sim_url + "/v1/models", headers={"authorization": f"Bearer {RELAY_KEY}"})

        targets = {"direct": {"url": sim_url, "pid": None, "headers": [f"authorization: Bearer {RELAY_KEY}"]}}
        gw, gw_url = start_gateway(sim_url, proxy_cpu)
        procs.append(gw)
        targets["llm-router"] = {"url": gw_url, "pid": gw.p.pid, "headers": []}
        # The same gateway with usage accounting off: what the hop itself costs.
        gw2, gw2_url = start_gateway(sim_url, proxy_cpu, accounting=False)
        procs.append(gw2)
        targets["llm-router (accounting off)"] = {"url": gw2_url, "pid": gw2.p.pid, "headers": []}
        if a.peers:
            ng = start_nginx(sim_url, proxy_cpu)
            if ng:
                procs.append(ng[0])
                targets["nginx"] = {"url": ng[1], "pid": ng[0].p.pid,
                                    "headers": [f"authorization: Bearer {RELAY_KEY}"]}
            ll = start_litellm(sim_url, proxy_cpu)
            if ll:
                procs.append(ll[0])
                targets["litellm"] = {"url": ll[1], "pid": ll[0].p.pid, "headers": ["authorization: Bearer sk-bench"]}

        for name, t in targets.items():
            if t["pid"]:
                results["targets"][name] = {"idle_rss_kib": tree_rss(t["pid"])}

        plain = json.dumps({"model": "gpt-5.5", "messages": [{"role": "user", "content": "hello"}]})
        stream = json.dumps({"model": "gpt-5.5", "stream": True, "messages": [{"role": "user", "content": "hello"}]})
        auto = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]})
        image = json.dumps({"model": "auto", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "iVBORw0KGgo" * 95_000}}]}]})

        scenarios = [("json c=1", plain, 1, list(targets)), ("json c=32", plain, 32, list(targets)),
                     ("json c=256", plain, 256, list(targets)), ("sse c=32", stream, 32, list(targets)),
                     ("auto c=32", auto, 32, ["llm-router"]), ("auto 1MiB image c=4", image, 4, ["llm-router"])]
        # Warm-up: connections, allocator, branch predictors.
        for name, t in targets.items():
            loadgen(t["url"] + "/v1/chat/completions", plain, 8, 2, other_cpu, t["headers"])

        for scen, body, conc, names in scenarios:
            results["scenarios"][scen] = {}
            for name in names:
                t = targets[name]
                runs = []
                for _ in range(a.runs):
                    cpu0 = cpu_seconds(t["pid"]) if t["pid"] else 0.0
                    r = loadgen(t["url"] + "/v1/chat/completions", body, conc, a.duration, other_cpu, t["headers"])
                    if t["pid"]:
                        cpu = cpu_seconds(t["pid"]) - cpu0
                        r["cpu_us_per_req"] = cpu / max(r["requests"], 1) * 1e6
                        r["peak_rss_kib"] = tree_rss(t["pid"], "VmHWM")
                    runs.append(r)
                m = median_of(runs)
                results["scenarios"][scen][name] = m
                log(f"{scen:<20} {name:<11} {m['rps']:>9.0f} req/s  p50 {m['p50_ms']:.2f} ms  "
                    f"p99 {m['p99_ms']:.2f} ms  errors {m['errors']:.0f}")

        for name, t in targets.items():
            if t["pid"]:
                results["targets"][name]["peak_rss_kib"] = tree_rss(t["pid"], "VmHWM")

        if a.soak:
            results["soak"] = soak(targets["llm-router"], plain, a.soak, other_cpu)
        if a.realistic:
            realistic(a, stream, proxy_cpu, other_cpu, procs, results)
    finally:
        for p in reversed(procs):
            p.stop()

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    table = render(results)
    (out / "latest.md").write_text(table)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(table)
    log(f"wrote {out / (stamp + '.json')} and {out / 'latest.md'}")


REALISTIC = "sse 200 chunks 20 ms apart c=64"


def realistic(a, body, proxy_cpu, other_cpu, procs, results):
    """A relay that streams like a real model: 200 chunks 20 ms apart, 64 streams at once.
    What the gateway adds here (first byte, gaps between chunks, CPU per stream) is what a
    user of a real relay sees; an instant relay only measures the hop's own cost."""
    log(f"realistic: {REALISTIC}")
    port = free_port()
    slow = Proc("sim-slow", pinned([str(BIN), "sim", "--port", str(port), "--threads", "1", "--chunks", "200",
                                    "--chunk-delay-ms", "20", "--require-key", RELAY_KEY], other_cpu))
    procs.append(slow)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/v1/models", headers={"authorization": f"Bearer {RELAY_KEY}"})
    targets = {"direct": {"url": url, "pid": None, "headers": [f"authorization: Bearer {RELAY_KEY}"]}}
    gw, gw_url = start_gateway(url, proxy_cpu)
    procs.append(gw)
    targets["llm-router"] = {"url": gw_url, "pid": gw.p.pid, "headers": []}
    if a.peers:
        ng = start_nginx(url, proxy_cpu)
        if ng:
            procs.append(ng[0])
            targets["nginx"] = {"url": ng[1], "pid": ng[0].p.pid, "headers": [f"authorization: Bearer {RELAY_KEY}"]}
    # A stream lasts ~4 s: the point needs enough of them to have percentiles.
    duration = max(a.duration, 12.0)
    results["scenarios"][REALISTIC] = {}
    for name, t in targets.items():
        runs = []
        for _ in range(a.runs):
            cpu0 = cpu_seconds(t["pid"]) if t["pid"] else 0.0
            r = loadgen(t["url"] + "/v1/chat/completions", body, 64, duration, other_cpu, t["headers"])
            if t["pid"]:
                r["cpu_us_per_req"] = (cpu_seconds(t["pid"]) - cpu0) / max(r["requests"], 1) * 1e6
                r["peak_rss_kib"] = tree_rss(t["pid"], "VmHWM")
            runs.append(r)
        m = median_of(runs)
        results["scenarios"][REALISTIC][name] = m
        log(f"{REALISTIC} {name:<11} {m['rps']:>7.1f} streams/s  ttfb p50 {m['ttfb_p50_ms']:.2f} ms  "
            f"gap p99 {m['gap_p99_ms']:.2f} ms  errors {m['errors']:.0f}")
    for p in (gw, slow):
        p.stop()


def soak(t, body, n, cpu_list):
    """Send n requests at c=32 while sampling RSS: memory must stay flat."""
    log(f"soak: {n} requests through llm-router")
    pid = t["pid"]
    samples = [tree_rss(pid)]
    p = subprocess.Popen(pinned([str(LOADGEN), "--url", t["url"] + "/v1/chat/completions", "--body-file", body_file(body),
                                 "-c", "32", "-d", "3600", "-n", str(n)], cpu_list),
                         stdout=subprocess.PIPE, text=True)
    while p.poll() is None:
        time.sleep(2)
        samples.append(tree_rss(pid))
    r = json.loads(p.stdout.read())
    samples.append(tree_rss(pid))
    # Compare the second tenth of the run (warmed up) with the end.
    early = samples[max(1, len(samples) // 10)]
    return {"requests": r["requests"], "errors": r["errors"], "rps": r["rps"],
            "rss_start_kib": samples[0], "rss_early_kib": early, "rss_end_kib": samples[-1],
            "rss_max_kib": max(samples), "growth_after_warmup_kib": samples[-1] - early, "samples": samples}


def start_gateway(sim_url, cpu_list, accounting=True):
    home = Path(tempfile.mkdtemp(prefix="bench-gw-"))
    port = free_port()
    cfg = home / "config.toml"
    cfg.write_text(f'[server]\nport = {port}\n\n[upstream]\nbase_url = "{sim_url}"\napi_key = "{RELAY_KEY}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UPSTREAM_", "LLM_ROUTER_"))}
    env.update(LLM_ROUTER_CONFIG_DIR=str(home), LLM_ROUTER_STATE_DIR=str(home / "state"),
               LLM_ROUTER_RUNTIME_DIR=str(home / "run"))
    if not accounting:
        env["LLM_ROUTER_USAGE_ENABLED"] = "false"

    p = Proc("llm-router", pinned([str(BIN), "--config", str(cfg), "start", "--foreground"], cpu_list),
             env=env, cwd=home)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health")
    # Wait for the model list so `auto` can route from the first request.
    deadline = time.time() + 10
    while time.time() < deadline:
        with urllib.request.urlopen(url + "/health") as r:
            if json.load(r)["status"] == "ok":
                break
        time.sleep(0.1)
    return p, url


def start_nginx(sim_url, cpu_list):
    if not shutil.which("nginx"):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            log("installing nginx (apt)")
            subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], check=False,
                           stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if not shutil.which("nginx"):
            log("nginx unavailable; skipping")
            return None
    d = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    port = free_port()
    up = sim_url.split("//", 1)[1]
    (d / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  client_max_body_size 64m;
  upstream relay {{ server {up}; keepalive 512; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 1000000;
    location / {{
      proxy_pass http://relay;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
""")
    p = Proc("nginx", pinned(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d)], cpu_list))
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/v1/models", headers={"authorization": f"Bearer {RELAY_KEY}"})
    return p, url


def start_litellm(sim_url, cpu_list):
    venv = ROOT / ".bench-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False)
    # The proxy's entry point, not just the package: a half-removed install still imports.
    def installed():
        check = "import litellm.proxy.proxy_server"
        return (venv / "bin" / "litellm").exists() and \
            subprocess.run([str(py), "-c", check], capture_output=True).returncode == 0
    if not installed():
        log("installing LiteLLM proxy into .bench-venv (pip)")
        subprocess.run([str(py), "-m", "pip", "install", "-q", "litellm[proxy]"], check=False)
    if not installed():
        log("LiteLLM unavailable; skipping")
        return None
    d = Path(tempfile.mkdtemp(prefix="bench-litellm-"))
    port = free_port()
    (d / "config.yaml").write_text(f"""
model_list:
  - model_name: gpt-5.5
    litellm_params:
      model: openai/gpt-5.5
      api_base: {sim_url}/v1
      api_key: {RELAY_KEY}
general_settings:
  master_key: sk-bench
litellm_settings:
  drop_params: true
""")
    p = Proc("litellm", pinned([str(venv / "bin" / "litellm"), "--config", str(d / "config.yaml"),
                                "--port", str(port), "--num_workers", "1"], cpu_list), cwd=d)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health/liveliness", timeout=120)
    except RuntimeError:
        p.stop()
        p.logf.flush()
        tail = Path(p.logf.name).read_text(errors="replace").strip().splitlines()[-5:]
        log("LiteLLM did not start; skipping. Its last log lines:\n    " + "\n    ".join(tail))
        return None
    return p, url


def machine():
    info = {"cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["kernel"] = os.uname().release
    return info


def render(res):
    lines = [f"Machine: {res['machine'].get('cpu', '?')}, {res['machine']['cpus']} CPUs; "
             f"{res['duration_s']:.0f} s per point, median of {res['runs']} runs.", ""]
    lines.append("| scenario | target | req/s | p50 ms | p99 ms | vs direct (req/s) | vs nginx (req/s) | CPU µs/req | errors |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for scen, by in res["scenarios"].items():
        direct = by.get("direct", {}).get("rps")
        nginx = by.get("nginx", {}).get("rps")
        for name, m in by.items():
            vd = f"{m['rps'] / direct:.2f}×" if direct else "—"
            vn = f"{m['rps'] / nginx:.2f}×" if nginx else "—"
            cpu = f"{m['cpu_us_per_req']:.0f}" if "cpu_us_per_req" in m else "—"
            lines.append(f"| {scen} | {name} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                         f"{vd} | {vn} | {cpu} | {m['errors']:.0f} |")
    sse = res["scenarios"].get("sse c=32", {})
    if sse:
        lines += ["", "| SSE c=32 | TTFB p50 ms | TTFB p99 ms | gap p50 ms | gap p99 ms |", "| --- | ---: | ---: | ---: | ---: |"]
        for name, m in sse.items():
            lines.append(f"| {name} | {m['ttfb_p50_ms']:.2f} | {m['ttfb_p99_ms']:.2f} | {m['gap_p50_ms']:.3f} | {m['gap_p99_ms']:.3f} |")
    real = res["scenarios"].get(REALISTIC, {})
    if real.get("direct"):
        d = real["direct"]
        lines += ["", f"Realistic relay ({REALISTIC}): what each hop adds over going direct.", "",
                  "| target | streams/s | first byte added p50 / p99 ms | chunk gap added p50 / p99 ms | CPU µs/stream |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for name, m in real.items():
            cpu = f"{m['cpu_us_per_req']:.0f}" if "cpu_us_per_req" in m else "—"
            lines.append(f"| {name} | {m['rps']:.1f} | {m['ttfb_p50_ms'] - d['ttfb_p50_ms']:+.2f} / "
                         f"{m['ttfb_p99_ms'] - d['ttfb_p99_ms']:+.2f} | {m['gap_p50_ms'] - d['gap_p50_ms']:+.3f} / "
                         f"{m['gap_p99_ms'] - d['gap_p99_ms']:+.3f} | {cpu} |")
    d32 = res["scenarios"].get("json c=32", {})
    if "direct" in d32 and "llm-router" in d32:
        d, g = d32["direct"], d32["llm-router"]
        lines += ["", f"Added latency over direct at c=32: p50 {g['p50_ms'] - d['p50_ms']:+.3f} ms, "
                      f"p99 {g['p99_ms'] - d['p99_ms']:+.3f} ms."]
        if sse.get("direct") and sse.get("llm-router"):
            lines.append(f"SSE first byte added: {sse['llm-router']['ttfb_p50_ms'] - sse['direct']['ttfb_p50_ms']:+.3f} ms (p50).")
    lines += ["", "RSS at c=256 is the peak (VmHWM) once the JSON scenarios at c=1, 32 and 256 have run; "
                  "the overall peak also covers the streams, `auto` and the 1 MiB image scenario.", "",
              "| target | idle RSS MiB | RSS at c=256 MiB | overall peak RSS MiB |", "| --- | ---: | ---: | ---: |"]
    c256 = res["scenarios"].get("json c=256", {})
    for name, t in res["targets"].items():
        at256 = c256.get(name, {}).get("peak_rss_kib")
        at256 = f"{at256 / 1024:.1f}" if at256 else "—"
        lines.append(f"| {name} | {t.get('idle_rss_kib', 0) / 1024:.1f} | {at256} | {t.get('peak_rss_kib', 0) / 1024:.1f} |")
    if "soak" in res:
        s = res["soak"]
        lines += ["", f"Soak: {s['requests']} requests at c=32 ({s['rps']:.0f} req/s, {s['errors']} errors); RSS "
                      f"{s['rss_start_kib'] / 1024:.1f} MiB at start, {s['rss_early_kib'] / 1024:.1f} MiB after warm-up, "
                      f"{s['rss_end_kib'] / 1024:.1f} MiB at the end (max {s['rss_max_kib'] / 1024:.1f} MiB)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
