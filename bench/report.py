"""Renders run.sh's JSON-lines records as the Markdown table of docs/performance.md, with the issue-8 targets checked."""

import json
import sys


def rate(r: dict) -> float:
    """Events/s the server took: acked for TCP, counted by the server for datagrams."""
    if r.get("server") == "python-stage":
        return float(r.get("events_per_s", 0))
    if r.get("proto") in ("udp", "json"):
        secs = r.get("elapsed_s") or 0
        return r.get("server_events", 0) / secs if secs else 0.0
    return float(r.get("events_per_s", 0))


def fmt_rate(x: float) -> str:
    return f"{x / 1e3:,.0f}k" if x >= 1e3 else f"{x:.0f}"


def ms(r: dict, q: str) -> str:
    lat = r.get("latency_us") or {}
    if not lat.get("count"):
        return "—"
    return f"{lat[q] / 1e3:.2f}"


def lost(r: dict) -> str:
    if r.get("proto") not in ("udp", "json"):
        return str(r.get("unanswered", "—")) if r.get("server") != "python-stage" else "—"
    sent = r.get("events_sent", 0)
    missing = sent - r.get("server_events", 0)
    # Datagrams dropped before decoding count as one event each (the scenarios send one per datagram).
    kernel, events, datagrams = (r.get("kernel_drops", 0), r.get("server_dropped_events", 0),
                                 r.get("server_dropped_datagrams", 0))
    if not (missing or kernel or events or datagrams):
        return "0"
    return f"{missing} ({kernel} kernel, {events} queue" + \
        (f", {datagrams} datagrams before decoding)" if datagrams else ")")


def other(r: dict) -> str:
    """CPU seconds the machine spent on neither server nor generator: a noisy neighbour."""
    if "machine_busy_s" not in r:
        return "—"
    return f"{max(0.0, r['machine_busy_s'] - r.get('cpu_s', 0) - r.get('client_cpu_s', 0)):.2f}"


