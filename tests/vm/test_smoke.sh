#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# VM lab smoke test: checks that the guest is the distro 6.1 kernel with
# BTF, loadable modules, explicit modprobe and kernel-driven autoload, and
# that the results share reaches the host.
#
#   tests/vm/vmlab.sh tests/vm/test_smoke.sh

set -euo pipefail

fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}
ok() { echo "smoke: ok: $*"; }

[[ ${VMLAB:-} == 1 ]] || fail "not inside the VM lab (run via tests/vm/vmlab.sh)"
[[ -d ${VMLAB_OUT:-} && -w $VMLAB_OUT ]] || fail "VMLAB_OUT is not a writable directory"

release=$(uname -r)
[[ $release == 6.1* ]] || fail "uname -r is $release, expected 6.1*"
ok "kernel $release"

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
