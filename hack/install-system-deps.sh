#!/usr/bin/env bash
# Installs the Linux networking tools netdiag reads and its root tests drive: iproute2, iptables
# (nft and legacy), nftables, ipset, ipvsadm, conntrack, ping, nsenter (util-linux: the collector
# enters namespaces with it), openssl (the test control plane's certificates). Debian/Ubuntu;
# needs root.
set -euo pipefail

packages=(iproute2 iptables nftables ipset ipvsadm conntrack iputils-ping kmod procps util-linux openssl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present (${packages[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system packages missing: ${missing[*]}; run this script as root (or install them yourself)" >&2
  exit 1
fi
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: installed"
