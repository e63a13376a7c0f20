#!/usr/bin/env bash
# Provisions the lab's binaries (Kubernetes control plane, kube-proxy, kubectl, etcd, flannel, CNI
# plugins) at the versions pinned in hack/versions.sh, cached outside the work tree by version.
#
#   hack/get-binaries.sh [--bin-dir DIR] [COMPONENT...]   provision (the lab's components when none given)
#   hack/get-binaries.sh --print-cache-dir                print the cache directory
#   hack/get-binaries.sh --list                           print the components and their versions
#
# For each component, in order: (1) the cache, (2) the project's official release download,
# (3) a build from the Go module proxy with the machine's Go. Every binary must pass its version
# check before it is installed into the cache (atomically: built in a temporary directory, then
# renamed). With --bin-dir, the component's binaries are symlinked into DIR (CNI plugins by their
# CNI type name, so DIR also serves as CNI_PATH).
set -euo pipefail

hack_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.sh
source "$hack_dir/versions.sh"

cache_dir=${NETDIAG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/netdiag}

log() { echo "get-binaries: $*"; }
die() {
  echo "get-binaries: error: $*" >&2
  exit 1
}

usage() {
  sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------------------------------------
# Components

component_version() {
  case $1 in
    kube-apiserver | kube-controller-manager | kube-proxy | kubectl) echo "$KUBERNETES_VERSION" ;;
    etcd | etcdctl) echo "$ETCD_VERSION" ;;
    cni-plugins) echo "$CNI_PLUGINS_VERSION" ;;
    flannel-cni) echo "$FLANNEL_CNI_VERSION" ;;
    flanneld) echo "$FLANNEL_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    *) return 1 ;;
  esac
}

# The file names a component installs (all in its cache directory).
component_files() {
  case $1 in
    cni-plugins) printf '%s\n' "${CNI_PLUGINS[@]}" ;;
    flannel-cni) echo flannel ;;
    *) echo "$1" ;;
  esac
}

# Runs one binary's version check; prints its first line of output; fails when the binary does
# not run or does not report the expected version.
check_binary() {
  local component=$1 file=$2 version=$3 out expect
  case $component in
    kube-apiserver | kube-controller-manager | kube-proxy)
      out=$("$file" --version 2>&1) || return 1
      expect="Kubernetes $version"
      ;;
    kubectl)
      out=$("$file" version --client 2>&1) || return 1
      expect="Client Version: $version"
      ;;
    etcd)
      out=$("$file" --version 2>&1) || return 1
      expect="etcd Version: ${version#v}"
      ;;
    etcdctl)
      out=$("$file" version 2>&1) || return 1
      expect="etcdctl version: ${version#v}"
      ;;
    flanneld)
      out=$("$file" --version 2>&1) || return 1
      expect=$version
      ;;
    helm)
      # version.BuildInfo{Version:"v3.22.0", GitCommit:"...", GitTreeState:"...", GoVersion:"..."}
      out=$("$file" version 2>&1) || return 1
      expect="Version:\"$version\""
      ;;
    cni-plugins | flannel-cni)
      # The CNI VERSION command, as a runtime sends it: CNI_COMMAND=VERSION, empty stdin.
      out=$(CNI_COMMAND=VERSION "$file" </dev/null 2>&1) || return 1
      [[ $out == *supportedVersions* ]] || { echo "$out"; return 1; }
      # Without CNI_COMMAND a plugin prints its "about" line, which carries the build version.
      out=$(env -u CNI_COMMAND "$file" </dev/null 2>&1) || true
      expect=$version
      ;;
    *) return 1 ;;
  esac
  echo "${out%%$'\n'*}"
  [[ $out == *"$expect"* ]]
}

