#!/bin/sh
# kind-rootfs.sh DIR: a Debian bookworm root filesystem for an offline kind
# node, from Debian's archive only. The packages are those kind's base image
# installs (systemd, the kubelet's userland, containerd's) with containerd,
# runc and the CNI plugins taken from Debian instead of kind's own builds.
# Storage test packages (nfs-common, open-iscsi) are left out: no suite uses them.
set -eu
dir=${1:?usage: kind-rootfs.sh DIR}
suite=${KIND_ROOTFS_SUITE:-bookworm}
pkgs=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod
pkgs=$pkgs,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,socat
pkgs=$pkgs,containerd,runc,containernetworking-plugins
tmp=$dir.tmp
rm -rf "$tmp"
mmdebstrap --variant=minbase --include="$pkgs" --skip=check/empty \
	--customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
	"$suite" "$tmp"
rm -rf "$dir"
mv "$tmp" "$dir"
