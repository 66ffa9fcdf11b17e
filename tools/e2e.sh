#!/usr/bin/env bash
# End-to-end check of bhsvc on a real cluster: deploy BinderHub with bhsvc,
# build binder-examples/requirements through it, show the installation's status.
# CI runs it on k3s (.github/workflows/e2e.yml); it works on any cluster your
# kubectl context points at (k3s, kind, minikube, GKE...):
#
#   E2E_REGISTRY=10.0.0.5:5000 E2E_INSECURE_REGISTRY=1 tools/e2e.sh
#   tools/e2e.sh registry   # start a plain-HTTP registry on this machine (Debian or
#                           # Ubuntu package docker-registry) and print E2E_REGISTRY=...
#   tools/e2e.sh config     # only write the bhsvc.yaml it would deploy
#   tools/e2e.sh report     # what runs in the namespace, its events and logs
#   tools/e2e.sh clean      # uninstall the release, delete the namespace, stop
#                           # the registry `registry` started
#
# Needs bhsvc (`pip install .`), kubectl, and a registry that the cluster's pods
# and this machine both reach at E2E_REGISTRY. Environment:
#   E2E_REGISTRY             registry host[:port] (required to deploy)
#   E2E_INSECURE_REGISTRY    1 when the registry speaks plain HTTP: the build
#                            daemon is told to accept it
#   E2E_REGISTRY_USERNAME    registry user (default: e2e)
#   BHSVC_REGISTRY_PASSWORD  its password or token (default: a placeholder, for
#                            a registry without authentication)
#   E2E_NAMESPACE            namespace (default: bhsvc-e2e)
#   E2E_DIR                  where bhsvc.yaml and bhsvc's files go (default: .e2e)
#   E2E_TIMEOUT              seconds for deploy and for verify (default: 900)
#   E2E_REGISTRY_PORT        port of `registry` (default: 5001)
set -euo pipefail

namespace="${E2E_NAMESPACE:-bhsvc-e2e}"
workdir="${E2E_DIR:-.e2e}"
timeout="${E2E_TIMEOUT:-900}"
release=binderhub
config="$workdir/bhsvc.yaml"

step() { printf '\n== %s\n' "$*"; }

write_config() {
    : "${E2E_REGISTRY:?set E2E_REGISTRY to a registry host:port that the cluster reaches}"
    # JSON is YAML: python writes it, so every value is quoted as it must be.
    mkdir -p "$workdir"
    NAMESPACE="$namespace" RELEASE="$release" python3 - "$config" <<'EOF'
import ipaddress, json, os, sys

registry = os.environ["E2E_REGISTRY"]
insecure = os.environ.get("E2E_INSECURE_REGISTRY") == "1"
host, _, port = registry.partition(":")
values = {}
if insecure:
    values["dockerApi"] = {"extraArgs": [f"--insecure-registry={registry}"]}
try:
    address = ipaddress.ip_address(host)
except ValueError:
    address = None
if address is not None and address.is_private:
    # The chart's NetworkPolicies keep builds off private networks but for this.
    values["networkPolicy"] = {"extraEgress": [{
        "to": [{"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}],
        "ports": [{"port": int(port or 443), "protocol": "TCP"}],
    }]}
config = {
    "version": 1,
    "kube": {"namespace": os.environ["NAMESPACE"]},
    "binderhub": {"release": os.environ["RELEASE"], "values": values},
    "registry": {
        "provider": "generic",
        "server": ("http://" if insecure else "https://") + registry,
        "username": os.environ.get("E2E_REGISTRY_USERNAME", "e2e"),
        "image_prefix": f"{registry}/bhsvc-e2e/binder-",
    },
}
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(config, out, indent=2)
    out.write("\n")
EOF
    echo "wrote $config"
}

registry() {
    # The CNCF distribution registry, as the test suite runs it, on all addresses so
    # that pods reach it at this machine's address. It keeps running after this.
    local dir="$workdir/registry" port="${E2E_REGISTRY_PORT:-5001}" address
    command -v docker-registry >/dev/null || {
        echo "docker-registry is missing: apt-get install docker-registry" >&2; exit 2; }
    mkdir -p "$dir/data"
    printf '%s\n' "version: 0.1" "log: {level: info}" \
        "storage: {filesystem: {rootdirectory: \"$(cd "$dir" && pwd)/data\"}}" \
        "http: {addr: \"0.0.0.0:$port\"}" > "$dir/config.yml"
    nohup docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
    echo $! > "$dir/registry.pid"
    for _ in $(seq 50); do
        curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$dir/registry.log" >&2; exit 1; }
    address="$(hostname -I | awk '{print $1}')"
    echo "E2E_REGISTRY=$address:$port"
}

run() {
    # A registry without authentication takes any password.
    export BHSVC_REGISTRY_PASSWORD="${BHSVC_REGISTRY_PASSWORD:-no-password-needed}"
    step "cluster"
    kubectl version
    kubectl get nodes -o wide
    step "config"
    write_config
    step "bhsvc deploy"
    bhsvc deploy --config "$config" --yes --timeout "$timeout"
    step "bhsvc verify (builds binder-examples/requirements)"
    bhsvc verify --config "$config" --timeout "$timeout"
    step "bhsvc status"
    bhsvc status --config "$config"
}

report() {
    step "pods, services, events in $namespace"
    kubectl --namespace "$namespace" get all,networkpolicy,secret -o wide || true
    kubectl --namespace "$namespace" get events --sort-by=.lastTimestamp || true
    step "logs"
    local pod
    for pod in $(kubectl --namespace "$namespace" get pods -o name 2>/dev/null); do
        echo "--- $pod"
        kubectl --namespace "$namespace" logs "$pod" --all-containers --tail=200 || true
    done
}

clean() {
    helm uninstall "$release" --namespace "$namespace" --wait || true
    kubectl delete namespace "$namespace" --ignore-not-found --wait=true
    if [ -f "$workdir/registry/registry.pid" ]; then
        kill "$(cat "$workdir/registry/registry.pid")" 2>/dev/null || true
        rm "$workdir/registry/registry.pid"
    fi
}

case "${1:-run}" in
    run) run ;;
    registry) registry ;;
    config) write_config ;;
    report) report ;;
    clean) clean ;;
    *) echo "usage: $0 [run|registry|config|report|clean]" >&2; exit 2 ;;
esac
