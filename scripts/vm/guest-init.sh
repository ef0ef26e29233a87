#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# /init of the kecho VM guest (busybox): mounts what the servers need, runs the plan that
# plan.env names, and powers off whatever happens. Console: ttyS0; result lines also go to ttyS1.
/bin/busybox --install -s /bin
export PATH=/bin:/kecho
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
# shellcheck disable=SC3045 # busybox ash has ulimit -n
ulimit -n 65536
cd /kecho || exit 1
sh /kecho/guest-plan.sh
echo "kecho-guest: plan finished, powering off"
sync
poweroff -f
