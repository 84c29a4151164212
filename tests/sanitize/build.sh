#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds nfsleuth, its unit tests, the traffic generator and the fuzz
# targets with clang, AddressSanitizer, UndefinedBehaviorSanitizer and
# libFuzzer coverage, in a build directory of their own.
set -euo pipefail
source_dir=${1:?usage: $0 SOURCE-DIR BUILD-DIR}
build_dir=${2:?usage: $0 SOURCE-DIR BUILD-DIR}
# -O1: fast enough to run the host tests, clear enough for reports; line
# tables are all the reports' stacks need.
cmake -S "$source_dir" -B "$build_dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNFSLEUTH_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target nfsleuth nfsl-traffic unit_tests fuzzers
