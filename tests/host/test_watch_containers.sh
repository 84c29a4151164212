#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Containers and pods, from real cgroup v2 membership. The test lays out
# cgroups as the runtimes do (containerd and CRI-O under the kubelet's
# systemd driver, containerd under its cgroupfs driver, docker under both
# drivers, podman), moves its own traffic processes into them, and a
# kubelet log tree it builds names the pods:
# 1. two containers fill a table at different rates (250 and 150 held
#    connections): ct_pressure ranks the containers and pods by name, the
#    faster first, with their exact entries; the container metric says the
#    same;
# 2. a process in each of the six layouts sends datagrams a rule drops
#    (6, 5, 4, 3, 2 and 1): each ct_drop names its runtime, container id
#    and, in pods, the pod's namespace, name, uid and QoS class and the
#    container's name; nfsleuth_container_drops_total has each exact count;
#    the summary groups the drops by pod and container.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack
cgroot=$(require_cgroup2) || exit $?

ns="nfsl-ctr-$$"
make_netns "$ns"
ip netns exec "$ns" iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
ip netns exec "$ns" iptables -I OUTPUT 1 -p udp --dport 7998 -j DROP
ns_inode=$(stat -L -c %i "/run/netns/$ns")

# ---- the cgroups, as each runtime lays them out (under a root of the test's) --
top="$cgroot/nfsl-ctr-$$"
make_cgroup "$top"
hex64() { printf '%s' "$1" | sha256sum | cut -c1-64; }
uid_web=0a1b2c3d-0000-4000-8000-00000000000$(($$ % 10))
uid_dns=1a1b2c3d-0000-4000-8000-00000000000$(($$ % 10))
uid_job=2a1b2c3d-0000-4000-8000-00000000000$(($$ % 10))
id_web=$(hex64 "web-$$") id_dns=$(hex64 "dns-$$") id_job=$(hex64 "job-$$")
id_dock=$(hex64 "docker-$$") id_dockfs=$(hex64 "dockerfs-$$") id_pod=$(hex64 "podman-$$")
declare -A cg
cg[web]="$top/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid_web//-/_}.slice/cri-containerd-$id_web.scope"
cg[dns]="$top/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid_dns//-/_}.slice/crio-$id_dns.scope"
cg[job]="$top/kubepods/pod$uid_job/$id_job"
cg[dock]="$top/system.slice/docker-$id_dock.scope"
cg[dockfs]="$top/docker/$id_dockfs"
cg[pod]="$top/machine.slice/libpod-$id_pod.scope"
for c in "${!cg[@]}"; do mkdir -p "${cg[$c]}"; done

# ---- the kubelet's log directories -------------------------------------------
# shop/web-0 has two containers: the link names which one is which.
# kube-system/coredns-abc has one: its directory alone names it.
logs="$WORK/kubelet"
mkdir -p "$logs/pods/shop_web-0_$uid_web/nginx" "$logs/pods/shop_web-0_$uid_web/sidecar" \
  "$logs/pods/kube-system_coredns-abc_$uid_dns/coredns" "$logs/pods/batch_job-1_$uid_job/worker" \
  "$logs/containers"
ln -s "$logs/pods/shop_web-0_$uid_web/nginx/0.log" "$logs/containers/web-0_shop_nginx-$id_web.log"
ln -s "$logs/pods/batch_job-1_$uid_job/worker/0.log" "$logs/containers/job-1_batch_worker-$id_job.log"

set_conntrack_max 1000
start_nfsleuth watch watch --json --interval 0.2 --arm-at 0 --threshold 40 --full-within 0 --metrics 127.0.0.1:0 \
  --pod-logs "$logs/pods" --container-logs "$logs/containers" --backend "${DROPS_BACKEND:-auto}"
daemon=$NFSLEUTH_BG_PID
port=$(metrics_port "watch")

# ---- 1. two containers fill the table ------------------------------------------
start_in_netns "$ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7103 --duration-ms 300000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done
start_in_cgroup "${cg[web]}" "$WORK/web.out" ip netns exec "$ns" "$TRAFFIC" tcp-connect --dst 127.0.0.1 \
  --port 7103 --count 250 --timeout-ms 10000 --hold-ms 300000
pid_web=$!
start_in_cgroup "${cg[dns]}" "$WORK/dns.out" ip netns exec "$ns" "$TRAFFIC" tcp-connect --dst 127.0.0.1 \
  --port 7103 --count 150 --timeout-ms 10000 --hold-ms 300000
