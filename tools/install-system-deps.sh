#!/usr/bin/env bash
# Install the Debian packages the test suite needs, if any is missing:
#   make, git                     the two commands and the tests' scratch copies
#   diffoscope-minimal            `reprotrain diff --explain`
#   munge slurmctld slurmd slurm-client slurmdbd mariadb-server
#                                 the SLURM test cluster (tools/slurm-cluster.sh)
#   datefudge, locales (fr_FR.UTF-8)  the clock and locale variations of `reprotrain hunt`
#   chromium                      renders the HTML report in the report test
# Needs root and apt-get; elsewhere it names what is missing and fails.
set -euo pipefail

declare -A package_of=(
    [make]=make [git]=git [diffoscope]=diffoscope-minimal
    [munged]=munge [slurmctld]=slurmctld [slurmd]=slurmd [sbatch]=slurm-client
    [slurmdbd]=slurmdbd [mariadbd]=mariadb-server
    [datefudge]=datefudge [locale-gen]=locales [chromium]=chromium
)
# The hunt's locale variation uses fr_FR.UTF-8 (a decimal comma); it has to be generated,
# not just installed.
hunt_locale=fr_FR.UTF-8
missing=()
for command in "${!package_of[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
locale -a 2>/dev/null | grep -qix 'fr_FR.utf8' || missing+=("locale:$hunt_locale")
((${#missing[@]})) || exit 0
packages=()
for item in "${missing[@]}"; do
    [[ "$item" == locale:* ]] && item=locales
    packages+=("$item")
done

if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "reprotrain: the tests need these Debian packages: ${packages[*]}" >&2
    echo "  fix: sudo apt-get install --no-install-recommends ${packages[*]}" \
        "and generate the $hunt_locale locale (Debian: /etc/locale.gen, then locale-gen)" >&2
    exit 1
fi
echo "reprotrain: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
if ! locale -a | grep -qix 'fr_FR.utf8'; then
    sed -i "s/^# *\($hunt_locale\)/\1/" /etc/locale.gen
    grep -q "^$hunt_locale" /etc/locale.gen || echo "$hunt_locale UTF-8" >>/etc/locale.gen
    locale-gen >/dev/null
fi
