#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Stage 2 of the VM lab guest: runs as PID 1 from the overlaid host root
# (see guest-init.sh, which did the mounts), so every tool here is the
# host's own binary. It points module autoload at the host's modprobe,
# runs the test script, reports its exit code through the control share
# and powers the VM off.
#
# The host treats a missing exit-code file as a failed boot, so on any
# setup error this script just powers off after saying why. No "set -e":
# an unexpected exit of PID 1 would panic the kernel instead of reporting.

set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

CTL=/run/vmlab/ctl
OUT=/run/vmlab/out

# A sleep that needs no exec: once power-off starts, the 9p root goes
# away and /usr/bin/sleep can no longer be run. read -t on a pipe whose
# write end we hold ourselves just waits.
exec {idle_fd}<> <(:)
pause() { read -r -t "$1" -u "$idle_fd" _ || true; }

poweroff_now() {
	sync
	# sysrq 'o' is asynchronous; the fallbacks cover a kernel without it.
	echo o >/proc/sysrq-trigger 2>/dev/null
	pause 10
	poweroff -f 2>/dev/null
	pause 60
	exit 1 # a kernel panic still ends the VM (panic=-1 and -no-reboot)
}

die() {
	echo "vmlab-guest: FATAL: $*" >/dev/console
	poweroff_now
}

exec </dev/null >/dev/console 2>&1

log() {
	local up
	read -r up _ </proc/uptime
	echo "vmlab-guest: [$up] $*"
}
log "stage 2 started"

# guest-init.sh mounted everything already; check the result.
read -r kver </proc/sys/kernel/osrelease
[[ -s /lib/modules/$kver/modules.dep ]] || die "/lib/modules/$kver is not populated"
[[ -f $CTL/cmd ]] || die "control share not mounted at $CTL"

# Autoload (request_module) executes this path from the current root.
# Keep the symlink: kmod is a multi-call binary that picks its role from
# argv[0], so the resolved /usr/bin/kmod would not act as modprobe.
if [[ -x /sbin/modprobe ]]; then
	modprobe_bin=/sbin/modprobe
else
	modprobe_bin=$(command -v modprobe) || die "no modprobe in the host root"
fi
echo "$modprobe_bin" >/proc/sys/kernel/modprobe || die "set kernel.modprobe"

# The host wrote the command as bash assignments quoted with printf %q:
# VMLAB_CWD, VMLAB_KERNEL_NAME (the lab's name for the kernel: 6.1,
# 6.1-rt, 6.12, 5.10; empty for another package), VMLAB_RELEASE (the
# release the host booted) and the VMLAB_ARGV array (script and its
# arguments).
# shellcheck source=/dev/null
. "$CTL/cmd" || die "cannot read $CTL/cmd"
cd "$VMLAB_CWD" || die "cwd $VMLAB_CWD does not exist in the guest"

read -r uptime_s _ </proc/uptime
echo "$uptime_s" >"$CTL/ready-uptime"
log "running ${VMLAB_ARGV[*]}"

# A clean, fixed environment: the caller's may point at per-user tool
# shims (pyenv and the like) that are slow or odd under TCG. Commands
# resolve in the standard system directories of the host root.
#
# Output goes to a file on the control share, which the host streams as
# it grows. A file rather than the serial line keeps stdout a non-tty
# (as under ctest) and cannot hang on background processes the script
# leaves behind holding a pipe open.
env -i \
	PATH="$PATH" HOME=/root TERM=dumb LANG=C.UTF-8 \
	VMLAB=1 VMLAB_OUT="$OUT" \
	VMLAB_KERNEL_NAME="${VMLAB_KERNEL_NAME:-}" VMLAB_RELEASE="${VMLAB_RELEASE:-}" \
	bash "${VMLAB_ARGV[@]}" >>"$CTL/script.log" 2>&1 </dev/null
rc=$?
log "script exited $rc"

# Keep the whole kernel log: the console only shows warnings and worse.
dmesg >"$CTL/dmesg.txt" 2>&1
sync "$OUT" 2>/dev/null
# Write then rename, so the host never reads a half-written code.
if ! { echo "$rc" >"$CTL/exitcode.tmp" && mv "$CTL/exitcode.tmp" "$CTL/exitcode"; }; then
	die "cannot write the exit code"
fi
poweroff_now