def main() -> None:
    path, secs, cores, kernel, cpu = sys.argv[1:6]
    recs = [json.loads(line) for line in open(path) if line.strip()]
    limit = {r["scenario"]: rate(r) for r in recs if r.get("server") == "dmon-ackd"}
    # These send tcp-100's traffic to other stream modules: one limit run serves them all.
    for scenario in ("heavy", "index-only", "index-1m", "where-lambda", "by-rate"):
        if "tcp-100" in limit:
            limit.setdefault(scenario, limit["tcp-100"])
    # Single-event frames over 4 connections: tcp-1x4's limit.
    if "tcp-1x4" in limit:
        limit.setdefault("index-1x4", limit["tcp-1x4"])
    print(f"# dmon benchmark run\n\n{cores} cores ({cpu}), {kernel}; {secs} s per run; "
          "load generator on the same machine, everything on 127.0.0.1. \"other CPU s\" is what the "
          "machine spent on neither server nor generator during the run (other work on a shared "
          "machine): figures next to a large one are low.\n")
    print("| scenario | server | events/s | server counted | × limit | p50 ms | p99 ms | p99.9 ms "
          "| max ms | errors | lost (counted where) | peak RSS MB | server CPU s | load CPU s | other CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in recs:
        ratio = "—"
        open_loop_tcp = r.get("proto") == "tcp" and r.get("target_rate", 0)
        if r.get("server") == "dmond" and limit.get(r["scenario"]) and not open_loop_tcp:
            ratio = f"{rate(r) / limit[r['scenario']]:.2f}"
        print(f"| {r['scenario']} | {r.get('server')} | {fmt_rate(rate(r))} | "
              f"{r.get('server_events', '—')} | {ratio} | {ms(r, 'p50')} | {ms(r, 'p99')} | "
              f"{ms(r, 'p999')} | {ms(r, 'max')} | {r.get('errors', '—')} | {lost(r)} | "
              f"{r.get('rss_mb', '—')} | {r.get('cpu_s', '—')} | {r.get('client_cpu_s', '—')} | "
              f"{other(r)} |")

    def find(scenario: str, server: str = "dmond") -> dict:
        return next((r for r in recs if r["scenario"] == scenario and r.get("server") == server), {})

    print("\n## Issue 8 targets\n")
    rows = []
    t = find("tcp-100")
    if t:
        rows.append(("TCP, 100 events/msg, example streams ≥ 500,000 events/s",
                     fmt_rate(rate(t)), rate(t) >= 500_000))
        if limit.get("tcp-100"):
            q = rate(t) / limit["tcp-100"]
            rows.append(("dmond / decode-and-ack limit ≥ 0.4 (batched)", f"{q:.2f}", q >= 0.4))
    t = find("tcp-1x4")
    if t:
        rows.append(("TCP, 1 event/msg, 4 connections pipelined ≥ 150,000 events/s",
                     fmt_rate(rate(t)), rate(t) >= 150_000))
    t = find("udp")
    if t:
        accounted = t.get("events_sent", 0) - t.get("server_events", 0) == \
            t.get("kernel_drops", 0) + t.get("server_dropped_events", 0) + \
            t.get("server_dropped_datagrams", 0)
        rows.append(("UDP protobuf ≥ 200,000 events/s, every drop counted",
                     f"{fmt_rate(rate(t))}, drops {'all' if accounted else 'NOT all'} counted",
                     rate(t) >= 200_000 and accounted))
    t = find("json")
    if t:
        rows.append(("JSON UDP (no target; drops counted)", fmt_rate(rate(t)), None))
    t = find("open-50")
    if t and t.get("latency_us", {}).get("count"):
        p99 = t["latency_us"]["p99"] / 1e3
        rows.append((f"ack p99 ≤ 2 ms at 50% of peak ({fmt_rate(t.get('target_rate', 0))} events/s)",
                     f"{p99:.2f} ms", p99 <= 2.0))
    print("| target | measured | met |\n|---|---|---|")
    for name, got, ok in rows:
        print(f"| {name} | {got} | {'—' if ok is None else ('met' if ok else '**not met**')} |")

    print("\n## Issue 10 targets\n")
    print("| scenario | dmond events/s | limit events/s | × limit | target | Riemann | peak RSS MB | met |")
    print("|---|---:|---:|---:|---|---|---:|---|")
    for scenario, what, target, riemann in (
            ("index-only", "`index()`, 100 events/frame", 0.75, "0.35–0.50"),
            ("index-1x4", "`index()`, 1 event/frame, 4 conns × 64", 1.0, "0.58"),
            ("where-lambda", "`where(lambda, index())`, 100/frame", 0.35, "—"),
            ("by-rate", "`where(query, by(host, rate(5, index())))`", 0.6, "—")):
        t = find(scenario)
        if not t:
            continue
        lim = limit.get(scenario, 0)
        # Single-event frames: the target is against the naive limit (a read per frame part, a
        # write per ack), as Riemann's 0.58 was; the batched limit's ratio is shown beside it.
        naive = limit.get("tcp-1x4-naive", 0) if scenario == "index-1x4" else 0
        shown = naive or lim
        q = rate(t) / shown if shown else 0.0
        rss = t.get("rss_mb", 0) or 0
        label = f"{fmt_rate(shown)} naive ({fmt_rate(lim)} batched: {rate(t) / lim:.2f})" \
            if naive and lim else fmt_rate(shown)
        print(f"| {what} | {fmt_rate(rate(t))} | {label} | {q:.2f} | ≥ {target} | {riemann} | "
              f"{rss} | {'met' if q >= target and rss <= 150 else '**not met**'} |")
    t = find("open-50-index")
    if t and t.get("latency_us", {}).get("count"):
        p50, p99 = t["latency_us"]["p50"] / 1e3, t["latency_us"]["p99"] / 1e3
        print(f"| `index()` open loop at 50% of its peak ({fmt_rate(t.get('target_rate', 0))} events/s): "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms | | | | p99 ≤ 1 ms | — | {t.get('rss_mb', 0)} | "
              f"{'met' if p99 <= 1.0 else '**not met**'} |")
    t = find("index-1m")
    if t and "reopen_clean_ms" in t:
        print(f"\nindex-1m: peak RSS {t.get('rss_mb')} MB with 1,000,000 keys; reopen "
              f"{t['reopen_clean_ms']} ms after a clean stop ({t['reopen_clean_entries']} entries), "
              f"{t['reopen_crash_ms']} ms after kill -9 ({t['reopen_crash_entries']} entries).")

    print("\n## Commands\n")
    for r in recs:
        if r.get("server") == "python-stage":
            print(f"- {r['scenario']}: `dmon-python-stage {r.get('load_args', '')}`")
        else:
            srv = "dmond --tcp-port 0 --udp-port 0 --json-udp-port 0 --http-port 0 --data-dir <tmp>" \
                if r.get("server") == "dmond" else "dmon-ackd --tcp-port 0 --udp-port 0 --json-udp-port 0"
            extra = f" {r['server_args']}" if r.get("server_args") else ""
            print(f"- {r['scenario']} / {r.get('server')}: `{srv}{extra}` then "
                  f"`dmon-load --port <port> {r.get('load_args', '')}`")


if __name__ == "__main__":
    main()
