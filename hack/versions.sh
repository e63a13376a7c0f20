# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the scripts
# The pinned versions of the lab's binaries: the one place to change them. Sourced by the other
# hack/ scripts; each version was checked to exist on the Go module proxy with
# `go list -m -versions MODULE`.

# Kubernetes: kube-apiserver, kube-controller-manager, kube-proxy, kubectl. Built from module
# k8s.io/kubernetes; its staging modules (k8s.io/api, client-go, ...) are published as v0.<minor>.<patch>.
KUBERNETES_VERSION=v1.34.4
KUBERNETES_STAGING_VERSION=v0.34.4

# etcd and etcdctl (modules go.etcd.io/etcd/server/v3 and go.etcd.io/etcd/etcdctl/v3).
ETCD_VERSION=v3.6.16

# CNI reference plugins (module github.com/containernetworking/plugins): the newest v1.9 patch.
CNI_PLUGINS_VERSION=v1.9.1
# Built and linked by their CNI type name. bridge, host-local, loopback, portmap and ptp are what
# the lab needs; the others are cheap to build alongside and handy for scenarios.
CNI_PLUGINS=(bridge host-local loopback portmap ptp static tuning bandwidth firewall)

# flanneld (module github.com/flannel-io/flannel, root package): the newest v0.28 patch.
FLANNEL_VERSION=v0.28.10

# flannel's CNI plugin (the `flannel` CNI type). Upstream ships it as github.com/flannel-io/cni-plugin,
# but the Go module proxy we can reach refuses every version of that module (403 "not available"),
# so we build the same plugin from its previous home: plugins/meta/flannel of the CNI reference
# plugins, whose last release with it is v0.9.1 (flannel-io/cni-plugin was split off from that code).
# It speaks CNI spec versions up to 0.4.0: a conflist using it must say "cniVersion": "0.4.0"
# (or 0.3.1); the v1.9 bridge and host-local it delegates to accept those.
FLANNEL_CNI_MODULE=github.com/containernetworking/plugins
FLANNEL_CNI_VERSION=v0.9.1

# Helm (module helm.sh/helm/v3, package ./cmd/helm): lints and renders charts/netdiag in the chart
# tests (test/chart/). Not a lab binary: provisioned only when named (`hack/get-binaries.sh helm`).
HELM_VERSION=v3.22.0

# The components get-binaries.sh knows, in the order it provisions them when given none.
NETDIAG_COMPONENTS=(etcd etcdctl cni-plugins flannel-cni flanneld
  kube-apiserver kube-controller-manager kube-proxy kubectl)
# Components provisioned only when named on the command line.
NETDIAG_EXTRA_COMPONENTS=(helm)
