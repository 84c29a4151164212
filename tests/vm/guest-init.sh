#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Stage 1 of the VM lab guest: /init of the initramfs, run by busybox as
# PID 1. It only does what the host binaries cannot do for themselves:
# load the few modules needed to reach the host filesystem, build the
# overlaid root and switch into it. Everything else happens in
# guest-run.sh, which runs from the new root with the host's own tools.
#
# No "set -e": PID 1 must never just exit (that panics the kernel with a
# confusing message); failures go through die() instead.

PATH=/bin
export PATH
proc=/proc # moves to /newroot/proc below

# Power off without an exit code on the results share: the host then
# reports a boot failure and shows the tail of the console log.
die() {
	echo "vmlab-init: FATAL: $*" >/dev/console
	echo o >"$proc/sysrq-trigger"
	sleep 5
	poweroff -f
	sleep 60
}

# Progress lines with the uptime go to the console log, to tell where a
# failed or slow boot stopped.
log() {
	up=
	read -r up _ <"$proc/uptime"
	echo "vmlab-init: [$up] $*" >/dev/console
}

/bin/busybox --install -s /bin || die "busybox --install failed"

mount -t proc proc /proc || die "mount /proc"
mount -t sysfs sysfs /sys || die "mount /sys"
mount -t devtmpfs devtmpfs /dev || die "mount /dev"
exec </dev/console >/dev/console 2>&1
log "started"

# The module list is in dependency order (computed on the host with
# modprobe --show-depends), so plain insmod suffices and the initramfs
# needs no modules.dep.
while read -r mod; do
	[ -n "$mod" ] || continue
	insmod "/modules/$mod.ko" || die "insmod $mod"
done </modules/load.list

# 9p over virtio: the host root, read-only. msize raises the per-request
# payload, which matters a lot for exec and large reads under TCG.
log "modules loaded"
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /lower ||
	die "mount host root over 9p (tag 'host')"

# A writable view of the host root: tmpfs upper, so nothing a test does
# ever reaches the host except through the results share.
mount -t tmpfs -o mode=0755 tmpfs /rw || die "mount tmpfs for overlay upper"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	die "mount overlay root"

# Carry the kernel filesystems over (they exist as empty directories in
# the host root).
mount --move /proc /newroot/proc || die "move /proc"
proc=/newroot/proc
mount --move /sys /newroot/sys || die "move /sys"
mount --move /dev /newroot/dev || die "move /dev"

# The rest of the system setup is done here rather than in stage 2: the
# static busybox in RAM is much faster to exec under TCG than the host's
# dynamically linked tools over 9p.
mnt() { # mnt TYPE SOURCE TARGET [OPTIONS]
	mkdir -p "$3" || die "mkdir $3"
	mount -t "$1" ${4:+-o "$4"} "$2" "$3" || die "mount -t $1 $2 $3"
}
ninep=trans=virtio,version=9p2000.L,msize=512000
mnt tmpfs tmpfs /newroot/run mode=0755,nosuid,nodev
mkdir -p /newroot/run/lock /newroot/run/vmlab || die "mkdir /run/vmlab"
cp /guest-run.sh /newroot/run/vmlab/guest-run.sh || die "copy stage 2"
# Control share (command in, status and script output out) and the
# results share the test writes to. No page cache: the host reads both
# while the guest runs.
mnt 9p ctl /newroot/run/vmlab/ctl "$ninep"
mnt 9p out /newroot/run/vmlab/out "$ninep"
mnt devpts devpts /newroot/dev/pts mode=0620,gid=5,ptmxmode=0666
mnt tmpfs tmpfs /newroot/dev/shm mode=1777,nosuid,nodev
# /tmp stays the overlay's: a checkout or build under the host's /tmp is
# visible, and writes still land in the tmpfs upper layer.
mnt bpf bpffs /newroot/sys/fs/bpf mode=0700
mnt tracefs tracefs /newroot/sys/kernel/tracing
mnt debugfs debugfs /newroot/sys/kernel/debug
mnt cgroup2 cgroup2 /newroot/sys/fs/cgroup nsdelegate
# devtmpfs has no /dev/fd family; bash process substitution needs it.
ln -sfn /proc/self/fd /newroot/dev/fd
ln -sfn /proc/self/fd/0 /newroot/dev/stdin
ln -sfn /proc/self/fd/1 /newroot/dev/stdout
ln -sfn /proc/self/fd/2 /newroot/dev/stderr

# The modules of the running kernel, depmod'ed on the host, at the usual
# place. The host has no /lib/modules of its own: the directory is made
# in the tmpfs upper layer. /lib is a symlink on merged-/usr systems; an
# absolute target has to be looked up inside the new root.
kver=$(uname -r)
libdir=/newroot/lib
if [ -L "$libdir" ]; then
	target=$(readlink "$libdir")
	case $target in
	/*) libdir=/newroot$target ;;
	*) libdir=/newroot/$target ;;
	esac
fi
mnt 9p mods "$libdir/modules/$kver" "$ninep,ro"
[ -s "$libdir/modules/$kver/modules.dep" ] || die "modules.dep missing for $kver"

echo vmlab >"$proc/sys/kernel/hostname" || die "set hostname"
ip link set lo up || die "ip link set lo up"

[ -x /newroot/bin/bash ] || die "no /bin/bash in the host root"
log "root ready, switching to stage 2"

# switch_root (not chroot) so that the overlay becomes the root of PID 1,
# whose fs_struct kthreadd shares: kernel-spawned helpers such as
# request_module()'s modprobe then resolve paths in the host root, as on
# a real system.
# shellcheck disable=SC2093 # die only runs if the exec itself fails
exec switch_root /newroot /bin/bash /run/vmlab/guest-run.sh
die "switch_root failed"
