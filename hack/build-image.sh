#!/usr/bin/env bash
# Builds netdiag's image (Dockerfile: the operator, the collector agent, the CLI and the CNI tap).
#
#   hack/build-image.sh [IMAGE]      default IMAGE: netdiag:dev
#
# Uses docker, or the tool named by CONTAINER_TOOL (e.g. podman). Extra `build` flags can be given in
# BUILD_FLAGS (e.g. BUILD_FLAGS="--platform linux/arm64").
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${1:-netdiag:dev}
tool=${CONTAINER_TOOL:-docker}

die() {
  echo "build-image: error: $*" >&2
  exit 1
}

case $image in -h | --help)
  sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 0
  ;;
esac
command -v "$tool" >/dev/null || die "$tool is not installed (set CONTAINER_TOOL to another image builder, e.g. podman)"
"$tool" info >/dev/null 2>&1 || die "$tool cannot reach its daemon (is it running, and may this user use it?)"

read -r -a extra <<<"${BUILD_FLAGS:-}"
echo "build-image: building $image with $tool"
"$tool" build "${extra[@]}" -t "$image" -f "$repo/Dockerfile" "$repo"
echo "build-image: built $image"
