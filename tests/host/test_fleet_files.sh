#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What ships for fleets, checked with the real tools: the systemd unit
# (systemd-analyze verify, and its exposure score), the .deb's contents and
# dependencies, the Prometheus scrape config and alert rules (promtool,
# including the rules' own unit tests), the YAML (yamllint), and the
# DaemonSet's structure. Every metric the alerts use is one a running
# nfsleuth exposes, and the options the unit and the DaemonSet pass are
# accepted by the real binary. The .deb's installation is in the VM lab
# (tests/vm/test_package.sh).
source "$(dirname "$0")/../lib.sh"
require_root
deb=${3:?the .deb as the third argument}
src=$(cd "$(dirname "$0")/../.." && pwd)
for tool in systemd-analyze promtool yamllint dpkg-deb python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

# --- the unit --------------------------------------------------------------------
# Verified as installed, but with ExecStart on the binary under test (the
# packaged path exists only once the .deb is installed).
sed "s|/usr/sbin/nfsleuth|$NFSLEUTH|" "$src/packaging/nfsleuth.service" >"$WORK/nfsleuth.service"
systemd-analyze verify --man=no "$WORK/nfsleuth.service" >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out"; fail "systemd-analyze verify"; }
[[ ! -s $WORK/verify.out ]] || { cat "$WORK/verify.out"; fail "systemd-analyze verify printed warnings"; }
pass "systemd-analyze verify accepts the unit"
systemd-analyze security --offline=yes --threshold=40 "$WORK/nfsleuth.service" >"$WORK/security.out" 2>&1 ||
  { cat "$WORK/security.out"; fail "the unit's exposure is above 4.0"; }
pass "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$WORK/security.out")"

# The unit's options, from /etc/default/nfsleuth, are accepted by watch.
# shellcheck source=/dev/null
source "$src/packaging/nfsleuth.default"
read -ra unit_args <<<"$NFSLEUTH_WATCH_ARGS"
unit_args=("${unit_args[@]/127.0.0.1:9836/127.0.0.1:0}")
unit_args=("${unit_args[@]/\/var\/log\/nfsleuth/$WORK}")
run_nfsleuth unit watch "${unit_args[@]}" --duration 1
assert_eq 0 "$(cat "$WORK/unit.rc")" "watch with the unit's options exits 0"
assert_eq '"summary"' "$(tail -n1 "$WORK/events.jsonl" | jq -c .type)" "the unit's journal ends with the summary"

# --- the .deb ----------------------------------------------------------------------
[[ -f $deb ]] || fail "no package at $deb"
dpkg-deb -c "$deb" | awk '{print $6}' >"$WORK/contents"
for path in ./usr/sbin/nfsleuth ./usr/lib/systemd/system/nfsleuth.service ./etc/default/nfsleuth \
  ./usr/share/doc/nfsleuth/README.md ./usr/share/doc/nfsleuth/examples/prometheus/nfsleuth-alerts.yml \
  ./usr/share/doc/nfsleuth/examples/kubernetes/nfsleuth-daemonset.yaml \
  ./usr/share/doc/nfsleuth/examples/grafana/nfsleuth-dashboard.json; do
  grep -qxF "$path" "$WORK/contents" || fail "the package lacks $path"
done
pass "the package holds the binary, the unit, its defaults, docs and fleet examples"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$WORK/conffiles"
assert_eq /etc/default/nfsleuth "$(cat "$WORK/conffiles")" "the defaults file is a conffile"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf1 libmnl0 libstdc++6; do
  grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
pass "Depends (from dpkg-shlibdeps): $depends"
mkdir "$WORK/root"
dpkg-deb -x "$deb" "$WORK/root"
assert_eq "$("$NFSLEUTH" --version)" "$("$WORK/root/usr/sbin/nfsleuth" --version)" "packaged binary version"

# --- Prometheus ------------------------------------------------------------------
promtool check config "$src/deploy/prometheus/prometheus.yml" >"$WORK/promtool.out" 2>&1 ||
  { cat "$WORK/promtool.out"; fail "promtool check config"; }
promtool check rules "$src/deploy/prometheus/nfsleuth-alerts.yml" >>"$WORK/promtool.out" 2>&1 ||
  { cat "$WORK/promtool.out"; fail "promtool check rules"; }
(cd "$src/deploy/prometheus" && promtool test rules nfsleuth-alerts.test.yml) >>"$WORK/promtool.out" 2>&1 ||
  { cat "$WORK/promtool.out"; fail "promtool test rules"; }
pass "promtool: the scrape config and the rules are valid, and the rules' tests pass"

