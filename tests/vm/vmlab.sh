#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# VM lab: run a test script as root inside a Debian distro kernel (6.1
# by default; 5.10, 6.1-rt and 6.12 on request) under qemu (TCG), on an
# overlay of the host root filesystem, with the kernel's modules installed
# so that modprobe and module autoload work.
#
#   vmlab.sh [--cache DIR] [--kernel NAME] [--timeout SECONDS] [--mem MB]
#            SCRIPT [ARGS...]
#
# Exit status: the script's own status; 125 when the VM could not boot,
# crashed, timed out or did not report a status; 2 on bad usage.
# Environment: VMLAB_CACHE (default cache dir), VMLAB_KERNEL (a kernel
# name as for --kernel, or a kernel package name to use instead of the
# newest), VMLAB_QEMU_ARGS (extra qemu options). See README.md next to
# this file.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
readonly HERE
readonly PROG=vmlab
# The kernels the lab knows by name. For each, the newest ABI available
# is picked unless a matching kernel is already cached.
readonly KERNEL_NAMES=(6.1 6.1-rt 6.12 5.10)
readonly DEFAULT_KERNEL=6.1
# kernel_spec NAME: sets kpattern (the package names of that kernel) and
# kapt (the private apt state it comes from; empty: the system's own apt
# sources, as for Debian 12's own 6.1). Fails for an unknown name.
kernel_spec() {
	case $1 in
	6.1) kpattern='^linux-image-6\.1\.0-[0-9]+-amd64$' kapt= ;;
	6.1-rt) kpattern='^linux-image-6\.1\.0-[0-9]+-rt-amd64$' kapt=bookworm ;;
	6.12) kpattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' kapt=bookworm ;;
	5.10) kpattern='^linux-image-5\.10\.0-[0-9]+-amd64$' kapt=bullseye ;;
	*) return 1 ;;
	esac
}
# The suites of each private apt state: a Debian release and its
# security updates, from the mirrors the system's own sources name.
apt_state_suites() {
	case $1 in
	bookworm) echo bookworm bookworm-security ;;
	bullseye) echo bullseye bullseye-security ;;
	*) return 1 ;;
	esac
}
# Release files of every Debian suite are signed by keys in this keyring.
readonly ARCHIVE_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# Modules the initramfs needs to reach the host root (deps are added).
readonly INITRD_MODULES=(virtio_pci 9pnet_virtio 9p overlay)
# Files whose content defines the initramfs: editing any rebuilds it.
readonly HARNESS_FILES=(vmlab.sh guest-init.sh guest-run.sh)

msg() { echo "$PROG: $*" >&2; }
fail() { # fail STATUS MESSAGE
	local status=$1
	shift
	msg "error: $*"
	exit "$status"
}
usage() {
	cat >&2 <<EOF
usage: $0 [--cache DIR] [--kernel NAME] [--timeout SECONDS] [--mem MB] SCRIPT [ARGS...]
  --cache DIR        kernel/initramfs cache and run results
                     (default: \$VMLAB_CACHE or \$PWD/vmlab-cache)
  --kernel NAME      the Debian kernel to boot: ${KERNEL_NAMES[*]}, or the
                     name of a linux-image package (default: \$VMLAB_KERNEL
                     or $DEFAULT_KERNEL)
  --timeout SECONDS  whole-VM time limit (default 600)
  --mem MB           guest memory (default 2048)
EOF
	exit 2
}

