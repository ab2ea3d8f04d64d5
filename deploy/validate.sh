#!/usr/bin/env bash
# Validates deploy/ without a container engine, offline (every schema ships inside a package):
#   k8s/         kubernetes-validate --strict (PyPI; bundles the Kubernetes JSON schemas) on every
#                manifest, secret.example.yaml included, and on `kubectl kustomize` / `kustomize
#                build` output when one of them is installed; unknown kinds and fields fail;
#                then selectors, port names and object names checked against each other
#   compose/     check-jsonschema --builtin-schema vendor.compose-spec (PyPI; bundles the
#                compose-spec schema) on every *.yaml, plus undefined secrets, networks, volumes
#                and depends_on names; `nginx -t` on nginx.conf (upstream names replaced by
#                127.0.0.1 in a temporary copy, since they only resolve inside compose)
#   systemd/     systemd-analyze verify (ExecStart pointed at a stub in a temporary copy, because
#                the binary is not installed here) with any warning an error; systemd-analyze
#                security --offline at most 2.0; systemd-sysusers and systemd-tmpfiles applied
#                to an empty temporary --root
#   prometheus/  YAML plus the rule-file structure (groups[].rules[]: alert/record, expr, for as
#                a duration, labels and annotations on every alert); `promtool check rules`
#                (Debian's prometheus package), which parses the PromQL
#   config/      every *.toml parses (Python tomllib); with a built sealpost-server (target/, or
#                SEALPOST_SERVER_BIN) production.toml goes through `config print --effective`,
#                which refuses unknown keys. Nothing is built here.
#
# Installs nothing. Tools: pip install 'kubernetes-validate==1.37.0' 'check-jsonschema==0.39.0';
# apt-get install systemd nginx prometheus (Debian; promtool). With CI=true a missing tool fails; locally it is
# named and the run fails, unless SKIP_MISSING=1 (then those checks are skipped, loudly).
# K8S_VERSIONS selects the schemas. The default "1.30.0 1.37.0" is the oldest version the
# manifests support (preStop sleep) and the newest that the pinned kubernetes-validate bundles.
set -euo pipefail
bin=${SEALPOST_SERVER_BIN:-}
case "$bin" in "" | /*) ;; *) bin="$PWD/$bin" ;; esac # relative to where it was started
cd "$(dirname "$0")"

K8S_VERSIONS=${K8S_VERSIONS:-"1.30.0 1.37.0"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }
ok() { printf 'ok: %s\n' "$*"; }
section() { printf '\n-- %s\n' "$*"; }

# ---- tools -------------------------------------------------------------------------------------
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
need() { # need TOOL HINT
  have "$1" || missing+=("$1 ($2)")
}
need python3 "Python >= 3.11 with PyYAML"
need kubernetes-validate "pip install 'kubernetes-validate==1.37.0'"
need check-jsonschema "pip install 'check-jsonschema==0.39.0'"
need systemd-analyze "apt-get install systemd"
need systemd-sysusers "apt-get install systemd"
need systemd-tmpfiles "apt-get install systemd"
# Debian puts nginx in /usr/sbin, which is not on every user's PATH.
[ -x /usr/sbin/nginx ] && ! have nginx && PATH="$PATH:/usr/sbin"
need nginx "apt-get install nginx"
# PromQL is parsed only by promtool (Debian: in the prometheus package, which it does not start).
[ -d prometheus ] && need promtool "apt-get install --no-install-recommends prometheus"
if have python3 && ! python3 -c 'import tomllib, yaml' 2>/dev/null; then
  missing+=("python3 modules tomllib/yaml (Python >= 3.11; pip install pyyaml)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'missing tool: %s\n' "${missing[@]}"
  if [ "${CI:-}" = true ]; then
    echo "CI=true: every check must run; install the tools above (see .ci/run)."
    exit 1
  elif [ "${SKIP_MISSING:-}" != 1 ]; then
    echo "Install them, or run with SKIP_MISSING=1 to skip the checks that need them."
    exit 1
  fi
  echo "SKIP_MISSING=1: the checks that need them are SKIPPED below."
fi
skipped=0
skip() { printf 'SKIPPED (%s missing): %s\n' "$1" "$2"; skipped=$((skipped + 1)); }
pyok() { have python3 && python3 -c 'import tomllib, yaml' 2>/dev/null; }

# ---- Kubernetes --------------------------------------------------------------------------------
section "Kubernetes manifests (k8s/, schemas of Kubernetes $K8S_VERSIONS, strict)"
# kubernetes-validate exits 0 with a WARN for a kind or apiVersion it has no schema for (a typo
# such as `kind: Deploymnt`): that is a failure here.
k8s_validate() { # k8s_validate LABEL FILE...
  local label=$1 v out rc n
  shift
  for v in $K8S_VERSIONS; do
    rc=0
    out=$(kubernetes-validate --strict -k "$v" "$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -v '^INFO ' | sed 's/^/  /' || true
    n=$(printf '%s\n' "$out" | grep -c '^INFO .* passed' || true)
    if [ "$rc" -ne 0 ] || printf '%s\n' "$out" | grep -qv '^INFO '; then
      fail "$label against Kubernetes $v"
    elif [ "$n" -eq 0 ]; then
      fail "$label: no resource found"
    else
      ok "$label against Kubernetes $v: $n resources"
    fi
  done
}
manifests=()
for f in k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
if have kubernetes-validate; then
  k8s_validate "each manifest (${#manifests[@]} files)" "${manifests[@]}"
else
  skip kubernetes-validate "k8s/*.yaml"
fi
# kustomization.yaml has no schema in the package: its resources must be exactly the manifests.
if pyok; then
  rc=0
  python3 - "${manifests[@]}" <<'EOF' || rc=$?
import os, sys, yaml
k = yaml.safe_load(open("k8s/kustomization.yaml"))
assert k.get("kind") == "Kustomization", "kind is not Kustomization"
listed = set(k.get("resources") or [])
present = {os.path.basename(p) for p in sys.argv[1:]}
for r in sorted(listed - present):
    print(f"  listed but not a file here: {r}")
for r in sorted(present - listed):
    print(f"  not listed in resources: {r}")
sys.exit(0 if listed == present else 1)
EOF
  if [ "$rc" -eq 0 ]; then
    ok "k8s/kustomization.yaml lists every manifest, and only those"
  else
    fail "k8s/kustomization.yaml resources"
  fi
else
  skip python3 "k8s/kustomization.yaml resources"
fi
# What a schema cannot see: the objects must fit together.
if pyok; then
  rc=0
  python3 - "${manifests[@]}" <<'EOF' || rc=$?
import sys, yaml
objs = [o for f in sys.argv[1:] for o in yaml.safe_load_all(open(f)) if isinstance(o, dict)]
have = {(o.get("kind"), (o.get("metadata") or {}).get("name")) for o in objs}
errors = []
def matches(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in (sel.get("matchLabels") or sel).items())
pods = []  # (workload name, pod labels, container port names)
for o in objs:
    if o.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
        continue
    name, spec = o["metadata"]["name"], o["spec"]
    tpl = spec["template"]
    labels = tpl["metadata"].get("labels") or {}
    pspec = tpl["spec"]
    containers = pspec.get("containers", []) + pspec.get("initContainers", [])
    ports = {p.get("name") for c in containers for p in c.get("ports") or [] if p.get("name")}
    pods.append((name, labels, ports))
    if not matches(spec.get("selector"), labels):
        errors.append(f"{o['kind']} {name}: selector does not match the pod template's labels")
    for t in pspec.get("topologySpreadConstraints") or []:
        if not matches(t.get("labelSelector"), labels):
            errors.append(f"{o['kind']} {name}: a topologySpreadConstraint selects other pods")
    sa = pspec.get("serviceAccountName")
    if sa and ("ServiceAccount", sa) not in have:
        errors.append(f"{o['kind']} {name}: no ServiceAccount {sa}")
    volumes = {v["name"] for v in pspec.get("volumes") or []}
    for v in pspec.get("volumes") or []:
        for kind, ref in (("Secret", (v.get("secret") or {}).get("secretName")),
                          ("ConfigMap", (v.get("configMap") or {}).get("name"))):
            if ref and (kind, ref) not in have:
                errors.append(f"{o['kind']} {name}: volume {v['name']}: no {kind} {ref}")
    for c in containers:
        for m in c.get("volumeMounts") or []:
            if m["name"] not in volumes:
                errors.append(f"{o['kind']} {name}: container {c['name']} mounts undefined volume {m['name']}")
        for e in c.get("envFrom") or []:
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                ref = (e.get(key) or {}).get("name")
                if ref and (kind, ref) not in have and not e[key].get("optional"):
                    errors.append(f"{o['kind']} {name}: envFrom: no {kind} {ref}")
        for p in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = ((c.get(p) or {}).get("httpGet") or {}).get("port")
            if isinstance(port, str) and port not in ports:
                errors.append(f"{o['kind']} {name}: {p} uses port {port}, not a container port name")
for o in objs:
    kind, name, spec = o.get("kind"), o["metadata"]["name"], o.get("spec") or {}
    if kind in ("Service", "PodDisruptionBudget"):
        sel = spec.get("selector")
        selected = [p for p in pods if matches(sel, p[1])]
        if not selected:
            errors.append(f"{kind} {name}: its selector matches no pod template")
        for port in spec.get("ports") or []:
            t = port.get("targetPort")
            if isinstance(t, str) and not all(t in p[2] for p in selected):
                errors.append(f"Service {name}: targetPort {t} is not a container port name")
    if kind == "Ingress":
        services = {x["metadata"]["name"]: x for x in objs if x.get("kind") == "Service"}
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                b = (path.get("backend") or {}).get("service") or {}
                svc = services.get(b.get("name"))
                if svc is None:
                    errors.append(f"Ingress {name}: no Service {b.get('name')}")
                    continue
                want = b.get("port") or {}
                ports = svc["spec"].get("ports") or []
                if not any(want.get("name") == p.get("name") if "name" in want else
                           want.get("number") == p.get("port") for p in ports):
                    errors.append(f"Ingress {name}: Service {b.get('name')} has no port {want}")
for e in errors:
    print(f"  {e}")
sys.exit(1 if errors else 0)
EOF
  if [ "$rc" -eq 0 ]; then
    ok "k8s: selectors, port names, and the objects the manifests name fit together"
  else
    fail "k8s cross-references"
  fi
fi
render=()
if have kubectl; then
  render=(kubectl kustomize k8s)
elif have kustomize; then
  render=(kustomize build k8s)
fi
if [ ${#render[@]} -gt 0 ]; then
  if "${render[@]}" >"$tmp/rendered.yaml" 2>"$tmp/render.err"; then
    ok "rendered with ${render[*]}"
    if have kubernetes-validate; then
      k8s_validate "kustomize output" "$tmp/rendered.yaml"
    fi
  else
    sed 's/^/  /' "$tmp/render.err"
    fail "${render[*]}"
  fi
else
  echo "note: neither kubectl nor kustomize is installed; kustomization.yaml is not rendered"
fi

# ---- compose -----------------------------------------------------------------------------------
section "compose files (compose/*.yaml, compose-spec schema)"
if have check-jsonschema; then
  for f in compose/*.yaml; do
    if check-jsonschema --builtin-schema vendor.compose-spec "$f" >"$tmp/out" 2>&1; then
      ok "$f"
    else
      sed 's/^/  /' "$tmp/out"
      fail "$f"
    fi
  done
else
  skip check-jsonschema "compose/*.yaml"
fi
# What the schema cannot see and `docker compose config` would refuse: names used by a service
# (secrets, configs, networks, named volumes, depends_on) that are not defined.
if pyok; then
  for f in compose/*.yaml; do
    rc=0
    python3 - "$f" <<'EOF' || rc=$?
import sys, yaml
path = sys.argv[1]
d = yaml.safe_load(open(path)) or {}
top = {k: set(d.get(k) or {}) for k in ("secrets", "configs", "networks", "volumes")}
services = d.get("services") or {}
errors = []
def names(v):
    return list(v) if isinstance(v, (list, dict)) else []
for n, s in services.items():
    for k in ("secrets", "configs"):
        for x in s.get(k) or []:
            src = x if isinstance(x, str) else x.get("source")
            if src not in top[k]:
                errors.append(f"services.{n}.{k}: {src} is not defined under {k}:")
    for x in names(s.get("networks")):
        if x != "default" and x not in top["networks"]:
            errors.append(f"services.{n}.networks: {x} is not defined under networks:")
    for v in s.get("volumes") or []:
        if isinstance(v, str):
            src = v.split(":")[0] if ":" in v else None
        else:
            src = v.get("source") if v.get("type", "volume") == "volume" else None
        if src and not src.startswith((".", "/", "~", "$")) and src not in top["volumes"]:
            errors.append(f"services.{n}.volumes: {src} is not defined under volumes:")
    for x in names(s.get("depends_on")):
        if x not in services:
            errors.append(f"services.{n}.depends_on: no service {x}")
for e in errors:
    print(f"  {path}: {e}")
sys.exit(1 if errors else 0)
EOF
    if [ "$rc" -eq 0 ]; then
      ok "$f: every secret, network, volume and dependency is defined"
    else
      fail "$f: references"
    fi
  done
else
  skip python3 "compose/*.yaml references"
fi

section "nginx (compose/nginx.conf)"
if have nginx; then
  # The upstream servers are compose service names, which resolve only inside compose: nginx -t
  # resolves them, so a temporary copy points them at 127.0.0.1 (same ports); /tmp paths
  # (pid, temp dirs) go to the temporary directory.
  mkdir -p "$tmp/nginx"
  sed -E -e 's/^([[:space:]]*server[[:space:]]+)[A-Za-z][A-Za-z0-9.-]*(:[0-9]+)/\1127.0.0.1\2/' \
    -e "s|/tmp/|$tmp/nginx/|g" compose/nginx.conf >"$tmp/nginx/nginx.conf"
  echo "  (upstream host names replaced by 127.0.0.1 in a temporary copy)"
  if nginx -t -q -p "$tmp/nginx/" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" >"$tmp/out" 2>&1; then
    ok "nginx -t compose/nginx.conf"
  else
    sed 's/^/  /' "$tmp/out"
    fail "nginx -t compose/nginx.conf"
  fi
else
  skip nginx "compose/nginx.conf"
fi

# ---- systemd -----------------------------------------------------------------------------------
section "systemd (systemd/)"
if have systemd-analyze; then
  # verify needs ExecStart's binary to exist: a temporary copy of the unit points at a stub.
  mkdir -p "$tmp/systemd/bin"
  printf '#!/bin/sh\nexit 0\n' >"$tmp/systemd/bin/sealpost-server"
  chmod 0755 "$tmp/systemd/bin/sealpost-server"
  sed "s|^ExecStart=/usr/bin/sealpost-server |ExecStart=$tmp/systemd/bin/sealpost-server |" \
    systemd/sealpost.service >"$tmp/systemd/sealpost.service"
  if ! grep -q "^ExecStart=$tmp/" "$tmp/systemd/sealpost.service"; then
    fail "systemd/sealpost.service: ExecStart no longer starts with /usr/bin/sealpost-server;" \
      "update deploy/validate.sh"
  fi
  # systemd 252 only warns (exit 0) on unknown keys and unparsable values: any output fails.
  rc=0
  systemd-analyze verify --man=no "$tmp/systemd/sealpost.service" >"$tmp/out" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ]; then
    ok "systemd-analyze verify systemd/sealpost.service (ExecStart at a stub)"
  else
    sed 's/^/  /' "$tmp/out"
    fail "systemd-analyze verify systemd/sealpost.service"
  fi
  # Hardening must not regress: exposure at most 2.0 of 10 (1.1 with systemd 252).
  rc=0
  systemd-analyze security --offline=true --threshold=20 --no-pager "$tmp/systemd/sealpost.service" \
    >"$tmp/out" 2>&1 || rc=$?
  level=$(grep -o 'Overall exposure level for [^:]*: [0-9.]* [A-Z]*' "$tmp/out" | sed 's/.*: //' || true)
  if [ "$rc" -eq 0 ] && [ -n "$level" ]; then
    ok "systemd-analyze security --offline: exposure $level (at most 2.0)"
  else
    { grep -E '✗|Overall' "$tmp/out" || cat "$tmp/out"; } | sed 's/^/  /'
    fail "systemd-analyze security: exposure ${level:-unknown}, more than 2.0"
  fi
else
  skip systemd-analyze "systemd/sealpost.service"
fi
if have systemd-sysusers && have systemd-tmpfiles; then
  # An empty root: sysusers creates the user there, tmpfiles then resolves its group there.
  root="$tmp/root"
  mkdir -p "$root/etc"
  if systemd-sysusers --root="$root" "$PWD/systemd/sealpost.sysusers.conf" >"$tmp/out" 2>&1 \
    && grep -q '^sealpost:x:[0-9]*:[0-9]*:[^:]*:/var/lib/sealpost:/usr/sbin/nologin$' "$root/etc/passwd"; then
    ok "systemd-sysusers --root=<tmp>: user sealpost, home /var/lib/sealpost, nologin"
  else
    sed 's/^/  /' "$tmp/out"
    fail "systemd/sealpost.sysusers.conf"
  fi
  rc=0
  systemd-tmpfiles --root="$root" --create "$PWD/systemd/sealpost.tmpfiles.conf" >"$tmp/out" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] && [ -d "$root/etc/sealpost/credentials" ]; then
    ok "systemd-tmpfiles --root=<tmp> --create: /etc/sealpost, /etc/sealpost/credentials"
  else
    sed 's/^/  /' "$tmp/out"
    fail "systemd/sealpost.tmpfiles.conf"
  fi
else
  skip "systemd-sysusers/systemd-tmpfiles" "systemd/sealpost.{sysusers,tmpfiles}.conf"
fi

# ---- Prometheus --------------------------------------------------------------------------------
if [ -d prometheus ]; then
  section "Prometheus rule files (prometheus/*.yml)"
  for f in prometheus/*.yml prometheus/*.yaml; do
    [ -e "$f" ] || continue
    if ! pyok; then
      skip python3 "$f"
      continue
    fi
    rc=0
    python3 - "$f" <<'EOF' || rc=$?
import re, sys, yaml
path = sys.argv[1]
errors = []
try:
    doc = yaml.safe_load(open(path))
except yaml.YAMLError as e:
    print(f"  {path}: not YAML: {e}")
    sys.exit(1)
groups = doc.get("groups") if isinstance(doc, dict) else None
if not isinstance(doc, dict) or set(doc) != {"groups"} or not isinstance(groups, list) or not groups:
    errors.append("top level must be exactly `groups:`, a non-empty list")
    doc = {"groups": []}
names = set()
for gi, g in enumerate(doc["groups"]):
    where = f"groups[{gi}]"
    if not isinstance(g, dict):
        errors.append(f"{where}: not a mapping"); continue
    extra = set(g) - {"name", "interval", "limit", "query_offset", "labels", "rules"}
    if extra: errors.append(f"{where}: unknown keys {sorted(extra)}")
    if not isinstance(g.get("name"), str) or not g["name"]: errors.append(f"{where}: name missing")
    elif g["name"] in names: errors.append(f"{where}: duplicate group name {g['name']}")
    names.add(g.get("name"))
    rules = g.get("rules")
    if not isinstance(rules, list) or not rules:
        errors.append(f"{where}: rules must be a non-empty list"); continue
    for ri, r in enumerate(rules):
        w = f"{where}.rules[{ri}]"
        if not isinstance(r, dict):
            errors.append(f"{w}: not a mapping"); continue
        if ("alert" in r) == ("record" in r):
            errors.append(f"{w}: exactly one of alert/record"); continue
        if "alert" in r:
            allowed = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        else:
            allowed = {"record", "expr", "labels"}
        extra = set(r) - allowed
        if extra: errors.append(f"{w}: unknown keys {sorted(extra)}")
        name = r.get("alert", r.get("record"))
        if not isinstance(name, str) or not name: errors.append(f"{w}: empty alert/record name")
        if not isinstance(r.get("expr"), (str, int, float)) or str(r.get("expr")).strip() == "":
            errors.append(f"{w} ({name}): expr missing")
        for k in ("for", "keep_firing_for"):
            if k in r and not (isinstance(r[k], str) and re.fullmatch(r"([0-9]+(ms|[smhdwy]))+", r[k])):
                errors.append(f"{w} ({name}): {k} must be a duration such as 5m")
        for k in ("labels", "annotations"):
            values = r.get(k).values() if isinstance(r.get(k), dict) else [None]
            if k in r and not all(isinstance(v, (str, int, float)) for v in values):
                errors.append(f"{w} ({name}): {k} must map names to strings")
        if "alert" in r:
            for k in ("labels", "annotations"):
                if k not in r:
                    errors.append(f"{w} ({name}): {k} missing (every alert here carries it)")
for e in errors:
    print(f"  {path}: {e}")
sys.exit(1 if errors else 0)
EOF
    if [ "$rc" -eq 0 ]; then ok "$f: rule-file structure"; else fail "$f"; fi
    if have promtool; then
      if promtool check rules "$f" >"$tmp/out" 2>&1; then ok "promtool check rules $f"; else
        sed 's/^/  /' "$tmp/out"; fail "promtool check rules $f"; fi
    fi
  done
  have promtool || skip promtool "PromQL expressions in prometheus/"
fi

# ---- configuration -----------------------------------------------------------------------------
section "configuration (config/*.toml)"
if pyok; then
  for f in config/*.toml; do
    if python3 -c '
import sys, tomllib
try:
    tomllib.load(open(sys.argv[1], "rb"))
except tomllib.TOMLDecodeError as e:
    sys.exit(f"{sys.argv[1]}: not TOML: {e}")' "$f" >"$tmp/out" 2>&1; then
      ok "$f parses as TOML"
    else
      sed 's/^/  /' "$tmp/out"
      fail "$f"
    fi
  done
else
  skip python3 "config/*.toml"
fi
if [ -z "$bin" ]; then
  for b in ../target/debug/sealpost-server ../target/release/sealpost-server; do
    [ -x "$b" ] && bin=$b
  done
fi
if [ -n "$bin" ]; then
  # The server refuses unknown keys. The *_file secrets are systemd credentials that exist only
  # inside the service: a temporary copy points them at dummy files.
  cred="$tmp/credentials"
  mkdir -p "$cred"
  sed "s|/run/credentials/sealpost.service/|$cred/|g" config/production.toml >"$tmp/production.toml"
  grep -oE "$cred/[a-z0-9-]+" "$tmp/production.toml" | sort -u | while read -r file; do
    echo "dummy-${file##*/}" >"$file"
  done
  echo "postgres://sealpost@127.0.0.1:5432/sealpost" >"$cred/database-url"
  head -c 32 /dev/zero | base64 | tr -d '=\n' >"$cred/server-kek"
  if "$bin" --config "$tmp/production.toml" config print --effective >"$tmp/out" 2>&1; then
    ok "config/production.toml accepted by $bin config print --effective"
  else
    sed 's/^/  /' "$tmp/out"
    fail "config/production.toml rejected by $bin"
  fi
else
  echo "note: no built sealpost-server (target/ or SEALPOST_SERVER_BIN): the keys of"
  echo "      config/production.toml are not checked against the server"
fi

# ---- result ------------------------------------------------------------------------------------
echo
if [ "$failures" -gt 0 ]; then
  echo "deploy/validate.sh: $failures check(s) FAILED"
  exit 1
fi
if [ "$skipped" -gt 0 ]; then
  echo "deploy/validate.sh: the checks that ran passed, $skipped SKIPPED (missing tools)"
else
  echo "deploy/validate.sh: all checks passed"
fi
