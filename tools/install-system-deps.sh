#!/usr/bin/env bash
# Install the Debian packages the test suite needs, if any is missing:
#   make, git                     the two commands and the tests' scratch copies
#   diffoscope-minimal            `reprotrain diff --explain`
#   munge slurmctld slurmd slurm-client slurmdbd mariadb-server
#                                 the SLURM test cluster (tools/slurm-cluster.sh)
# Needs root and apt-get; elsewhere it names what is missing and fails.
set -euo pipefail

declare -A package_of=(
    [make]=make [git]=git [diffoscope]=diffoscope-minimal
    [munged]=munge [slurmctld]=slurmctld [slurmd]=slurmd [sbatch]=slurm-client
    [slurmdbd]=slurmdbd [mariadbd]=mariadb-server
)
missing=()
for command in "${!package_of[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
((${#missing[@]})) || exit 0

if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "reprotrain: the tests need these Debian packages: ${missing[*]}" >&2
    echo "  fix: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "reprotrain: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
