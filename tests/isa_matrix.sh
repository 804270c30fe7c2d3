#!/usr/bin/env bash
# Runs tests once per XLA:CPU instruction set: by default the learning tests (`pytest -m learning`) under
# `--xla_cpu_max_isa=AVX2`, `AVX512` and the machine's own (no cap), and prints each run's measured numbers
# (the lines the tests print) and its result.
#
# XLA's CPU code generation rounds differently per instruction set (vector width, FMA contraction, reduction
# order), and a few hundred GAN steps turn that into different outcomes; a learning test must hold under each.
# A cap above what the processor has changes nothing (XLA:CPU never uses instructions the CPU lacks), so on a
# machine without AVX-512 the AVX512 run equals the native one; the script says so. Add lower sets (AVX,
# SSE4_2) to vary the rounding further on such a machine.
#
#   bash tests/isa_matrix.sh                                # the learning tests, ISAs "AVX2 AVX512 native"
#   ISAS="SSE4_2 AVX AVX2 native" bash tests/isa_matrix.sh  # other instruction sets
#   bash tests/isa_matrix.sh tests/families/ipmnet/test_learning.py   # other pytest arguments
#
# Environment: ISAS (the list; "native" = no cap), WORKERS (pytest-xdist workers, default 2), LOG_DIR (where
# each run's full output goes, default isa-matrix-logs/). Exit status: 0 when every run passed.
set -uo pipefail
cd "$(dirname "$0")/.."
isas=${ISAS:-"AVX2 AVX512 native"}
workers=${WORKERS:-2}
log_dir=${LOG_DIR:-isa-matrix-logs}
mkdir -p "$log_dir"
if [[ $# -eq 0 ]]; then set -- -m learning tests; fi

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
own=SSE4_2
for f in avx avx2 avx512f amx_tile; do
  if [[ " $flags " == *" $f "* ]]; then
    case $f in avx) own=AVX ;; avx2) own=AVX2 ;; avx512f) own=AVX512 ;; amx_tile) own=AMX ;; esac
  fi
done
echo "isa-matrix: this processor's widest vector instruction set: $own ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs))"

failed=()
summary=()
for isa in $isas; do
  if [[ $isa == native ]]; then extra=""; else extra="--xla_cpu_max_isa=$isa"; fi
  if [[ $isa == AVX512* || $isa == AMX* ]] && [[ $own != AVX512 && $own != AMX ]]; then
    echo "isa-matrix: note: $isa is above this processor's $own, so that run compiles as the native one"
  fi
  log="$log_dir/$isa.log"
  echo "isa-matrix: $isa: python -m pytest -q -n $workers -rfEP $* (XLA_FLAGS+='$extra') > $log"
  start=$SECONDS
  XLA_FLAGS="${XLA_FLAGS:-} $extra" python -m pytest -q -p no:cacheprovider -n "$workers" -rfEP "$@" > "$log" 2>&1
  rc=$?
  grep -E "^(learning|lips|eye shadow|outside)|^FAILED|^E  +assert|passed|failed" "$log" | sed "s/^/  [$isa] /"
  summary+=("$isa: exit $rc, $((SECONDS - start)) s")
  [[ $rc -eq 0 ]] || failed+=("$isa")
done
echo "isa-matrix: ${summary[*]}"
if [[ ${#failed[@]} -gt 0 ]]; then echo "isa-matrix: FAILED under ${failed[*]}"; exit 1; fi
echo "isa-matrix: every run passed"
