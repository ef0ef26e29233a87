#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Fetches one guest kernel of the VM harness's list: its vmlinuz, its headers (with the common
# headers and kbuild packages they need) and its sch_netem module, all of ONE package version,
# extracted from Debian's packages with dpkg-deb, never installed. apt runs with the harness's own
# configuration (sources, package lists, cache under $KECHO_VM_CACHE/apt): bookworm-backports is added
# there only, never to the system's sources, and apt still checks every signature against the
# Debian archive keyring. Idempotent: a cached kernel is reused without touching apt.
#
#   scripts/vm/fetch-kernel.sh [--kernel ID]   ID: 6.1-cloud (default), 6.12-cloud, 6.1-rt
#                                              (cache: $KECHO_VM_CACHE, default /var/cache/kecho-vm)
set -euo pipefail
. "$(dirname "$0")/vm-lib.sh"

kernel=$KECHO_VM_DEFAULT_KERNEL
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) need_value "$@"; kernel=$2; shift 2 ;;
	-h | --help) print_usage; exit 0 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
read -r abi_prefix flavour suite _ < <(vm_kernel_spec "$kernel") ||
	bad_usage "unknown kernel '$kernel': one of $KECHO_VM_KERNELS"
dir=$(vm_kernel_dir "$kernel")
env_file=$dir/kernel.env

cached() {
	[ -f "$env_file" ] || return 1
	# shellcheck disable=SC1090
	. "$env_file"
	[ -f "${KECHO_VM_VMLINUZ:-}" ] && [ -f "${KECHO_VM_KDIR:-}/Makefile" ]
}
if cached; then
	say "cached: $KECHO_VM_KVER ($KECHO_VM_PKGVER), image and headers of one version"
	exit 0
fi

need_root --kernel "$kernel"
command -v apt-get >/dev/null || die "apt-get not found: the VM harness needs Debian's kernel packages"
mkdir -p "$KECHO_VM_CACHE"
# One fetch at a time (ctest may start two kernels' tests, both wanting the package lists).
exec 9>"$KECHO_VM_CACHE/.fetch.lock"
flock 9
cached && { say "cached by a concurrent fetch: $KECHO_VM_KVER ($KECHO_VM_PKGVER)"; exit 0; }

# The harness's own apt: every suite it takes kernels from, signed by the Debian archive keyring.
apt_dir=$KECHO_VM_CACHE/apt
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring is missing: apt-get install debian-archive-keyring"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d"
: >"$apt_dir/status"
{
	for s in bookworm bookworm-updates bookworm-backports; do
		echo "deb [signed-by=$keyring] http://deb.debian.org/debian $s main"
	done
	echo "deb [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main"
} >"$apt_dir/sources.list"
# apt downloads as _apt when it can: let it write our lists and archives.
id _apt >/dev/null 2>&1 && chown -R _apt "$apt_dir/lists" "$apt_dir/archives"
vm_apt_options "$apt_dir"
apt_opts=("${KECHO_APT_OPTS[@]}")
export DEBIAN_FRONTEND=noninteractive
my_apt_get() { flock "$KECHO_APT_LOCK" apt-get -qq "${apt_opts[@]}" "$@"; }
my_apt_cache() { apt-cache "${apt_opts[@]}" "$@" 2>/dev/null; }
candidate() { my_apt_cache policy "$1" | sed -n 's/^ *Candidate: *//p' | grep -v '(none)' || true; }

# Whether a package version comes from the kernel's suite ("bookworm" takes its -security and
# -updates too; bookworm-backports is its own).
from_suite() {
	local suites=" $suite/"
	[ "$suite" = bookworm ] && suites=" bookworm(-security|-updates)?/"
	my_apt_cache madison "$1" | awk -F'|' -v v="$2" '{ gsub(/ /, "", $2) } $2 == v { print $3 }' | grep -Eq "$suites"
}
# Newest ABI of the series whose image and headers packages have the same candidate version.
resolve() {
	local re abi img
	re="^linux-image-(${abi_prefix//./\\.}[0-9a-z.+~-]*)-$flavour\$"
	for abi in $(my_apt_cache pkgnames "linux-image-$abi_prefix" | sed -En "s/$re/\1/p" | sort -Vr); do
		img=$(candidate "linux-image-$abi-$flavour")
		if [ -n "$img" ] && [ "$img" = "$(candidate "linux-headers-$abi-$flavour")" ] &&
			from_suite "linux-image-$abi-$flavour" "$img"; then
			printf '%s %s\n' "$abi" "$img"
			return 0
		fi
	done
	return 1
}
if ! read -r abi ver < <(resolve); then
	say "updating the harness's own package lists ($apt_dir, suites bookworm, -updates, -security, -backports)"
	my_apt_get update || die "apt-get update (harness sources $apt_dir/sources.list) failed: is the Debian mirror reachable?"
	read -r abi ver < <(resolve) ||
		die "no $flavour kernel $abi_prefix* in $suite whose image and headers have the same version"
