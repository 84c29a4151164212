#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs everything nfsleuth needs to build, run and test, from Debian 12
# packages only. Does nothing (and needs no network) when all are present.
# --bench adds the tools the benchmarks compare nfsleuth with.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool
  libcli11-dev nlohmann-json3-dev libgtest-dev
  libnetfilter-conntrack-dev libmnl-dev
  # the sanitizer and fuzz build (tests/sanitize): clang's runtimes
  libclang-rt-dev
  # packaging: .deb through CPack (dpkg-shlibdeps), unit file checks
  dpkg-dev file systemd
  # runtime tests: namespaces, rules, JSON checks, privilege drops, syscalls (strace)
  iproute2 iptables nftables jq python3 util-linux procps kmod curl strace
  # metrics and fleet files: a real Prometheus, promtool, YAML lint
  prometheus yamllint python3-yaml
  # --pcap files read back as Wireshark reads them
  tshark
  # VM lab: a Debian distro kernel under qemu
  qemu-system-x86 busybox-static cpio
)
if [[ ${1:-} == --bench ]]; then
  packages+=(bpftrace linux-perf dropwatch conntrack)
elif [[ -n ${1:-} ]]; then
  echo "usage: $0 [--bench]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # wireshark-common (tshark's) asks whether non-root users may capture: no,
  # the tests only read files.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The tests start their own Prometheus on loopback; the packaged service
  # is not wanted on a machine that only builds nfsleuth.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [[ -d /run/systemd/system ]]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
    echo "install-deps: disabled the prometheus service the package started (nfsleuth's tests run their own)"
  fi
fi
echo "install-deps: all dependencies present"
