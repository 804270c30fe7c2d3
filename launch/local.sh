#!/usr/bin/env bash
# N facejax processes on this machine, as one multi-process JAX run (what a multi-host pod does, on
# one box): process 0 coordinates on localhost, every process runs the same command.
#
#   launch/local.sh N facejax train --config=configs/stargan_v2.py:synthetic --workdir=runs/x
#
# Environment:
#   DEVICES_PER_PROCESS  CPU only: virtual devices per process (default 1; sets XLA_FLAGS)
#   GPUS_PER_PROCESS     GPUs only: give process i the GPUs i*G .. i*G+G-1 (CUDA_VISIBLE_DEVICES)
#   PORT                 coordinator port (default: a free one)
#   LOG_DIR              per-process logs (default: <workdir>/logs, else ./facejax-logs); process 0
#                        also prints to this terminal
# SIGTERM/SIGINT to this script goes to every process: each saves a checkpoint at the next step
# boundary and exits 0; running the same command again resumes. Exit status: the first non-zero.
set -euo pipefail

if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+$ || "$1" -lt 1 ]]; then
  echo "usage: launch/local.sh N COMMAND [ARGS...]   (N >= 1 processes)" >&2
  exit 2
fi
n=$1
shift

port=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
workdir=""
for a in "$@"; do
  case $a in --workdir=*) workdir=${a#--workdir=} ;; esac
done
log_dir=${LOG_DIR:-${workdir:+$workdir/logs}}
log_dir=${log_dir:-facejax-logs}
mkdir -p "$log_dir"

pids=()
forward() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap forward TERM INT

for ((i = 0; i < n; i++)); do
  env_vars=(FACEJAX_COORDINATOR="127.0.0.1:$port" FACEJAX_NUM_PROCESSES="$n" FACEJAX_PROCESS_ID="$i")
  if [[ -n "${DEVICES_PER_PROCESS:-}" ]]; then
    env_vars+=(XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=$DEVICES_PER_PROCESS")
  fi
  if [[ -n "${GPUS_PER_PROCESS:-}" ]]; then
    first=$((i * GPUS_PER_PROCESS))
    env_vars+=(CUDA_VISIBLE_DEVICES="$(seq -s, "$first" $((first + GPUS_PER_PROCESS - 1)))")
  fi
  if [[ $i -eq 0 ]]; then
    env "${env_vars[@]}" "$@" > >(tee "$log_dir/process_0.log") 2>&1 &
  else
    env "${env_vars[@]}" "$@" > "$log_dir/process_$i.log" 2>&1 &
  fi
  pids+=($!)
done

status=0
for p in "${pids[@]}"; do
  while true; do
    set +e
    wait "$p"
    rc=$?
    set -e
    # wait returns >128 when a trapped signal interrupts it; the child is still running then.
    if kill -0 "$p" 2>/dev/null; then continue; fi
    break
  done
  if [[ $rc -ne 0 && $status -eq 0 ]]; then status=$rc; fi
done
if [[ $status -ne 0 ]]; then
  echo "launch/local.sh: a process exited with status $status; logs in $log_dir" >&2
fi
exit $status