pid_dns=$!
wait_connected "$WORK/web.out" 250 "web-0's nginx (pid $pid_web)"
wait_connected "$WORK/dns.out" 150 "coredns (pid $pid_dns)"
assert_eq "0::${cg[web]#"$cgroot"}" "$(grep '^0::' "/proc/$pid_web/cgroup")" "nginx runs in its containerd scope"
assert_eq "0::${cg[dns]#"$cgroot"}" "$(grep '^0::' "/proc/$pid_dns/cgroup")" "coredns runs in its CRI-O scope"

wait_for_event ".type == \"ct_pressure\" and .netns_name == \"$ns\"" "ct_pressure"
pressure=$(events ".type == \"ct_pressure\" and .netns_name == \"$ns\"" | head -1)
echo "$pressure"
assert_eq "{\"state\":\"high\",\"netns\":$ns_inode,\"count\":400,\"max\":1000}" \
  "$(jq -c '{state, netns, count, max}' <<<"$pressure")" "pressure at --threshold 40"
assert_eq '[{"container":"shop/web-0/nginx","entries":250},{"container":"kube-system/coredns-abc/coredns","entries":150}]' \
  "$(jq -c .creators.containers <<<"$pressure")" "containers: nginx first, then coredns"
assert_eq '[{"pod":"shop/web-0","entries":250},{"pod":"kube-system/coredns-abc","entries":150}]' \
  "$(jq -c .creators.pods <<<"$pressure")" "pods: web-0 first, then coredns-abc"
assert_eq "[{\"pid\":$pid_web,\"comm\":\"nfsl-traffic\",\"entries\":250},{\"pid\":$pid_dns,\"comm\":\"nfsl-traffic\",\"entries\":150}]" \
  "$(jq -c .creators.processes <<<"$pressure")" "processes as before"
wait_for_value "nfsleuth_container_conntrack_created_total{netns=\"$ns\",pod=\"shop/web-0\",container=\"nginx\"}" 250
wait_for_value "nfsleuth_container_conntrack_created_total{netns=\"$ns\",pod=\"kube-system/coredns-abc\",container=\"coredns\"}" 150

# ---- 2. drops from every layout ---------------------------------------------------
declare -A sends=([web]=6 [dns]=5 [job]=4 [dock]=3 [dockfs]=2 [pod]=1)
for c in "${!sends[@]}"; do
  start_in_cgroup "${cg[$c]}" "$WORK/send-$c.out" ip netns exec "$ns" "$TRAFFIC" udp-send --dst 127.0.0.1 \
    --port 7998 --count "${sends[$c]}"
done
# What each layout must be named as: runtime, id, container name, pod
# namespace/name, uid, QoS (null outside pods), and its metric labels.
declare -A want=(
  [web]="containerd $id_web nginx shop web-0 $uid_web burstable"
  [dns]="cri-o $id_dns coredns kube-system coredns-abc $uid_dns besteffort"
  [job]="cri $id_job worker batch job-1 $uid_job guaranteed"
  [dock]="docker $id_dock - - - - -"
  [dockfs]="docker $id_dockfs - - - - -"
  [pod]="podman $id_pod - - - - -"
)
for c in "${!want[@]}"; do
  read -r runtime id name pod_ns pod_name uid qos <<<"${want[$c]}"
  wait_for_event ".type == \"ct_drop\" and .container.id == \"$id\"" "ct_drop of $c"
  drop=$(events ".type == \"ct_drop\" and .container.id == \"$id\"" | head -1)
  nul() { [[ $1 == - ]] && echo null || echo "\"$1\""; }
  expected="{\"cause\":\"rule\",\"netns\":$ns_inode,\"container\":{\"runtime\":\"$runtime\",\"id\":\"$id\",\"name\":$(nul "$name")},"
  if [[ $uid == - ]]; then
    expected+="\"pod\":null,"
  else
    expected+="\"pod\":{\"namespace\":\"$pod_ns\",\"name\":\"$pod_name\",\"uid\":\"$uid\",\"qos\":\"$qos\"},"
  fi
  expected+="\"cgroup\":\"${cg[$c]#"$cgroot"}\",\"comm\":\"nfsl-traffic\"}"
  assert_eq "$expected" "$(jq -c '{cause, netns, container, pod, cgroup, comm}' <<<"$drop")" "ct_drop names $c"
  pod_label=""
  [[ $uid != - ]] && pod_label="$pod_ns/$pod_name"
  short=${id:0:13}
  [[ $runtime == docker || $runtime == podman ]] && short=${id:0:12}
  label=$name
  [[ $name == - ]] && label="$runtime:$short"
  wait_for_value "nfsleuth_container_drops_total{cause=\"rule\",netns=\"$ns\",pod=\"$pod_label\",container=\"$label\"}" \
    "${sends[$c]}"