# Checks every file of a component in DIR; prints "file: first line" for each; fails on the first
# missing or failing binary (its output is printed).
check_component_dir() {
  local component=$1 dir=$2 version=$3 file line
  while read -r file; do
    [[ -x $dir/$file ]] || { echo "$file: missing"; return 1; }
    line=$(check_binary "$component" "$dir/$file" "$version") || { echo "$file: ${line:-no output} (expected version $version)"; return 1; }
    echo "$file: $line"
  done < <(component_files "$component")
}

# ---------------------------------------------------------------------------------------------
# Step 2: the official release downloads

host_arch() {
  case $(uname -m) in
    x86_64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) uname -m ;;
  esac
}

download_error=""
# Downloads URL to FILE; on failure sets download_error to curl's message.
fetch() {
  local url=$1 out=$2 err
  if ! err=$(curl --fail --silent --show-error --location --connect-timeout 10 --max-time 300 \
    -o "$out" "$url" 2>&1); then
    download_error="${err%%$'\n'*} ($url)"
    return 1
  fi
}

# Checks FILE against the sha256 in SUMFILE (either a bare hash, or "hash  name" lines).
verify_sha256() {
  local file=$1 sumfile=$2 name=$3 want got
  want=$(awk -v n="$name" 'NF == 1 || $2 == n || $2 == "*" n || $2 == "./" n { print $1; exit }' "$sumfile")
  got=$(sha256sum "$file" | awk '{ print $1 }')
  if [[ -z $want || $want != "$got" ]]; then
    download_error="sha256 mismatch for $name (expected ${want:-nothing}, got $got)"
    return 1
  fi
}

