#!/usr/bin/env bash
# `npm start`: brings up the lab (a local cluster of network namespaces: real kube-apiserver,
# kube-controller-manager, flannel and kube-proxy) with the netdiag operator running against it,
# applies the example workload and the example NetworkDiagnosis resources, waits for the operator to
# finish them and prints `kubectl get netdiag`. Leaves the lab running; `npx netdiag lab down`
# removes it. Needs Linux and root, and `npm ci` done (the binaries come from hack/get-binaries.sh).
#
#   hack/lab-demo.sh [--network MODE] [--nodes N]     (default flannel-vxlan, 2 nodes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

network=flannel-vxlan
nodes=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --network) network=${2:?--network needs a mode}; shift 2 ;;
    --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
    -h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "lab-demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "lab-demo: the lab needs root (network namespaces, a bridge, iptables): run it with sudo" >&2
  exit 1
fi

[[ -f dist/src/main.js && -f dist/src/cli/main.js ]] || npm run build
netdiag() { node dist/src/cli/main.js "$@"; }
kubectl() { .netdiag/lab/bin/kubectl --kubeconfig .netdiag/lab/kubeconfig "$@"; }

echo "lab-demo: bringing up a $nodes-node $network lab with the operator"
netdiag lab up --network "$network" --nodes "$nodes"

echo "lab-demo: the example workload (examples/lab/workload.yaml)"
kubectl apply -f examples/lab/workload.yaml
kubectl wait --for=condition=Ready pod --all -n shop --timeout=120s

echo "lab-demo: the example NetworkDiagnosis resources (examples/networkdiagnoses)"
kubectl apply -f examples/networkdiagnoses/
kubectl wait --for=condition=Ready networkdiagnoses --all -A --timeout=180s
kubectl get netdiag -A
cat <<'TEXT'

The lab keeps running. Try:
  .netdiag/lab/bin/kubectl --kubeconfig .netdiag/lab/kubeconfig describe netdiag -n shop checkout-to-orders
  .netdiag/lab/bin/kubectl --kubeconfig .netdiag/lab/kubeconfig get netdiag -n shop api-to-db -o yaml
Break something and ask again (the namespaces are ndlab-node1, ndlab-node2):
  ip netns exec ndlab-node2 ip link set dev flannel.1 down
  .netdiag/lab/bin/kubectl --kubeconfig .netdiag/lab/kubeconfig annotate netdiag -n shop api-to-db netdiag.io/requested-at="$(date +%s)" --overwrite
Remove the lab:
  npx netdiag lab down
TEXT
