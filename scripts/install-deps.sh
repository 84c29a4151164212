#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs everything nfsleuth needs to build, run and test, from Debian 12
# packages only. Does nothing (and needs no network) when all are present.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool
  libcli11-dev nlohmann-json3-dev libgtest-dev
  # runtime tests: namespaces, rules, JSON checks, privilege drops
  iproute2 iptables nftables jq python3 util-linux procps kmod
  # VM lab: a Debian distro kernel under qemu
  qemu-system-x86 busybox-static cpio
)

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
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all dependencies present"
