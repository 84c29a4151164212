#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs one fuzz target for a bounded time from its seed corpus (never
# written to); new inputs and any crash go to WORK-DIR. A crash fails the
# test: reproduce it with `TARGET WORK-DIR/crash-...`, then make it a unit test.
set -euo pipefail
target=${1:?usage: $0 TARGET SEED-CORPUS WORK-DIR SECONDS}
seeds=${2:?}
work=${3:?}
seconds=${4:?}
mkdir -p "$work/corpus"
exec "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "$seeds"
