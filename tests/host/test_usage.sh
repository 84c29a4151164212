#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Bad usage exits 2 with one clear message on stderr and nothing on stdout;
# help and version exit 0 and go to stdout.
source "$(dirname "$0")/../lib.sh"

assert_refused "A subcommand is required"
assert_refused "not expected: --bogus" modules --bogus
assert_refused "unknown command 'frobnicate' (commands: doctor, modules, drops, watch, why)" frobnicate
assert_refused "--duration: must be a number of seconds from 0.001" modules --duration 0
assert_refused "--duration: must be a number of seconds from 0.001" modules --duration -3
assert_refused "--duration: must be a number of seconds from 0.001" modules --duration soon
assert_refused "--backend" modules --backend ebpf
assert_refused "--pid" modules --pid abc
assert_refused "--interval: must be a number of seconds" drops --interval 0
assert_refused "--max-flows" drops --max-flows 10
assert_refused "File does not exist: /nonexistent/btf" doctor --btf /nonexistent/btf
echo "not BTF" >"$WORK/random.btf"
assert_refused "not a BTF file" doctor --btf "$WORK/random.btf"
assert_refused "not a BTF file" watch --btf /dev/zero
assert_refused "--threshold: must be a number from 1 to 100, not 'nan'" watch --threshold nan
assert_refused "--comm: must be a command name of 1 to 15 bytes" drops --comm "$(head -c 10240 /dev/zero | tr '\0' a)"
assert_refused "--pid: not an option of watch: it records every process" watch --pid 1
assert_refused "--comm: not an option of watch: it records every process" watch --comm iptables

run_nfsleuth help --help
assert_eq 0 "$(cat "$WORK/help.rc")" "--help exit code"
assert_contains "$WORK/help.out" "doctor" "--help lists doctor"
assert_contains "$WORK/help.out" "modules" "--help lists modules"
assert_contains "$WORK/help.out" "drops" "--help lists drops"
assert_contains "$WORK/help.out" "Exit codes" "--help explains exit codes"

run_nfsleuth mhelp modules --help
assert_eq 0 "$(cat "$WORK/mhelp.rc")" "modules --help exit code"
assert_contains "$WORK/mhelp.out" "--backend" "modules --help documents --backend"
assert_contains "$WORK/mhelp.out" "Examples:" "modules --help has examples"

run_nfsleuth version --version
assert_eq 0 "$(cat "$WORK/version.rc")" "--version exit code"
grep -Eq '^nfsleuth [0-9]+\.[0-9]+\.[0-9]+$' "$WORK/version.out" || fail "--version prints 'nfsleuth X.Y.Z'"
pass "--version format"
