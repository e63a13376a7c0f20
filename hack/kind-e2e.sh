#!/usr/bin/env bash
# End-to-end check of netdiag on a kind cluster (Kubernetes in Docker), for machines with Docker:
# creates a cluster with flannel or calico, builds the image and loads it into the nodes, installs
# the Helm chart, applies examples/networkdiagnoses (with the pods and the service they name), waits
# until every NetworkDiagnosis is Ready, and prints `kubectl get netdiag`.
#
#   hack/kind-e2e.sh [--cni flannel|calico] [--name CLUSTER] [--image IMAGE] [--timeout SECONDS]
#                    [--keep] [--skip-build]
#
#   --cni         the cluster's network plugin (default flannel)
#   --name        the kind cluster's name (default netdiag-e2e); an existing one is deleted first
#   --image       the image to build and load (default netdiag:e2e)
#   --timeout     how long to wait for the diagnoses to be Ready (default 300)
#   --keep        leave the cluster running afterwards (default: delete it)
#   --skip-build  load IMAGE as it is (built already, e.g. by hack/build-image.sh)
#
# Needs docker, kind, kubectl and helm on PATH (kubectl and helm are provisioned with
# hack/get-binaries.sh when missing and Go is installed), and network access to the CNI manifests.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.sh
source "$repo/hack/versions.sh"

# The network plugins' releases this script installs (override from the environment).
CALICO_VERSION=${CALICO_VERSION:-v3.29.3}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-}

cni=flannel
cluster=netdiag-e2e
image=netdiag:e2e
timeout=300
keep=false
build=true
namespace=netdiag-system

log() { echo "kind-e2e: $*"; }
die() {
  echo "kind-e2e: error: $*" >&2
  exit 1
}
usage() { sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
    --cni) cni=${2:?--cni needs flannel or calico}; shift 2 ;;
    --name) cluster=${2:?--name needs a cluster name}; shift 2 ;;
    --image) image=${2:?--image needs an image reference}; shift 2 ;;
    --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
    --keep) keep=true; shift ;;
    --skip-build) build=false; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
case $cni in flannel | calico) ;; *) die "--cni must be flannel or calico, not $cni" ;; esac
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds, not $timeout"

work=$(mktemp -d)
cleanup() {
  local status=$?
  if [[ $keep == false ]] && [[ -n ${cluster_created:-} ]]; then
    log "deleting cluster $cluster"
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# --- Tools
command -v docker >/dev/null || die "docker is not installed: this script runs Kubernetes in Docker containers (kind)"
docker info >/dev/null 2>&1 || die "docker is installed but its daemon does not answer (is it running, and may this user use it?)"
command -v kind >/dev/null || die "kind is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation; with Go: go install sigs.k8s.io/kind@latest)"
for tool in kubectl helm; do
  if ! command -v "$tool" >/dev/null; then
    command -v go >/dev/null || die "$tool is not installed, and without Go hack/get-binaries.sh cannot build it"
    log "$tool not on PATH: provisioning it with hack/get-binaries.sh"
    "$repo/hack/get-binaries.sh" --bin-dir "$work/bin" "$tool" >&2
    export PATH=$work/bin:$PATH
  fi
done

# --- Cluster
case $cni in
  flannel) pod_subnet=10.244.0.0/16 ;;
  calico) pod_subnet=192.168.0.0/16 ;;
esac
cat >"$work/kind.yaml" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
  podSubnet: $pod_subnet
nodes:
  - role: control-plane
  - role: worker
  - role: worker
YAML
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "deleting the existing cluster $cluster"
  kind delete cluster --name "$cluster"
fi
log "creating cluster $cluster ($cni, pod subnet $pod_subnet)"
kind create cluster --name "$cluster" --config "$work/kind.yaml" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 0s
cluster_created=1
kubeconfig=$work/kubeconfig
kind get kubeconfig --name "$cluster" >"$kubeconfig"
export KUBECONFIG=$kubeconfig
mapfile -t nodes < <(kind get nodes --name "$cluster")