# Downloads COMPONENT's binaries into OUT; fails (with download_error set) otherwise.
download_component() {
  local component=$1 version=$2 out=$3 arch dl name file
  arch=$(host_arch)
  dl=$out/.download
  mkdir -p "$dl"
  case $component in
    kube-apiserver | kube-controller-manager | kube-proxy | kubectl)
      local base="https://dl.k8s.io/release/$version/bin/linux/$arch/$component"
      fetch "$base.sha256" "$dl/sum" && fetch "$base" "$out/$component" &&
        verify_sha256 "$out/$component" "$dl/sum" "$component" || return 1
      ;;
    etcd | etcdctl)
      name="etcd-$version-linux-$arch"
      local base="https://github.com/etcd-io/etcd/releases/download/$version"
      fetch "$base/SHA256SUMS" "$dl/sum" && fetch "$base/$name.tar.gz" "$dl/$name.tar.gz" &&
        verify_sha256 "$dl/$name.tar.gz" "$dl/sum" "$name.tar.gz" || return 1
      tar -xzf "$dl/$name.tar.gz" -C "$dl" "$name/$component" || {
        download_error="$name.tar.gz has no $component"
        return 1
      }
      mv "$dl/$name/$component" "$out/$component"
      ;;
    cni-plugins | flannel-cni)
      name="cni-plugins-linux-$arch-$version.tgz"
      local base="https://github.com/containernetworking/plugins/releases/download/$version"
      fetch "$base/$name.sha256" "$dl/sum" && fetch "$base/$name" "$dl/$name" &&
        verify_sha256 "$dl/$name" "$dl/sum" "$name" || return 1
      mkdir -p "$dl/x"
      tar -xzf "$dl/$name" -C "$dl/x" || { download_error="cannot unpack $name"; return 1; }
      while read -r file; do
        [[ -f $dl/x/$file ]] || { download_error="$name has no $file"; return 1; }
        mv "$dl/x/$file" "$out/$file"
      done < <(component_files "$component")
      ;;
    helm)
      name="helm-$version-linux-$arch.tar.gz"
      fetch "https://get.helm.sh/$name.sha256sum" "$dl/sum" && fetch "https://get.helm.sh/$name" "$dl/$name" &&
        verify_sha256 "$dl/$name" "$dl/sum" "$name" || return 1
      tar -xzf "$dl/$name" -C "$dl" "linux-$arch/helm" || {
        download_error="$name has no linux-$arch/helm"
        return 1
      }
      mv "$dl/linux-$arch/helm" "$out/helm"
      ;;
    flanneld)
      # flannel publishes no checksums for its release binaries.
      fetch "https://github.com/flannel-io/flannel/releases/download/$version/flanneld-$arch" \
        "$out/flanneld" || return 1
      ;;
    *) return 1 ;;
  esac
  rm -rf "$dl"
  chmod +x "$out"/*
}

# ---------------------------------------------------------------------------------------------
# Step 3: builds from the Go module proxy

# Prints a field of `go mod download -json MODULE@VERSION` (Dir, GoMod, Info, ...).
mod_field() {
  local modver=$1 field=$2 json
  json=$(go mod download -json "$modver") || die "cannot download module $modver: $json"
  sed -n "s/^[[:space:]]*\"$field\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" <<<"$json"
}

# The release time of MODULE@VERSION, as the proxy records it (used as the build date).
mod_time() {
  sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(mod_field "$1" Info)"
}

# Creates (once per run) a wrapper module NAME whose go.mod has GO_LINE and EXTRA (replace and
# godebug lines) and requires TOOLS... (package@version) as go tools. Prints its directory.
make_wrapper() {
  local name=$1 go_line=$2 extra=$3 dir
  shift 3
  dir=$run_tmp/wrap-$name
  if [[ ! -e $dir/.ready ]]; then
    rm -rf "$dir" && mkdir -p "$dir"
    printf 'module netdiag/build/%s\n\n%s\n\n%s\n' "$name" "$go_line" "$extra" >"$dir/go.mod"
    (cd "$dir" && go get -tool "$@" >"$dir/go-get.log" 2>&1) || {
      cat "$dir/go-get.log" >&2
      return 1
    }
    touch "$dir/.ready"
  fi
  echo "$dir"
}

# `go build` in a wrapper module, niced, with upstream-like flags. It runs as a background job so
# that an INT or TERM reaches our trap at once (bash defers traps while a foreground child runs, and
# `go build` outlives an INT); the child does not inherit the component's lock.
build_pid=""
go_build() {
  local dir=$1 rc=0
  shift
  (
    [[ -z ${lock_fd:-} ]] || exec {lock_fd}>&-
    cd "$dir" && exec nice -n 10 go build -trimpath "$@"
  ) &
  build_pid=$!
  wait "$build_pid" || rc=$?
  build_pid=""
  return "$rc"
}

# shellcheck disable=SC2317  # invoked by the INT and TERM traps
on_signal() {
  [[ -z $build_pid ]] || kill -TERM "$build_pid" 2>/dev/null || true
  echo "get-binaries: interrupted (SIG$1); nothing was installed for the component in progress" >&2
  exit "$2"
}

kubernetes_wrapper() {
  local gomod staging godebug go_line replaces="" mod
  gomod=$(mod_field "k8s.io/kubernetes@$KUBERNETES_VERSION" GoMod) || return 1
  [[ -f $gomod ]] || die "no go.mod for k8s.io/kubernetes@$KUBERNETES_VERSION"
  # Every staging module (required at v0.0.0 and replaced by ./staging/src/...) is replaced by its
  # published twin; the list comes from the tag's own go.mod.
  staging=$(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*|\1|p' "$gomod")
  [[ -n $staging ]] || die "found no staging modules in k8s.io/kubernetes@$KUBERNETES_VERSION's go.mod"
  for mod in $staging; do
    replaces+=$'\t'"$mod => $mod $KUBERNETES_STAGING_VERSION"$'\n'
  done
  godebug=$(awk '/^godebug[[:space:]]*\(/ { b = 1 } b { print; if (/^\)/) b = 0; next } /^godebug / { print }' "$gomod")
  go_line=$(grep -m1 '^go ' "$gomod")
  make_wrapper kubernetes "$go_line" "$godebug"$'\n\n'"replace ("$'\n'"$replaces)" \
    k8s.io/kubernetes/cmd/{kube-apiserver,kube-controller-manager,kube-proxy,kubectl}@"$KUBERNETES_VERSION"
}

build_kubernetes() {
  local component=$1 out=$2 dir date minor ldflags pkg
  dir=$(kubernetes_wrapper) || return 1
  date=$(mod_time "k8s.io/kubernetes@$KUBERNETES_VERSION") || return 1
  minor=${KUBERNETES_VERSION#v*.}
  minor=${minor%%.*}
  ldflags="-s -w"
  # The same version variables as upstream's hack/lib/version.sh, in both packages that read them.
  # The module proxy does not know the tag's commit: gitCommit is set empty (its default is the
  # unexpanded archive placeholder "$Format:%H$").
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  go_build "$dir" -tags selinux,notest,grpcnotrace -ldflags "$ldflags" \
    -o "$out/$component" "k8s.io/kubernetes/cmd/$component"
}

build_etcd() {
  local component=$1 out=$2 dir gomod go_line pkg
  # go.etcd.io/etcd/server/v3 (whose main package is etcd) and etcdctl/v3 carry replace
  # directives, so no `go install`; their requirements name real versions, so a wrapper builds.
  gomod=$(mod_field "go.etcd.io/etcd/server/v3@$ETCD_VERSION" GoMod) || return 1
  go_line=$(grep -m1 '^go ' "$gomod")
  dir=$(make_wrapper etcd "$go_line" "" \
    "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION") || return 1
  case $component in
    etcd) pkg=go.etcd.io/etcd/server/v3 ;;
    etcdctl) pkg=go.etcd.io/etcd/etcdctl/v3 ;;
  esac
  # The git SHA that upstream stamps (api/v3/version.GitSHA) is not known to the module proxy.
  go_build "$dir" -ldflags "-s -w" -o "$out/$component" "$pkg"
}

build_flanneld() {
  local out=$1 dir root mod=github.com/flannel-io/flannel
  root=$(mod_field "$mod@$FLANNEL_VERSION" Dir) || return 1
  [[ -f $root/main.go ]] || die "flanneld: no main.go in $mod@$FLANNEL_VERSION"
  # flanneld's main package imports every backend. Two cannot be built here and the lab uses
  # neither (it runs vxlan and host-gw): tencentvpc, whose SDK module
  # (github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc) the Go module proxy refuses (403,
  # every version), and udp, which needs cgo (we build static, CGO_ENABLED=0). The wrapper's main
  # package is flannel's own main.go without those two imports, built against the flannel module;
  # the remaining backends are flannel's own code, untouched.
  dir=$run_tmp/wrap-flannel
  rm -rf "$dir" && mkdir -p "$dir"
  grep -vF -e "\"$mod/pkg/backend/tencentvpc\"" -e "\"$mod/pkg/backend/udp\"" "$root/main.go" >"$dir/main.go"
  printf 'module netdiag/build/flannel\n\n%s\n\nrequire %s %s\n' \
    "$(grep -m1 '^go ' "$root/go.mod")" "$mod" "$FLANNEL_VERSION" >"$dir/go.mod"
  (cd "$dir" && go mod tidy >"$dir/go-mod-tidy.log" 2>&1) || {
    cat "$dir/go-mod-tidy.log" >&2
    return 1
  }
  go_build "$dir" -ldflags "-s -w -X $mod/pkg/version.Version=$FLANNEL_VERSION" -o "$out/flanneld" .
}

build_helm() {
  local out=$1 gomod go_line client_go minor ldflags dir mod=helm.sh/helm/v3
  # helm.sh/helm/v3 has no replace directives: a wrapper requiring ./cmd/helm as a go tool builds it.
  gomod=$(mod_field "$mod@$HELM_VERSION" GoMod) || return 1
  go_line=$(grep -m1 '^go ' "$gomod")
  dir=$(make_wrapper helm "$go_line" "" "$mod/cmd/helm@$HELM_VERSION") || return 1
  # The same link flags as upstream's Makefile for a tagged build: the version, no metadata, and the
  # Kubernetes version it assumes for charts' Capabilities (1.<client-go minor>, from its go.mod).
  client_go=$(sed -n 's|^[[:space:]]*k8s\.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$gomod")
  minor=${client_go%%$'\n'*}
  [[ -n $minor ]] || die "helm: found no k8s.io/client-go requirement in $mod@$HELM_VERSION's go.mod"
  ldflags="-s -w -X $mod/internal/version.version=$HELM_VERSION -X $mod/internal/version.metadata="
  ldflags+=" -X $mod/internal/version.gitCommit= -X $mod/internal/version.gitTreeState=clean"
  ldflags+=" -X $mod/pkg/lint/rules.k8sVersionMajor=1 -X $mod/pkg/lint/rules.k8sVersionMinor=$minor"
  ldflags+=" -X $mod/pkg/chartutil.k8sVersionMajor=1 -X $mod/pkg/chartutil.k8sVersionMinor=$minor"
  go_build "$dir" -ldflags "$ldflags" -o "$out/helm" "$mod/cmd/helm"
}

# Builds CNI plugins NAMES... from github.com/containernetworking/plugins@VERSION into OUT.
build_cni_plugins() {
  local name=$1 mod=$2 version=$3 out=$4 root dir go_line plugin sub
  shift 4
  root=$(mod_field "$mod@$version" Dir) || return 1
  go_line=$(grep -m1 '^go ' "$root/go.mod")
  local -a pkgs=()
  for plugin in "$@"; do
    sub=""
    for dir in main ipam meta; do
      [[ -d $root/plugins/$dir/$plugin ]] && sub=$dir && break
    done
    [[ -n $sub ]] || die "$name: $mod@$version has no plugin named $plugin"
    pkgs+=("$mod/plugins/$sub/$plugin")
  done
  local -a tools=("${pkgs[@]/%/@$version}")
  dir=$(make_wrapper "$name" "$go_line" "" "${tools[@]}") || return 1
  for plugin in "${pkgs[@]}"; do
    go_build "$dir" -ldflags "-s -w -X $mod/pkg/utils/buildversion.BuildVersion=$version" \
      -o "$out/${plugin##*/}" "$plugin" || return 1
  done
}

