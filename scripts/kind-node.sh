#!/bin/sh
# kind-node.sh ROOTFS KUBEDIR CRICTL: turn a root filesystem made by
# kind-rootfs.sh into what kind expects of a node: kind's base files (from
# kind's Go module), the node's systemd set-up as kind's base image does it,
# crictl and the Kubernetes binaries. Touches nothing outside ROOTFS.
set -eu
r=${1:?usage: kind-node.sh ROOTFS KUBEDIR CRICTL}
kube=${2:?}
crictl=${3:?}
kindmod=${KIND_MODULE_DIR:-$(go env GOMODCACHE)/sigs.k8s.io/kind@${KIND_VERSION:-v0.33.0}}
files=$kindmod/images/base/files

mkdir -p "$r/kind/bin" "$r/etc/systemd/system/kubelet.service.d" "$r/etc/sysctl.d" \
	"$r/etc/containerd" "$r/etc/default" "$r/etc/kubernetes/manifests" "$r/opt/cni/bin" \
	"$r/etc/cni/net.d" "$r/LICENSES"
cp -R "$files/kind/." "$r/kind/"
install -m 0755 "$files"/usr/local/bin/* "$r/usr/local/bin/"
install -m 0644 "$files"/etc/systemd/system/*.service "$files"/etc/systemd/system/*.slice "$r/etc/systemd/system/"
install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
install -m 0644 "$files"/etc/sysctl.d/* "$r/etc/sysctl.d/"
install -m 0644 "$files/etc/crictl.yaml" "$r/etc/crictl.yaml"
install -m 0644 "$files/etc/default/kubelet" "$r/etc/default/kubelet"
chmod 0755 "$r/kind" "$r/kind/bin" "$r"/kind/bin/* 2>/dev/null || true

# kind's config is containerd's v2 format, which Debian's containerd 1.6
# reads. This VM is root without CAP_SYS_RESOURCE: no negative
# oom_score_adj (shared/notes/local-cluster.md), so the CRI plugin must not
# try to set one.
sed 's/^\( *restrict_oom_score_adj = \)false$/\1true/' \
	"$files/etc/containerd/config.toml" > "$r/etc/containerd/config.toml"
[ "$(grep -c '^ *restrict_oom_score_adj = true$' "$r/etc/containerd/config.toml")" = 1 ] || {
	echo "kind-node.sh: kind's containerd config has no single 'restrict_oom_score_adj = false' to turn on" >&2
	exit 1
}

# The base OCI spec kind's containerd config names, made as kind's base
# Dockerfile makes it: containerd's default spec with kind's product_uuid
# hook and no rlimits.
chroot "$r" sh -c "ctr oci spec \
	| jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}' \
	| jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json"

# kind's units and scripts expect kind's own builds at these paths.
ln -sf /usr/bin/containerd "$r/usr/local/bin/containerd"
ln -sf /usr/bin/ctr "$r/usr/local/bin/ctr"
ln -sf /usr/bin/containerd-shim-runc-v2 "$r/usr/local/bin/containerd-shim-runc-v2"
ln -sf /usr/sbin/runc "$r/usr/local/sbin/runc"
for p in host-local loopback ptp portmap bridge; do
	ln -sf "/usr/lib/cni/$p" "$r/opt/cni/bin/$p"
done

install -m 0755 "$crictl" "$r/usr/local/bin/crictl"
for b in kubeadm kubelet kubectl; do
	install -m 0755 "$kube/$b" "$r/usr/bin/$b"
done

# The systemd set-up kind's base Dockerfile does after installing packages.
rm -f "$r"/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service \
	"$r"/lib/systemd/system/multi-user.target.wants/* \
	"$r"/etc/systemd/system/*.wants/* \
	"$r"/lib/systemd/system/local-fs.target.wants/* \
	"$r"/lib/systemd/system/sockets.target.wants/*udev* \
	"$r"/lib/systemd/system/sockets.target.wants/*initctl* \
	"$r"/lib/systemd/system/basic.target.wants/*
grep -q '^ReadKMsg=no' "$r/etc/systemd/journald.conf" || echo "ReadKMsg=no" >> "$r/etc/systemd/journald.conf"
ln -sf /usr/lib/systemd/systemd "$r/sbin/init"
systemctl --root="$r" enable kubelet.service containerd.service undo-mount-hacks.service
systemctl --root="$r" mask systemd-binfmt.service
