#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# .ci/run must run exactly the README's test command: CI proves what users run.
source "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
# The test command is the one that runs everything but the benchmarks.
readme_cmd=$(grep -E '^    \./scripts/install-deps\.sh .*ctest .*-LE '"'"'bench[|]vm-matrix[|]soak'"'"'$' "$root/README.md" | sed 's/^    //')
ci_cmd=$(grep -E '^\./scripts/install-deps\.sh ' "$root/.ci/run")
[[ -n "$readme_cmd" ]] || fail "README has no test command"
assert_eq "$readme_cmd" "$ci_cmd" ".ci/run runs the README's test command"
