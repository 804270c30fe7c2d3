#!/usr/bin/env bash
# facejax on every worker of a Cloud TPU VM slice (e.g. v4-32, v5e-64): the same command runs on all
# workers; JAX reads the TPU metadata to form one multi-host run (facejax/train/distributed.py).
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_vm.sh setup          # once: clone + install
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_vm.sh run facejax train \
#       --config=configs/stargan_v2.py:celeba_hq --config.batch_size=128 --workdir=gs://bucket/runs/x
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_vm.sh stop            # SIGTERM: save and exit 0
#
# The workdir must be shared by the workers (a gs:// bucket: Orbax and TensorBoard write there).
# A preempted spot/queued-resource TPU sends SIGTERM: facejax saves at the next step boundary; run the
# same `run` command on the new slice to resume.
#
# Environment: TPU_NAME, ZONE (required), PROJECT (optional), REPO (default: the facejax git remote
# of this checkout), DIR (checkout folder on the workers, default facejax).
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME to the name of the TPU VM}"
: "${ZONE:?set ZONE to the zone of the TPU VM}"
dir=${DIR:-facejax}
project_args=()
if [[ -n "${PROJECT:-}" ]]; then project_args=(--project="$PROJECT"); fi

on_all_workers() {
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" "${project_args[@]}" --worker=all --command="$1"
}

quote() { printf '%q ' "$@"; }

case "${1:-}" in
  setup)
    repo=${REPO:-$(git config --get remote.origin.url)}
    on_all_workers "set -e; [ -d $dir ] || git clone $repo $dir; cd $dir && git pull --ff-only && \
      python3 -m venv .venv && . .venv/bin/activate && pip install -e . 'jax[tpu]==0.10.2'"
    ;;
  run)
    shift
    [[ $# -ge 1 ]] || { echo "usage: launch/tpu_vm.sh run facejax train --config=... --workdir=gs://..." >&2; exit 2; }
    on_all_workers "cd $dir && . .venv/bin/activate && TF_CPP_MIN_LOG_LEVEL=2 $(quote "$@")"
    ;;
  stop)
    on_all_workers "pkill -TERM -f 'facejax' || true"
    ;;
  *)
    echo "usage: launch/tpu_vm.sh setup | run COMMAND... | stop   (TPU_NAME, ZONE set)" >&2
    exit 2
    ;;
esac
