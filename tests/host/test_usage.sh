#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Bad usage exits 2 with one clear message on stderr and nothing on stdout;
# help and version exit 0 and go to stdout.
source "$(dirname "$0")/../lib.sh"

check_usage_error() { # expected-message args...
  local expect=$1; shift
  run_nfsleuth bad "$@"
  assert_eq 2 "$(cat "$WORK/bad.rc")" "exit code of: nfsleuth $*"
  assert_eq 0 "$(wc -c <"$WORK/bad.out")" "stdout bytes of: nfsleuth $*"
  assert_contains "$WORK/bad.err" "$expect" "stderr of: nfsleuth $*"
}

check_usage_error "A subcommand is required"
check_usage_error "not expected: --bogus" modules --bogus
check_usage_error "unknown command 'frobnicate' (commands: doctor, modules, drops, watch, why)" frobnicate
check_usage_error "--duration: must be a number of seconds from 0.001" modules --duration 0
check_usage_error "--duration: must be a number of seconds from 0.001" modules --duration -3
check_usage_error "--duration: must be a number of seconds from 0.001" modules --duration soon
check_usage_error "--backend" modules --backend ebpf
check_usage_error "--pid" modules --pid abc
check_usage_error "--interval: must be a number of seconds" drops --interval 0
check_usage_error "--max-flows" drops --max-flows 10
check_usage_error "File does not exist: /nonexistent/btf" doctor --btf /nonexistent/btf
echo "not BTF" >"$WORK/random.btf"
check_usage_error "not a BTF file" doctor --btf "$WORK/random.btf"
check_usage_error "not a BTF file" watch --btf /dev/zero
check_usage_error "--threshold: must be a number from 1 to 100, not 'nan'" watch --threshold nan
check_usage_error "--comm: must be a command name of 1 to 15 bytes" drops --comm "$(head -c 10240 /dev/zero | tr '\0' a)"
check_usage_error "--pid: not an option of watch: it records every process" watch --pid 1
check_usage_error "--comm: not an option of watch: it records every process" watch --comm iptables

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