# --- Network plugin
case $cni in
  flannel)
    # flannel's CNI plugin delegates to the reference bridge plugin, which kind's nodes do not all carry.
    arch=$(docker exec "${nodes[0]}" uname -m)
    case $arch in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
    tarball=cni-plugins-linux-$arch-$CNI_PLUGINS_VERSION.tgz
    log "installing the CNI reference plugins $CNI_PLUGINS_VERSION on the nodes"
    curl --fail --silent --show-error --location -o "$work/$tarball" \
      "https://github.com/containernetworking/plugins/releases/download/$CNI_PLUGINS_VERSION/$tarball"
    for node in "${nodes[@]}"; do
      docker cp "$work/$tarball" "$node:/tmp/$tarball"
      docker exec "$node" tar -xzf "/tmp/$tarball" -C /opt/cni/bin ./bridge ./host-local ./loopback ./portmap
    done
    log "installing flannel $FLANNEL_VERSION"
    kubectl apply -f "https://github.com/flannel-io/flannel/releases/download/$FLANNEL_VERSION/kube-flannel.yml"
    ;;
  calico)
    log "installing calico $CALICO_VERSION (tigera operator)"
    base=https://raw.githubusercontent.com/projectcalico/calico/$CALICO_VERSION/manifests
    kubectl create -f "$base/tigera-operator.yaml"
    curl --fail --silent --show-error --location "$base/custom-resources.yaml" |
      sed "s|cidr: 192.168.0.0/16|cidr: $pod_subnet|" >"$work/calico.yaml"
    # The Installation's CRD must be served before the custom resources are created.
    kubectl wait --for=condition=Established --timeout=120s crd/installations.operator.tigera.io
    kubectl create -f "$work/calico.yaml"
    ;;
esac
log "waiting for the nodes to be Ready"
kubectl wait --for=condition=Ready nodes --all --timeout=300s

# --- Image
if [[ $build == true ]]; then
  "$repo/hack/build-image.sh" "$image"
fi
log "loading $image into the nodes"
kind load docker-image "$image" --name "$cluster"

# --- netdiag
repository=${image%:*}
tag=${image##*:}
[[ $repository != "$image" ]] || tag=latest
log "installing the chart (namespace $namespace)"
# The chart creates the operator's namespace with its Pod Security label; Helm keeps the release
# itself in an existing namespace.
helm install netdiag "$repo/charts/netdiag" --namespace default \
  --set createNamespace=true --set namespaceOverride="$namespace" \
  --set image.repository="$repository" --set image.tag="$tag" --set image.pullPolicy=Never \
  --set logLevel=debug --wait --timeout 5m

# --- What the examples name: pods (listening where the examples connect) and a service, in
# namespace shop, spread over the workers; the node example names the first worker.
workers=()
for node in "${nodes[@]}"; do [[ $node == *control-plane* ]] || workers+=("$node"); done
((${#workers[@]} >= 2)) || die "expected two workers, found: ${workers[*]}"
listener() { # NAME NODE PORT [LABEL]
  cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: shop
  labels: {app: ${4:-$1}}
spec:
  nodeName: $2
  containers:
    - name: listen
      image: $image
      imagePullPolicy: Never
      command: [node, -e, "require('node:net').createServer((s) => s.end()).listen($3)"]
      ports: [{containerPort: $3}]
YAML
}
{
  echo 'apiVersion: v1'
  echo 'kind: Namespace'
  echo 'metadata: {name: shop}'
  listener api-0 "${workers[0]}" 8000
  listener db-0 "${workers[1]}" 5432
  listener checkout-7d4b9c6f5-x2k8p "${workers[0]}" 8000
  listener orders-0 "${workers[1]}" 8080 orders
  cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec:
  selector: {app: orders}
  ports: [{port: 8080, targetPort: 8080, protocol: TCP}]
YAML
} >"$work/workloads.yaml"
kubectl apply -f "$work/workloads.yaml"
kubectl -n shop wait --for=condition=Ready pods --all --timeout=180s

for example in "$repo"/examples/networkdiagnoses/*.yaml; do
  sed "s/name: node1}/name: ${workers[0]}}/" "$example" >"$work/${example##*/}"
  kubectl apply -f "$work/${example##*/}"
done

log "waiting up to ${timeout}s for every NetworkDiagnosis to be Ready"
if ! kubectl wait --for=condition=Ready networkdiagnoses --all --all-namespaces --timeout="${timeout}s"; then
  echo "kind-e2e: not every NetworkDiagnosis became Ready; what a person needs to see:" >&2
  kubectl get networkdiagnoses --all-namespaces -o yaml >&2 || true
  kubectl -n "$namespace" get pods -o wide >&2 || true
  kubectl get events --all-namespaces --sort-by=.lastTimestamp | tail -n 50 >&2 || true
  kubectl -n "$namespace" logs deployment/netdiag --all-containers --tail=200 >&2 || true
  exit 1
fi
kubectl get netdiag --all-namespaces
log "passed ($cni)"
