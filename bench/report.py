#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turns the benchmark scripts' JSON lines into Markdown tables.

Throughput is reported per tracer as the median over the rounds with the
range (min-max), and as a ratio to the baseline: each round's rate divided
by the baseline rate of the same round (paired, so slow and fast phases of
a noisy machine cancel out), median and range of those ratios.
"""
import json
import statistics
import sys
from collections import defaultdict

WORKLOADS = {
    "conn": "New connections through conntrack (TCP connect/close loop, one thread)",
    "storm": "Table-full drop storm (UDP to new flows, table full of established connections)",
}


def spread(values, fmt):
    return f"{fmt(min(values))}-{fmt(max(values))}"


def throughput_tables(rows, out):
    by = defaultdict(lambda: defaultdict(dict))  # workload -> tracer -> round -> row
    for r in rows:
        by[r["workload"]][r["tracer"]][r["round"]] = r
    for workload, tracers in by.items():
        base = tracers.get("baseline", {})
        unit = next(iter(next(iter(tracers.values())).values()))["unit"]
        out.append(f"### {WORKLOADS.get(workload, workload)}\n")
        out.append(f"| tracer | rounds | median {unit} | range | ratio to baseline (median) | ratio range | "
                   "tracer CPU % (median) | tracer RSS MiB, started / after the load (median) |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for tracer, runs in tracers.items():
            rates = [r["rate"] for r in runs.values()]
            ratios = [runs[k]["rate"] / base[k]["rate"] for k in runs if k in base and base[k]["rate"]]
            cpu = [r["tracer_cpu_percent"] for r in runs.values()]
            ratio = f"{statistics.median(ratios):.3f}" if ratios else "-"
            ratio_range = spread(ratios, lambda v: f"{v:.3f}") if ratios else "-"
            cpu_text = "-" if tracer == "baseline" else f"{statistics.median(cpu):.1f}"
            idle = [r.get("tracer_rss_idle_kb", 0) for r in runs.values()]
            after = [r.get("tracer_rss_after_kb", 0) for r in runs.values()]
            rss_text = "-" if not any(after) else f"{statistics.median(idle) / 1024:.1f} / {statistics.median(after) / 1024:.1f}"
            out.append(f"| {tracer} | {len(rates)} | {statistics.median(rates):,.0f} | "
                       f"{spread(rates, lambda v: f'{v:,.0f}')} | {ratio} | {ratio_range} | {cpu_text} | {rss_text} |")
        out.append("")


def cost_table(rows, out):
    out.append("### BPF cost per event (`kernel.bpf_stats_enabled=1`)\n")
    out.append("| tracer | backend | workload | program | type | runs | ns per run |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["tracer"], r["backend"], r["workload"], r["program"])):
        out.append(f"| {r['tracer']} | {r['backend']} | {r['workload']} | `{r['program']}` | {r['kind']} | "
                   f"{r['runs']:,} | {r['ns_per_run']:,} |")
    out.append("")


def main():
    rows = defaultdict(list)
    with open(sys.argv[1]) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows[r["type"]].append(r)
    out = []
    if rows["throughput"]:
        throughput_tables(rows["throughput"], out)
    if rows["bpf_cost"]:
        cost_table(rows["bpf_cost"], out)
    for other in ("module_latency", "capture_cost"):
        for r in rows[other]:
            out.append("- " + ", ".join(f"{k}: {v}" for k, v in r.items() if k != "type"))
    for s in rows["skipped"]:
        for tracer, why in s["tracers"].items():
            out.append(f"- {tracer} not measured: {why}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
