#!/usr/bin/env bash
# Fetches the guest kernel for the kecho.ko VM harness: Debian 12's 6.1 cloud kernel image
# (vmlinuz taken out of the package with dpkg-deb, not installed) and the headers package of the
# SAME version (installed with apt, to build the module against). Idempotent: a cached, matching
# pair is reused without touching apt.
#
#   scripts/vm/fetch-kernel.sh            (cache: $KECHO_VM_CACHE, default /var/cache/kecho-vm)
set -euo pipefail
. "$(dirname "$0")/vm-lib.sh"

# Candidate package version of one package, empty when apt has none.
candidate() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)' || true
}

# ABI (e.g. 6.1.0-56) the metapackage currently points at.
meta_abi() {
	apt-cache depends "$1" 2>/dev/null |
		sed -n "s/^ *Depends: $2-\([0-9.]*-[0-9]*\)-$KECHO_VM_FLAVOUR\$/\1/p" | head -n1
}

# An image/headers pair is usable when both packages have the same candidate version.
pair_version() {
	local img hdr
	img=$(candidate "linux-image-$1-$KECHO_VM_FLAVOUR")
	hdr=$(candidate "linux-headers-$1-$KECHO_VM_FLAVOUR")
	[ -n "$img" ] && [ "$img" = "$hdr" ] && printf '%s\n' "$img"
}

resolve() {
	local img_abi hdr_abi ver abi
	img_abi=$(meta_abi "linux-image-$KECHO_VM_FLAVOUR" linux-image)
	hdr_abi=$(meta_abi "linux-headers-$KECHO_VM_FLAVOUR" linux-headers)
	if [ -n "$img_abi" ] && [ "$img_abi" = "$hdr_abi" ] && ver=$(pair_version "$img_abi"); then
		say "kernel image and headers agree: $img_abi-$KECHO_VM_FLAVOUR, package version $ver"
		printf '%s %s\n' "$img_abi" "$ver"
		return 0
	fi
	say "kernel image ($img_abi, $(candidate "linux-image-$img_abi-$KECHO_VM_FLAVOUR")) and headers" \
		"($hdr_abi, $(candidate "linux-headers-$hdr_abi-$KECHO_VM_FLAVOUR")) differ: looking for a version both have"
	# Newest ABI first; apt-cache pkgnames reads only the local package lists.
	for abi in $(apt-cache pkgnames "linux-image-6.1.0-" |
		sed -n "s/^linux-image-\([0-9.]*-[0-9]*\)-$KECHO_VM_FLAVOUR\$/\1/p" | sort -t- -k2,2nr); do
		if ver=$(pair_version "$abi"); then
			say "using $abi-$KECHO_VM_FLAVOUR (image and headers both at $ver)"
			printf '%s %s\n' "$abi" "$ver"
			return 0
		fi
	done
	return 1
}

# Reuse the cache when it is complete and still matches what apt offers (offline re-runs work too).
if [ -f "$KECHO_VM_ENV" ]; then
	# shellcheck disable=SC1090
	. "$KECHO_VM_ENV"
	if [ -f "${KECHO_VM_VMLINUZ:-}" ] && [ -f "${KECHO_VM_KDIR:-}/Makefile" ]; then
		say "cached: $KECHO_VM_ABI-$KECHO_VM_FLAVOUR ($KECHO_VM_PKGVER), image and headers match"
		exit 0
	fi
fi

need_root "$@"
command -v apt-get >/dev/null || die "apt-get not found: the VM harness needs Debian's kernel packages"
export DEBIAN_FRONTEND=noninteractive
if [ -z "$(candidate "linux-image-$KECHO_VM_FLAVOUR")" ]; then
	apt-get update -qq || die "apt-get update failed: is the Debian mirror reachable?"
fi
read -r abi ver < <(resolve) ||
	die "no $KECHO_VM_FLAVOUR kernel whose image and headers have the same version: run apt-get update"
kver=$abi-$KECHO_VM_FLAVOUR
dir=$KECHO_VM_CACHE/$kver
mkdir -p "$dir"

if [ ! -f "$dir/vmlinuz" ]; then
	say "downloading linux-image-$kver $ver (extracted, not installed)"
	tmp=$(mktemp -d "$KECHO_VM_CACHE/.fetch.XXXXXX")
	# apt-get download drops privileges to _apt when it can write the directory.
	id _apt >/dev/null 2>&1 && chown _apt "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -qq "linux-image-$kver=$ver") ||
		die "apt-get download linux-image-$kver=$ver failed: is the Debian mirror reachable?"
	dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/root" || die "dpkg-deb could not unpack linux-image-$kver"
	cp "$tmp/root/boot/vmlinuz-$kver" "$dir/vmlinuz.part" || die "the package has no /boot/vmlinuz-$kver"
	mv "$dir/vmlinuz.part" "$dir/vmlinuz"
fi

kdir=/usr/src/linux-headers-$kver
installed=$(dpkg-query -W -f='${Status} ${Version}' "linux-headers-$kver" 2>/dev/null || true)
if [ "$installed" != "install ok installed $ver" ] || [ ! -f "$kdir/Makefile" ]; then
	say "installing linux-headers-$kver $ver"
	apt-get install -y -qq --no-install-recommends "linux-headers-$kver=$ver" >/dev/null ||
		die "apt-get install linux-headers-$kver=$ver failed"
fi
[ -f "$kdir/Makefile" ] || die "linux-headers-$kver is installed but $kdir/Makefile is missing"

cat >"$KECHO_VM_ENV.part" <<ENV
KECHO_VM_ABI=$abi
KECHO_VM_KVER=$kver
KECHO_VM_PKGVER=$ver
KECHO_VM_VMLINUZ=$dir/vmlinuz
KECHO_VM_KDIR=$kdir
ENV
mv "$KECHO_VM_ENV.part" "$KECHO_VM_ENV"
say "guest kernel ready: $dir/vmlinuz, headers $kdir (both $ver)"