cache=${VMLAB_CACHE:-$PWD/vmlab-cache}
kernel=${VMLAB_KERNEL:-$DEFAULT_KERNEL}
timeout_s=600
mem_mb=2048
while (($#)); do
	case $1 in
	--cache) (($# >= 2)) || usage; cache=$2; shift 2 ;;
	--cache=*) cache=${1#*=}; shift ;;
	--kernel) (($# >= 2)) || usage; kernel=$2; shift 2 ;;
	--kernel=*) kernel=${1#*=}; shift ;;
	--timeout) (($# >= 2)) || usage; timeout_s=$2; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	--mem) (($# >= 2)) || usage; mem_mb=$2; shift 2 ;;
	--mem=*) mem_mb=${1#*=}; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) msg "unknown option: $1"; usage ;;
	*) break ;;
	esac
done
(($# >= 1)) || usage
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || fail 2 "--timeout wants a positive integer, got '$timeout_s'"
[[ $mem_mb =~ ^[1-9][0-9]*$ ]] || fail 2 "--mem wants a positive integer, got '$mem_mb'"

# The kernel: a name (kname, with kpattern and kapt), or one exact
# package (kpkg), fetched from where the kernel of that name comes from;
# a package no name covers comes from the system's own apt sources.
kname='' kpkg='' kpattern='' kapt=''
if kernel_spec "$kernel"; then
	kname=$kernel
elif [[ $kernel =~ ^linux-image-[a-z0-9][a-z0-9.+~-]*$ ]]; then
	kpkg=$kernel
	for n in "${KERNEL_NAMES[@]}"; do
		kernel_spec "$n"
		if [[ $kpkg =~ $kpattern ]]; then
			kname=$n
			break
		fi
	done
	[[ -n $kname ]] || kpattern='' kapt=''
else
	fail 2 "unknown kernel '$kernel': use one of ${KERNEL_NAMES[*]} or a linux-image-* package name"
fi

script=$(realpath -e -- "$1" 2>/dev/null) || fail 2 "no such script: $1"
shift
[[ -f $script && -r $script ]] || fail 2 "not a readable file: $script"
cwd=$(pwd -P)
# The guest mounts fresh filesystems over these, so host files below them
# are not visible inside.
for p in "$script" "$cwd"; do
	case $p/ in
	/run/* | /dev/* | /proc/* | /sys/* | /var/run/*)
		fail 2 "$p is under a directory the guest replaces (/run, /dev, /proc, /sys); use another path" ;;
	esac
done

((EUID == 0)) || fail 125 "must run as root (installs packages, needs full host root access for 9p)"

# --- state the EXIT trap cleans up ------------------------------------------
qemu_pid=
tmp_paths=()
# Stop our qemu (by its pid only): politely, then for good after 5 s.
stop_qemu() {
	[[ -n $qemu_pid ]] || return 0
	kill -TERM "$qemu_pid" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$qemu_pid" 2>/dev/null || return 0
		sleep 0.5
	done
	kill -KILL "$qemu_pid" 2>/dev/null || true
}
# shellcheck disable=SC2317 # only ever called by the trap
cleanup() {
	local status=$?
	stop_qemu
	((${#tmp_paths[@]} == 0)) || rm -rf -- "${tmp_paths[@]}"
	exit "$status"
}
trap cleanup EXIT
trap 'msg "interrupted"; exit 130' INT
trap 'msg "terminated"; exit 143' TERM HUP

# --- host packages ----------------------------------------------------------
ensure_packages() {
	local pkg missing=()
	for pkg in qemu-system-x86 busybox-static cpio kmod xz-utils; do
		[[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) == installed ]] ||
			missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return
	msg "installing ${missing[*]}"
	apt-get update -qq >&2 || fail 125 "apt-get update failed"
	# Wait for, rather than fail on, a concurrent dpkg run.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o DPkg::Lock::Timeout=600 \
		"${missing[@]}" >&2 || fail 125 "apt-get install ${missing[*]} failed"
}
ensure_packages

# --- cache: kernel package, extracted tree, initramfs -----------------------
mkdir -p -- "$cache" || fail 125 "cannot create cache dir $cache"
cache=$(realpath -e -- "$cache")
mkdir -p "$cache/kernels" "$cache/initrd" "$cache/runs"

# One writer at a time per cache; runs only hold the lock while preparing,
# not while the VM runs. Everything is built in a temp dir and renamed
# into place, so a killed run never leaves a half-built entry behind.
exec {lock_fd}>"$cache/.lock"
flock -w 1800 "$lock_fd" || fail 125 "timed out waiting for the cache lock $cache/.lock"

# Remove leftovers of runs that were killed before their trap could run.
for stale in "$cache"/kernels/.tmp-* "$cache"/initrd/.tmp-*; do
	[[ -e $stale ]] || continue
	owner=${stale##*/.tmp-}
	owner=${owner%%.*}
	if ! [[ $owner =~ ^[0-9]+$ ]] || ! kill -0 "$owner" 2>/dev/null; then
		rm -rf -- "$stale"
	fi
done

# The newest cached kernel whose package name matches the pattern $1.
newest_cached_kernel() {
	local d entry
	for d in "$cache"/kernels/*/complete; do
		[[ -e $d ]] || continue
		entry=$(basename "$(dirname "$d")")
		if [[ ${entry%%_*} =~ $1 ]]; then echo "$entry"; fi
	done | sort -V | tail -n 1
}

# apt_opts: the options that point apt-get and apt-cache at the apt state
# the kernel comes from (none for the system's own).
apt_opts=()

# A private apt state for the suites of another Debian release, so that
# the system's own sources, lists and package cache are never touched.
# CACHE/apt/NAME/ holds its sources.list (the suites, on the mirrors the
# system's sources name, signed by the Debian archive keyring), empty
# sources.list.d/ and preferences.d/, an empty dpkg status, the index
# files in lists/ and apt's binary caches in cache/.
use_private_apt() { # use_private_apt NAME; sets apt_opts
	local name=$1 st suites suite codename targets uri rel mirror='' security=''
	# shellcheck disable=SC2016 # $(FIELD) is apt's own format syntax
	local format='$(REPO_URI) $(RELEASE)'
	st=$cache/apt/$name
	suites=$(apt_state_suites "$name") || fail 125 "no suites known for apt state $name"
	[[ -r $ARCHIVE_KEYRING ]] ||
		fail 125 "$ARCHIVE_KEYRING is missing (apt-get install debian-archive-keyring)"
	# The mirrors: those serving the system's own release and its
	# security updates, as apt itself reads the system's sources.
	codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
	[[ -n $codename ]] || fail 125 "no VERSION_CODENAME in /etc/os-release: cannot tell which apt source is Debian's"
	targets=$(apt-get indextargets --format "$format" 'Identifier: Packages') ||
		fail 125 "apt-get indextargets failed: cannot read the system's apt sources"
	while read -r uri rel; do
		if [[ $rel == "$codename" && -z $mirror ]]; then mirror=${uri%/}; fi
		if [[ $rel == "$codename-security" && -z $security ]]; then security=${uri%/}; fi
	done <<<"$targets"
	[[ -n $mirror ]] || fail 125 "the system's apt sources name no mirror for suite $codename"
	[[ -n $security ]] || fail 125 "the system's apt sources name no mirror for suite $codename-security"
	mkdir -p "$st/sources.list.d" "$st/preferences.d" "$st/lists/partial" "$st/cache/archives/partial" ||
		fail 125 "cannot create the apt state $st"
	[[ -e $st/status ]] || : >"$st/status"
	{
		echo "# Written by vmlab.sh: the suites of the $name kernels."
		for suite in $suites; do
			case $suite in
			*-security) uri=$security ;;
			*) uri=$mirror ;;
			esac
			echo "deb [signed-by=$ARCHIVE_KEYRING] $uri $suite main"
		done
	} >"$st/sources.list.tmp" || fail 125 "cannot write $st/sources.list.tmp"
	mv -f "$st/sources.list.tmp" "$st/sources.list" || fail 125 "cannot write $st/sources.list"
	apt_opts=(
		-o "Dir::Etc::SourceList=$st/sources.list"
		-o "Dir::Etc::SourceParts=$st/sources.list.d"
		-o "Dir::Etc::Preferences=$st/preferences"
		-o "Dir::Etc::PreferencesParts=$st/preferences.d"
		-o "Dir::State::Lists=$st/lists"
		-o "Dir::State::status=$st/status"
		-o "Dir::Cache=$st/cache"
		-o "Acquire::Languages=none"
	)
	# Only fetching a kernel needs the indexes, and then fresh ones: an
	# old index can name a version the mirror no longer has.
	msg "updating the apt state $st ($suites)"
	apt-get "${apt_opts[@]}" -o APT::Sandbox::User=root -qq update >&2 ||
		fail 125 "apt-get update failed for the apt state $st (sources: $st/sources.list)"
}

newest_apt_kernel() {
	apt-cache "${apt_opts[@]}" search --names-only "$kpattern" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1
}

# Decompressing the bzImage takes seconds under TCG on every boot. The
# kernel is built with PVH entry support, so qemu can start the plain ELF
# vmlinux directly; extract it once. Best effort: without it the bzImage
# is booted as is.
extract_vmlinux() { # extract_vmlinux BZIMAGE CONFIG OUTPUT
	local bz=$1 config=$2 out=$3 setup_sects payload_off payload_len size magic
	local decompress=()
	grep -qx 'CONFIG_PVH=y' "$config" 2>/dev/null || return 0
	# Boot protocol header: setup_sects at 0x1f1, payload_offset and
	# payload_length at 0x248/0x24c, relative to the protected-mode code.
	setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz")
	payload_off=$(od -An -tu4 -j $((0x248)) -N4 "$bz")
	payload_len=$(od -An -tu4 -j $((0x24c)) -N4 "$bz")
	((setup_sects > 0)) || setup_sects=4
	payload_off=$(((setup_sects + 1) * 512 + payload_off))
	# On x86 the payload always ends with the decompressed size (32 bits,
	# little endian): it tells a complete extraction from a truncated one
	# whatever the compressor.
	size=$(od -An -tu4 -j $((payload_off + payload_len - 4)) -N4 "$bz" | tr -d ' ')
	magic=$(od -An -tx1 -j "$payload_off" -N4 "$bz" | tr -d ' \n')
	case $magic in
	fd377a58) decompress=(xz -dc --single-stream) ;;
	28b52ffd) decompress=(zstd -dcq) ;;
	1f8b*) decompress=(gzip -dc) ;;
	02214c18) decompress=(lz4 -dc) ;;
	esac
	if ((${#decompress[@]} == 0)) || ! command -v "${decompress[0]}" >/dev/null; then
		msg "note: no decompressor for the payload of $bz (magic $magic); booting the bzImage"
		return 0
	fi
	# The decompressors may stop reading, or complain, at the size
	# trailer: their status is not what decides, the size and ELF are.
	dd if="$bz" iflag=skip_bytes,count_bytes skip="$payload_off" \
		count="$payload_len" bs=1M status=none 2>/dev/null |
		"${decompress[@]}" >"$out.part" 2>/dev/null || true
	if [[ $(stat -c %s "$out.part" 2>/dev/null) == "$size" &&
		$(head -c 4 "$out.part" | od -An -c | tr -d ' ') == '177ELF' ]]; then
		mv -f "$out.part" "$out"
	else
		rm -f "$out.part"
		msg "note: could not extract an ELF vmlinux from $bz; booting the bzImage"
	fi
}

# A cached kernel dir is named PACKAGE_VERSION and holds the .deb, the
# extracted tree in root/, and "release" with the uname -r string.
fetch_kernel() { # fetch_kernel PACKAGE -> sets kentry to the cache entry name
	local pkg=$1 tmp deb ver release entry
	tmp=$(mktemp -d "$cache/kernels/.tmp-$$.XXXXXX")
	tmp_paths+=("$tmp")
	msg "downloading $pkg"
	(cd "$tmp" && apt-get "${apt_opts[@]}" -q -o APT::Sandbox::User=root download "$pkg" >&2) ||
		fail 125 "apt-get download $pkg failed"
	deb=$(echo "$tmp"/*.deb)
	[[ -f $deb ]] || fail 125 "no .deb downloaded for $pkg"
	ver=$(dpkg-deb -f "$deb" Version)
	entry=${pkg}_$ver
	msg "extracting $entry"
	dpkg-deb -x "$deb" "$tmp/root" || fail 125 "dpkg-deb -x $deb failed"
	release=$(basename "$(echo "$tmp"/root/lib/modules/*)")
	[[ -f $tmp/root/boot/vmlinuz-$release ]] || fail 125 "no vmlinuz-$release in $deb"
	# modprobe/autoload in the guest need modules.dep & co.
	depmod -b "$tmp/root" "$release" || fail 125 "depmod failed for $release"
	extract_vmlinux "$tmp/root/boot/vmlinuz-$release" "$tmp/root/boot/config-$release" "$tmp/vmlinux"
	echo "$release" >"$tmp/release"
	touch "$tmp/complete"
	# -T: rename the directory itself; fails if another run won the race.
	chmod 0755 "$tmp"
	mv -T "$tmp" "$cache/kernels/$entry" 2>/dev/null || rm -rf -- "$tmp"
	kentry=$entry
}

if [[ -n $kpkg ]]; then
	kentry=
	for d in "$cache/kernels/${kpkg}"_*/complete; do
		if [[ -e $d ]]; then kentry=$(basename "$(dirname "$d")"); fi
	done
	if [[ -z $kentry ]]; then
		[[ -z $kapt ]] || use_private_apt "$kapt"
		fetch_kernel "$kpkg"
	fi
else
	# Prefer what is cached so the kernel under test does not change
	# behind the developer's back when the archive moves on.
	kentry=$(newest_cached_kernel "$kpattern")
	if [[ -z $kentry ]]; then
		if [[ -n $kapt ]]; then
			use_private_apt "$kapt"
			pkg=$(newest_apt_kernel)
			[[ -n $pkg ]] || fail 125 "no package matching $kpattern in the apt state $cache/apt/$kapt"
		else
			pkg=$(newest_apt_kernel)
			if [[ -z $pkg ]]; then
				apt-get update -qq >&2 || fail 125 "apt-get update failed"
				pkg=$(newest_apt_kernel)
			fi
			[[ -n $pkg ]] || fail 125 "no package matching $kpattern in apt"
		fi
		fetch_kernel "$pkg"
	fi
fi
kdir=$cache/kernels/$kentry
release=$(<"$kdir/release")
kernel_image=$kdir/root/boot/vmlinuz-$release
[[ -s $kdir/vmlinux ]] && kernel_image=$kdir/vmlinux
moddir=$kdir/root/lib/modules/$release

harness_hash=$(cd "$HERE" && cat -- "${HARNESS_FILES[@]}" | sha256sum | cut -c1-16)
initrd=$cache/initrd/$release-$harness_hash.cpio.gz

build_initrd() {
	local tmp root busybox mod deps verb path name list=()
	tmp=$(mktemp -d "$cache/initrd/.tmp-$$.XXXXXX")
	tmp_paths+=("$tmp")
	root=$tmp/root
	mkdir -p "$root"/{bin,dev,proc,sys,modules}
	busybox=$(dpkg -L busybox-static | awk '/\/busybox$/ && !found { print; found = 1 }')
	[[ -x $busybox ]] || fail 125 "busybox-static has no busybox binary"
	cp "$busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	# The kernel opens /dev/console for /init before devtmpfs exists.
	mknod -m 0600 "$root/dev/console" c 5 1
	install -m 0755 "$HERE/guest-init.sh" "$root/init"
	install -m 0755 "$HERE/guest-run.sh" "$root/guest-run.sh"
	# modprobe prints the insmod order with dependencies first.
	for mod in "${INITRD_MODULES[@]}"; do
		deps=$(modprobe -d "$kdir/root" -S "$release" --show-depends "$mod") ||
			fail 125 "cannot resolve module $mod for $release"
		while read -r verb path _; do
			# "builtin NAME" lines need nothing.
			[[ $verb == insmod ]] || continue
			name=${path##*/}
			name=${name%.ko*}
			[[ " ${list[*]} " == *" $name "* ]] && continue
			list+=("$name")
			# busybox insmod wants the plain object; kernels differ in
			# whether (and how) their modules are compressed.
			case $path in
			*.ko) cp "$path" "$root/modules/$name.ko" ;;
			*.ko.xz) xz -dc "$path" >"$root/modules/$name.ko" ;;
			*.ko.zst) zstd -dcq "$path" >"$root/modules/$name.ko" ;;
			*.ko.gz) gzip -dc "$path" >"$root/modules/$name.ko" ;;
			*) fail 125 "cannot unpack module file $path" ;;
			esac || fail 125 "cannot unpack module file $path"
		done <<<"$deps"
	done
	printf '%s\n' "${list[@]}" >"$root/modules/load.list"
	msg "building initramfs for $release (modules: ${list[*]})"
	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet -R 0:0 | gzip -1) >"$tmp/initrd.cpio.gz" ||
		fail 125 "cpio failed"
	mv -f "$tmp/initrd.cpio.gz" "$initrd"
	rm -rf -- "$tmp"
}
[[ -s $initrd ]] || build_initrd

flock -u "$lock_fd"
exec {lock_fd}>&-

# --- run ----------------------------------------------------------------------
run=$(mktemp -d "$cache/runs/$(date +%Y%m%d-%H%M%S)-$$.XXXX")
chmod 0755 "$run"
mkdir -p "$run/ctl" "$run/out"
console=$run/console.log
script_log=$run/ctl/script.log
: >"$script_log"
{
	printf 'VMLAB_CWD=%q\n' "$cwd"
	printf 'VMLAB_KERNEL_NAME=%q\n' "$kname"
	printf 'VMLAB_RELEASE=%q\n' "$release"
	printf 'VMLAB_ARGV=('
	printf ' %q' "$script" "$@"
	printf ' )\n'
} >"$run/ctl/cmd"

show_console_tail() {
	msg "last 80 lines of the console log ($console):"
	[[ -f $console ]] && tail -n 80 "$console" | tr -d '\r' >&2
	if [[ -s $run/qemu.log ]]; then
		msg "qemu said:"
		tail -n 20 "$run/qemu.log" >&2
	fi
}

# Microseconds, from bash's own clock (SECONDS only ticks whole seconds).
now_us() { echo "${EPOCHREALTIME/./}"; }

msg "kernel ${kname:-$kpkg}: $release ($kentry), run dir $run"
started_us=$(now_us)
# TCG only: KVM hangs on this machine class. -cpu max gives the newer
# instruction sets that host binaries may have been compiled for.
# VMLAB_QEMU_ARGS (word-split on purpose) adds options for debugging,
# e.g. "-s" for a gdb stub.
# shellcheck disable=SC2086
qemu-system-x86_64 \
	-accel tcg -cpu max -m "$mem_mb" -smp 2 \
	-nographic -nodefaults -no-user-config -no-reboot -monitor none \
	-serial "file:$console" \
	-kernel "$kernel_image" -initrd "$initrd" \
	-append "console=ttyS0 quiet panic=-1" \
	-virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$moddir,mount_tag=mods,security_model=none,readonly=on" \
	-virtfs "local,path=$run/ctl,mount_tag=ctl,security_model=none" \
	-virtfs "local,path=$run/out,mount_tag=out,security_model=none" \
	${VMLAB_QEMU_ARGS:-} \
	</dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!

# Stream the script's output as the guest appends it, and enforce the
# time limit. Polling keeps this to one process with exact offsets.
shown=0
stream_output() {
	local size
	size=$(stat -c %s "$script_log" 2>/dev/null) || return 0
	if ((size > shown)); then
		dd if="$script_log" iflag=skip_bytes,count_bytes skip="$shown" \
			count="$((size - shown))" bs=64K status=none || true
		shown=$size
	fi
}
timed_out=0
deadline_us=$((started_us + timeout_s * 1000000))
while kill -0 "$qemu_pid" 2>/dev/null; do
	stream_output
	if (($(now_us) >= deadline_us)); then
		timed_out=1
		break
	fi
	sleep 0.25
done
((timed_out)) && stop_qemu
qemu_status=0
wait "$qemu_pid" || qemu_status=$?
qemu_pid=
stream_output
elapsed_ds=$((($(now_us) - started_us) / 100000))
elapsed=$((elapsed_ds / 10)).$((elapsed_ds % 10))

if ((timed_out)); then
	show_console_tail
	fail 125 "timed out after ${timeout_s}s (results so far in $run)"
fi
rc=
[[ -f $run/ctl/exitcode ]] && rc=$(<"$run/ctl/exitcode")
if ! [[ $rc =~ ^[0-9]+$ ]]; then
	show_console_tail
	fail 125 "the guest did not report an exit status (qemu exit $qemu_status): boot failure or crash; see $run"
fi
ready=$(cat "$run/ctl/ready-uptime" 2>/dev/null || echo '?')
msg "script exited $rc; guest ready after ${ready}s of guest uptime, ${elapsed}s wall for the VM"
msg "console log $console, script output $script_log"
msg "results in $run/out"
exit "$rc"