build_component() {
  local component=$1 out=$2
  command -v go >/dev/null || die "$component: the download failed and there is no Go toolchain to build it"
  case $component in
    kube-apiserver | kube-controller-manager | kube-proxy | kubectl) build_kubernetes "$component" "$out" ;;
    etcd | etcdctl) build_etcd "$component" "$out" ;;
    flanneld) build_flanneld "$out" ;;
    helm) build_helm "$out" ;;
    cni-plugins)
      build_cni_plugins cni-plugins github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION" \
        "$out" "${CNI_PLUGINS[@]}"
      ;;
    flannel-cni) build_cni_plugins flannel-cni "$FLANNEL_CNI_MODULE" "$FLANNEL_CNI_VERSION" "$out" flannel ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Provisioning

duration() {
  local s=$1
  if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

provision() {
  local component=$1 version dest out start checks lock_fd
  version=$(component_version "$component")
  dest=$cache_dir/bin/$component/$version
  mkdir -p "$cache_dir/bin/$component"

  # One provisioner per component at a time (concurrent runs wait rather than build twice).
  exec {lock_fd}>"$cache_dir/bin/$component/.lock"
  if ! flock -n "$lock_fd"; then
    log "$component $version: waiting for another get-binaries.sh run"
    # In the background, so that INT and TERM are handled while waiting (the lock belongs to the
    # shared open file, hence to us too).
    flock "$lock_fd" &
    wait $! || die "$component $version: cannot take the lock $cache_dir/bin/$component/.lock"
  fi

  start=$SECONDS
  if [[ -d $dest ]]; then
    if checks=$(check_component_dir "$component" "$dest" "$version"); then
      log "$component $version: cached ($(duration $((SECONDS - start)))); ${checks//$'\n'/; }"
      exec {lock_fd}>&-
      return 0
    fi
    log "$component $version: cached copy fails its check (${checks##*$'\n'}); provisioning again"
    rm -rf "$dest"
  fi

  out=$(mktemp -d "$run_tmp/out-$component.XXXXXX")
  local from
  download_error=""
  if download_component "$component" "$version" "$out"; then
    from="downloaded from the official release"
  else
    log "$component $version: official download failed: $download_error; building from the Go module proxy"
    rm -rf "$out" && mkdir -p "$out"
    build_component "$component" "$out" || die "$component $version: the build failed (see the Go output above)"
    from="built from the Go module proxy"
  fi

  checks=$(check_component_dir "$component" "$out" "$version") ||
    die "$component $version: the $from binary fails its version check: ${checks##*$'\n'}"
  # Atomic install: a rename within the cache's filesystem.
  chmod 755 "$out"
  mv -T "$out" "$dest" || die "$component $version: cannot install into $dest"
  log "$component $version: $from in $(duration $((SECONDS - start))); ${checks//$'\n'/; }"
  exec {lock_fd}>&-
}

link_component() {
  local component=$1 version file
  version=$(component_version "$component")
  mkdir -p "$bin_dir"
  while read -r file; do
    ln -sfn "$cache_dir/bin/$component/$version/$file" "$bin_dir/$file"
  done < <(component_files "$component")
}

# ---------------------------------------------------------------------------------------------
# Main

# The whole file is parsed before main runs (and nothing after it is read), so editing or checking
# out this script during a long build cannot change what the running copy does.
main() {
  local bin_dir="" c stale pid component total_start
  local -a components=()
  while (($#)); do
    case $1 in
      --bin-dir)
        (($# >= 2)) || die "--bin-dir needs a directory"
        bin_dir=$2
        shift 2
        ;;
      --bin-dir=*)
        bin_dir=${1#*=}
        shift
        ;;
      --print-cache-dir)
        echo "$cache_dir"
        exit 0
        ;;
      --list)
        for c in "${NETDIAG_COMPONENTS[@]}" "${NETDIAG_EXTRA_COMPONENTS[@]}"; do echo "$c $(component_version "$c")"; done
        exit 0
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      -*) die "unknown option $1 (see --help)" ;;
      *)
        component_version "$1" >/dev/null || die "unknown component $1 (known: ${NETDIAG_COMPONENTS[*]} ${NETDIAG_EXTRA_COMPONENTS[*]})"
        components+=("$1")
        shift
        ;;
    esac
  done
  ((${#components[@]})) || components=("${NETDIAG_COMPONENTS[@]}")
  [[ -z $bin_dir || $bin_dir == /* ]] || bin_dir=$PWD/$bin_dir

  # Builds use the machine's Go exactly as installed: no toolchain downloads, static binaries, no
  # workspace or vendoring that the caller's environment might switch on.
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false

  mkdir -p "$cache_dir/tmp"
  # Leftovers of runs that were killed (their process is gone) are removed; never a cached binary.
  for stale in "$cache_dir"/tmp/run.*; do
    [[ -d $stale ]] || continue
    pid=${stale##*/run.}
    pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || rm -rf "$stale"
  done
  run_tmp=$(mktemp -d "$cache_dir/tmp/run.$$.XXXXXX")
  trap 'rm -rf "$run_tmp"' EXIT
  trap 'on_signal INT 130' INT
  trap 'on_signal TERM 143' TERM

  total_start=$SECONDS
  for component in "${components[@]}"; do
    provision "$component"
    [[ -z $bin_dir ]] || link_component "$component"
  done
  log "${#components[@]} component(s) ready in $(duration $((SECONDS - total_start))); cache: $cache_dir/bin${bin_dir:+; linked into $bin_dir}"
}

main "$@"
exit
