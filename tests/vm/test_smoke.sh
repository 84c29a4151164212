#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# VM lab smoke test: checks that the guest runs the distro kernel the lab
# was asked for (6.1 by default, 5.10, 6.1-rt or 6.12 with --kernel) with
# BTF, loadable modules, explicit modprobe and kernel-driven autoload, and
# that the results share reaches the host.
#
#   tests/vm/vmlab.sh [--kernel NAME] tests/vm/test_smoke.sh

set -euo pipefail

fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}
ok() { echo "smoke: ok: $*"; }

[[ ${VMLAB:-} == 1 ]] || fail "not inside the VM lab (run via tests/vm/vmlab.sh)"
[[ -d ${VMLAB_OUT:-} && -w $VMLAB_OUT ]] || fail "VMLAB_OUT is not a writable directory"

release=$(uname -r)
if [[ -n ${VMLAB_RELEASE:-} && $release != "$VMLAB_RELEASE" ]]; then
	fail "uname -r is $release, but the lab booted $VMLAB_RELEASE"
fi
# What each of the lab's kernel names must be.
case ${VMLAB_KERNEL_NAME:-} in
6.1) [[ $release == 6.1.* && $release != *-rt-* ]] || fail "uname -r is $release, expected 6.1.* (not -rt)" ;;
6.1-rt)
	[[ $release == 6.1.*-rt-* ]] || fail "uname -r is $release, expected 6.1.*-rt-*"
	[[ $(cat /sys/kernel/realtime 2>/dev/null) == 1 ]] || fail "/sys/kernel/realtime is not 1 on $release"
	;;
6.12) [[ $release == 6.12.* ]] || fail "uname -r is $release, expected 6.12.*" ;;
5.10) [[ $release == 5.10.* ]] || fail "uname -r is $release, expected 5.10.*" ;;
'') ;;
*) fail "unknown VMLAB_KERNEL_NAME '$VMLAB_KERNEL_NAME'" ;;
esac
ok "kernel $release${VMLAB_KERNEL_NAME:+ (${VMLAB_KERNEL_NAME})}"

[[ -e /sys/kernel/btf/vmlinux ]] || fail "/sys/kernel/btf/vmlinux is missing"
ok "BTF present"

[[ -e /proc/modules ]] || fail "/proc/modules is missing (no module support?)"
ok "/proc/modules present"

modprobe nf_conntrack || fail "modprobe nf_conntrack failed"
grep -q '^nf_conntrack ' /proc/modules || fail "nf_conntrack not in /proc/modules after modprobe"
ok "modprobe nf_conntrack"

# Autoload: the kernel itself runs modprobe (request_module) for the
# unknown protocol 132 (SCTP); nothing here loads it explicitly.
if grep -q '^sctp ' /proc/modules; then
	fail "sctp is loaded before the autoload test"
fi
python3 -c 'import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)' ||
	fail "creating an SCTP socket failed"
grep -q '^sctp ' /proc/modules || fail "sctp was not autoloaded"
ok "sctp autoloaded by the kernel"

echo "release=$release" >"$VMLAB_OUT/smoke.ok"
ok "wrote $VMLAB_OUT/smoke.ok"