# Every nfsleuth metric the rules use is one nfsleuth exposes.
start_nfsleuth metrics watch -q --interval 0.2 --metrics 127.0.0.1:0
port=$(metrics_port "metrics")
curl -fsS "http://127.0.0.1:$port/metrics" | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' | sort -u >"$WORK/exposed"
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exit status"
grep -o 'nfsleuth_[a-z_]*' "$src/deploy/prometheus/nfsleuth-alerts.yml" | sort -u >"$WORK/used"
[[ -s $WORK/used ]] || fail "no nfsleuth metric found in the rules"
unknown=$(comm -23 "$WORK/used" "$WORK/exposed")
[[ -z $unknown ]] || fail "the rules use metrics nfsleuth does not expose: $unknown"
pass "the rules use $(wc -l <"$WORK/used") metrics, all exposed by nfsleuth"

# --- YAML and the DaemonSet --------------------------------------------------------
yamllint -s -c "$src/.yamllint" "$src/deploy" >"$WORK/yamllint.out" 2>&1 || { cat "$WORK/yamllint.out"; fail "yamllint"; }
pass "yamllint accepts deploy/"
python3 - "$src/deploy/kubernetes/nfsleuth-daemonset.yaml" "$src/deploy/kubernetes/prometheus-scrape.yml" \
  >"$WORK/daemonset.args" <<'PY' || fail "DaemonSet structure"
import sys, yaml

def need(cond, what):
    if not cond:
        sys.exit(f"DaemonSet: {what}")

ds = yaml.safe_load(open(sys.argv[1]))
scrape = yaml.safe_load(open(sys.argv[2]))
need(ds.get("apiVersion") == "apps/v1" and ds.get("kind") == "DaemonSet", "apps/v1 DaemonSet")
need(ds["metadata"].get("name") and ds["metadata"].get("namespace"), "name and namespace")
spec = ds["spec"]
tmpl = spec["template"]
labels = tmpl["metadata"]["labels"]
need(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()), "selector matches the pod labels")
pod = tmpl["spec"]
need(pod.get("hostPID") is True and pod.get("hostNetwork") is True, "hostPID and hostNetwork")
need(any(t.get("operator") == "Exists" and "key" not in t for t in pod.get("tolerations", [])), "runs on every node")
containers = pod["containers"]
need(len(containers) == 1, "one container")
c = containers[0]
need(c.get("image"), "an image")
need(c["resources"]["limits"].get("memory"), "a memory limit")
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
need("metrics" in ports, "a port named metrics")
args = c["args"]
need(args[0] == "watch", "runs watch")
metrics = args[args.index("--metrics") + 1]
need(metrics == f"$(NODE_IP):{ports['metrics']}", "--metrics on the node address and the metrics port")
need(any(e["name"] == "NODE_IP" for e in c["env"]), "NODE_IP from the downward API")
need(c["livenessProbe"]["httpGet"]["port"] == "metrics", "the liveness probe on the metrics port")
volumes = {v["name"]: v for v in pod["volumes"]}
for m in c["volumeMounts"]:
    need(m["name"] in volumes, f"mount {m['name']} has a volume")
# Pods and containers are named from the kubelet's log directories, at the
# paths watch reads by default, read-only.
for path in ("/var/log/pods", "/var/log/containers"):
    need(any(m["mountPath"] == path and m.get("readOnly") for m in c["volumeMounts"]) and
         any(v.get("hostPath", {}).get("path") == path for v in volumes.values()),
         f"{path} of the node mounted read-only")
journal = args[args.index("--journal") + 1]
need(any(journal.startswith(m["mountPath"] + "/") and not m.get("readOnly") for m in c["volumeMounts"]),
     "the journal is on a writable host volume")
job = scrape["scrape_configs"][0]
keep = {tuple(r["source_labels"]): r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
need(keep.get(("__meta_kubernetes_pod_label_app_kubernetes_io_name",)) == labels["app.kubernetes.io/name"],
     "the scrape job keeps the DaemonSet's pods")
need(keep.get(("__meta_kubernetes_pod_container_port_name",)) == "metrics", "the scrape job keeps the metrics port")
need(job["kubernetes_sd_configs"][0]["namespaces"]["names"] == [ds["metadata"]["namespace"]],
     "the scrape job looks in the DaemonSet's namespace")
# The container's arguments, one per line, for the real binary to parse.
print("\n".join(args))
PY
pass "the DaemonSet is complete and consistent with its scrape job"
mapfile -t ds_args <"$WORK/daemonset.args"
ds_args=("${ds_args[@]/\$(NODE_IP):9836/127.0.0.1:0}")
ds_args=("${ds_args[@]/\/var\/log\/nfsleuth/$WORK}")
run_nfsleuth daemonset "${ds_args[@]}" --duration 1
assert_eq 0 "$(cat "$WORK/daemonset.rc")" "watch with the DaemonSet's arguments exits 0"
