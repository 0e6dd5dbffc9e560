#!/usr/bin/env bash
# Stop the daemons slurm-up.sh started, by the PIDs it recorded, then move its config aside: with
# slurm.conf naming a controller that is not running, snakemake-executor-plugin-slurm (2.8) runs
# `scontrol show config` when it is imported, which blocks ~9 s, so every later snakemake start
# (local runs too) would be that much slower.
D=${SLURM_CI_DIR:-/tmp/mixopt-slurm}
for p in slurmd slurmctld munged; do
  f="$D/$p.pid"; [ -s "$f" ] || continue; pid=$(cat "$f")
  kill "$pid" 2>/dev/null && for k in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
done
for f in slurm.conf gres.conf; do [ -e /etc/slurm/$f ] && mv /etc/slurm/$f "$D/$f.stopped"; done
true