done

# ---- 3. a pod that starts while watch runs ----------------------------------------
# Its cgroup and log directory appear now, after the last reading. Naming
# never waits for the directories: the first drop names the pod by uid and
# asks for a reading, which names the next drops.
uid_late=5a1b2c3d-0000-4000-8000-00000000000$(($$ % 10))
id_late=$(hex64 "late-$$")
cg[late]="$top/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid_late//-/_}.slice/cri-containerd-$id_late.scope"
mkdir -p "${cg[late]}" "$logs/pods/shop_late-0_$uid_late/app" "$logs/pods/shop_late-0_$uid_late/init"
ln -s "$logs/pods/shop_late-0_$uid_late/app/0.log" "$logs/containers/late-0_shop_app-$id_late.log"
late_drops() { events ".type == \"ct_drop\" and .container.id == \"$id_late\""; }
late_drop() { # n: one more datagram from the pod, then its n-th drop
  start_in_cgroup "${cg[late]}" "$WORK/late-$1.out" ip netns exec "$ns" "$TRAFFIC" udp-send --dst 127.0.0.1 \
    --port 7998 --count 1
  local deadline=$((SECONDS + 10))
  until (($(late_drops | wc -l) >= $1)); do
    ((SECONDS < deadline)) || fail "the late pod's drop $1: not seen within 10 s"
    sleep 0.1
  done
}
late_drop 1
assert_eq "{\"runtime\":\"containerd\",\"id\":\"$id_late\",\"name\":null} {\"namespace\":null,\"name\":null,\"uid\":\"$uid_late\",\"qos\":\"besteffort\"}" \
  "$(late_drops | jq -c '.container, .pod' | paste -sd' ')" \
  "the first drop of a pod not read yet: its uid, not a wait for its name"
for n in 2 3 4 5 6; do
  late_drop "$n"
  [[ -n $(late_drops | jq -c 'select(.pod.name == "late-0")') ]] && break
done
assert_eq "{\"runtime\":\"containerd\",\"id\":\"$id_late\",\"name\":\"app\"} {\"namespace\":\"shop\",\"name\":\"late-0\",\"uid\":\"$uid_late\",\"qos\":\"besteffort\"}" \
  "$(late_drops | jq -c 'select(.pod.name == "late-0") | .container, .pod' | head -2 | paste -sd' ')" \
  "a later drop names the pod and the container (after $((n - 1)) more)"

stop_nfsleuth "$daemon" || fail "watch exited with $?"
summary=$(events '.type == "summary"')
late='test("late-0|'"$uid_late|${id_late:0:13}"'")'
assert_eq '[{"pod":"shop/web-0","count":6},{"pod":"kube-system/coredns-abc","count":5},{"pod":"batch/job-1","count":4}]' \
  "$(jq -c "[.drops.by_pod[] | select(.pod | $late | not)]" <<<"$summary")" "summary: drops by pod"
assert_eq "[{\"pod\":\"pod:$uid_late\",\"count\":1},{\"pod\":\"shop/late-0\",\"count\":$((n - 1))}]" \
  "$(jq -c "[.drops.by_pod[] | select(.pod | $late)] | sort_by(.pod)" <<<"$summary")" "summary: the late pod, by uid then by name"
assert_eq "[{\"container\":\"shop/web-0/nginx\",\"count\":6},{\"container\":\"kube-system/coredns-abc/coredns\",\"count\":5},{\"container\":\"batch/job-1/worker\",\"count\":4},{\"container\":\"docker:${id_dock:0:12}\",\"count\":3},{\"container\":\"docker:${id_dockfs:0:12}\",\"count\":2},{\"container\":\"podman:${id_pod:0:12}\",\"count\":1}]" \
  "$(jq -c "[.drops.by_container[] | select(.container | $late | not)]" <<<"$summary")" "summary: drops by container"
assert_eq "[{\"container\":\"containerd:${id_late:0:13}\",\"count\":1},{\"container\":\"shop/late-0/app\",\"count\":$((n - 1))}]" \
  "$(jq -c "[.drops.by_container[] | select(.container | $late)] | sort_by(.container)" <<<"$summary")" \
  "summary: the late container, by id then by name"
