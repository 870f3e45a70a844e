#!/usr/bin/env bash
# Builds a small Linux guest for rvs-vmm from Debian's packages:
#   DIR/vmlinuz     Debian's cloud kernel (linux-image-*-cloud-amd64, via dpkg -x)
#   DIR/initrd.img  a busybox-static initramfs whose /init loads the virtio
#                   modules (virtio_ring virtio virtio_pci_legacy_dev
#                   virtio_pci_modern_dev virtio_pci failover net_failover
#                   virtio_net), configures eth0 from the kernel command line
#                   (ip=A.B.C.D/N), then:
#                     rvs.ping=A.B.C.D   pings it and prints PING OK / PING FAIL
#                     rvs.shell          runs a shell on the console
#                   and otherwise ends the VM (reboot -f: the i8042 reset,
#                   which rvs-vmm and QEMU -no-reboot take as the end).
# It prints progress lines "rvs-guest: ..." on the console (console=ttyS0).
#
# Usage: scripts/guest-image.sh --out DIR
# Needs: apt-get (downloads only; nothing is installed), dpkg-deb, gzip.
set -euo pipefail

out=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "guest-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "guest-image.sh: give --out DIR" >&2; exit 2; }
mkdir -p "$out"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$kpkg" ]; then
  apt-get update -q >/dev/null
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$kpkg" ] || { echo "guest-image.sh: no linux-image-cloud-amd64 in the package lists" >&2; exit 1; }
echo "==> downloading $kpkg and busybox-static"
(cd "$work" && apt-get download -q "$kpkg" busybox-static >/dev/null 2>&1) || {
  echo "guest-image.sh: apt-get download $kpkg busybox-static failed" >&2; exit 1; }
dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/b"
kver=$(ls "$work/k/lib/modules")

root="$work/root"
mkdir -p "$root"/{bin,proc,sys,dev,lib/modules,tmp}
cp "$work/b/bin/busybox" "$root/bin/busybox"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  f=$(find "$work/k/lib/modules/$kver" -name "$m.ko*" | head -1)
  [ -n "$f" ] || { echo "guest-image.sh: module $m not in $kpkg" >&2; exit 1; }
  case "$f" in
    *.ko.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
done
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "rvs-guest: init running (kernel $(uname -r))"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko 2>/dev/null || grep -q "^$m " /proc/modules || echo "rvs-guest: cannot load $m"
done
echo "rvs-guest: modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
arg() { for a in $(cat /proc/cmdline); do case "$a" in "$1"=*) echo "${a#*=}";; esac; done; }
flag() { for a in $(cat /proc/cmdline); do [ "$a" = "$1" ] && return 0; done; return 1; }
ip link set lo up
ipaddr=$(arg ip)
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 0.2; done
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  case "$ipaddr" in */*) ip addr add "$ipaddr" dev eth0 ;; esac
  echo "rvs-guest: eth0 $(cat /sys/class/net/eth0/address) ${ipaddr:-no address}"
else
  echo "rvs-guest: no eth0"
fi
target=$(arg rvs.ping)
if [ -n "$target" ]; then
  if ping -c 3 -W 2 "$target" >/dev/null 2>&1; then echo "PING OK $target"; else echo "PING FAIL $target"; fi
fi
if flag rvs.shell; then exec setsid cttyhack sh; fi
echo "rvs-guest: done, ending the VM"
reboot -f
INIT
chmod 755 "$root/init"
(cd "$root" && find . | "$work/b/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) > "$out/initrd.img"
cp "$work/k/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "$kver" > "$out/kernel-version"
echo "==> $out/vmlinuz ($kver) and $out/initrd.img ($(du -k "$out/initrd.img" | cut -f1) kB)"