fi
kver=$abi-$flavour
say "$kernel: $kver, image and headers both at package version $ver ($suite)"

# The headers package, plus the packages it needs of the same source: common headers and kbuild.
headers_deps() {
	my_apt_cache show "linux-headers-$kver=$ver" | sed -n 's/^Depends: //p' | head -n1 | tr ',' '\n' |
		sed -En 's/^ *(linux-(headers|kbuild)-[^ ]+)( \(= ([^)]+)\))?.*/\1=\4/p' | sed 's/=$//'
}
mapfile -t pkgs < <(printf '%s\n' "linux-image-$kver=$ver" "linux-headers-$kver=$ver"; headers_deps)
tmp=$(mktemp -d "$KECHO_VM_CACHE/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
id _apt >/dev/null 2>&1 && chown _apt "$tmp"
say "downloading ${pkgs[*]} (extracted, not installed)"
(cd "$tmp" && my_apt_get download "${pkgs[@]}") || die "apt-get download ${pkgs[*]} failed: is the Debian mirror reachable?"
root=$tmp/root
for deb in "$tmp"/*.deb; do
	dpkg-deb -x "$deb" "$root" || die "dpkg-deb could not unpack $deb"
done
img_ver=$(dpkg-deb -f "$tmp"/linux-image-*.deb Version)
hdr_ver=$(dpkg-deb -f "$tmp/$(cd "$tmp" && ls linux-headers-"$abi"-"$flavour"_*.deb)" Version)
if [ "$img_ver" != "$ver" ] || [ "$hdr_ver" != "$ver" ]; then
	die "downloaded image $img_ver and headers $hdr_ver, wanted both at $ver"
fi
[ -f "$root/boot/vmlinuz-$kver" ] || die "linux-image-$kver has no /boot/vmlinuz-$kver"
[ -f "$root/usr/src/linux-headers-$kver/Makefile" ] || die "linux-headers-$kver has no Makefile"
# The flavour's Makefile includes the common headers by their installed path: point it at ours.
sed -i "s#^include /usr/src/#include $dir/root/usr/src/#" "$root/usr/src/linux-headers-$kver/Makefile"

# Keep the image, its config, the headers trees, kbuild and sch_netem; drop the other modules.
rm -rf "$dir.new"
mkdir -p "$dir.new"
mv "$root/boot/vmlinuz-$kver" "$dir.new/vmlinuz"
mv "$root/boot/config-$kver" "$dir.new/config"
netem=$(find "$root/lib/modules/$kver" -name 'sch_netem.ko*' | head -n1)
case $netem in
*.ko.xz) xz -dc "$netem" >"$dir.new/sch_netem.ko" ;;
*.ko.zst) zstd -qdc "$netem" >"$dir.new/sch_netem.ko" ;;
*.ko) cp "$netem" "$dir.new/sch_netem.ko" ;;
esac
rm -rf "${root:?}/lib/modules" "${root:?}/boot" "${root:?}/usr/share"
mv "$root" "$dir.new/root"
cat >"$dir.new/kernel.env" <<ENV
KECHO_VM_ID=$kernel
KECHO_VM_ABI=$abi
KECHO_VM_KVER=$kver
KECHO_VM_PKGVER=$ver
KECHO_VM_SUITE=$suite
KECHO_VM_VMLINUZ=$dir/vmlinuz
KECHO_VM_CONFIG=$dir/config
KECHO_VM_KDIR=$dir/root/usr/src/linux-headers-$kver
KECHO_VM_NETEM=$([ -f "$dir.new/sch_netem.ko" ] && echo "$dir/sch_netem.ko")
ENV
rm -rf "$dir"
mv "$dir.new" "$dir"
cached || die "the $kernel kernel cache $dir is incomplete after the fetch"
say "guest kernel ready: $dir/vmlinuz, headers $KECHO_VM_KDIR (both $ver)"
