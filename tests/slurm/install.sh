#!/usr/bin/env bash
# Install the SLURM daemons and munge from the distribution's packages (Debian/Ubuntu, as root),
# for the live-SLURM test (tests/test_slurm.py). .ci/run calls it; it never fails the caller:
# when it cannot install, it says why on stdout and in $SLURM_CI_DIR/install.log, which the test
# quotes when it skips. The README's set-up does not need it: a real cluster has its own SLURM.
D=${SLURM_CI_DIR:-/tmp/mixopt-slurm}
PKGS="slurmctld slurmd slurm-client munge"
mkdir -p "$D"
say() { echo "slurm install: $*" | tee "$D/install.log"; }
if dpkg -s $PKGS >/dev/null 2>&1; then say "already installed (slurm $(dpkg-query -W -f '${Version}' slurmctld))"; exit 0; fi
[ "$(id -u)" = 0 ] || { say "not root, cannot apt-get install $PKGS"; exit 0; }
command -v apt-get >/dev/null || { say "no apt-get on this machine"; exit 0; }
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $PKGS >/dev/null; } 2>"$D/apt.err"; then
  say "apt-get install $PKGS failed: $(tail -3 "$D/apt.err" | tr '\n' ' ')"; exit 0
fi
say "installed $PKGS in $(( $(date +%s) - start )) s (slurm $(dpkg-query -W -f '${Version}' slurmctld))"
