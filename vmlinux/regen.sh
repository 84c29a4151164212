#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Regenerates vmlinux/<arch>/vmlinux.h from a kernel's BTF and records which
# kernel it came from. CO-RE relocates every field access at load time, so the
# header only needs to contain the types, not match the running kernel.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
arch=${2:-x86}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/$arch"
mkdir -p "$out"
command -v bpftool >/dev/null || { echo "regen: bpftool not found (apt-get install bpftool)" >&2; exit 1; }
tmp=$(mktemp "$out/vmlinux.h.XXXXXX")
trap 'rm -f "$tmp"' EXIT
bpftool btf dump file "$btf" format c > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out/vmlinux.h"
trap - EXIT
{
  echo "source: $btf"
  echo "kernel: $(uname -r) ($(uname -v))"
  echo "generated: $(date -u +%Y-%m-%d) by $(bpftool version | head -n1)"
} > "$out/SOURCE"
echo "regen: wrote $out/vmlinux.h"
