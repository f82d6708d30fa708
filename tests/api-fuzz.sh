#!/usr/bin/env bash
# Property-based fuzzing of the four REST edges, driven by their own OpenAPI documents
# (schemathesis, from PyPI, pinned in the Makefile). `caseflow run` starts on SQLite in a
# temporary folder, on free ports; each service's document is fuzzed with the operator's key.
#
# Checks: no 5xx (not_a_server_error), no status code the document does not list
# (status_code_conformance), the documented content types (content_type_conformance),
# responses that match their documented schemas (response_schema_conformance), and no
# schema-valid request refused (positive_data_acceptance). The rules a JSON Schema cannot state
# (times inside the district's records, from before to, fields that go together) are in
# tests/api_fuzz_hooks.py; tests/api-fuzz.toml holds the one per-operation setting.
#
# Usage: tests/api-fuzz.sh SCHEMATHESIS CASEFLOW_BINARY
# Environment: API_FUZZ_EXAMPLES (per operation, default 10), API_FUZZ_SEED (default 1).
set -euo pipefail
schemathesis=$1
caseflow=$(realpath "$2")
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

read -r -a ports < <(python3 -c 'import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
sed -e "s/127.0.0.1:8081/127.0.0.1:${ports[0]}/g" -e "s/127.0.0.1:8082/127.0.0.1:${ports[1]}/g" \
    -e "s/127.0.0.1:8083/127.0.0.1:${ports[2]}/g" -e "s/127.0.0.1:8084/127.0.0.1:${ports[3]}/g" \
    -e 's/log_format = "pretty"/log_format = "json"/' \
    "$root/deploy/caseflow.toml" > "$dir/caseflow.toml"
(cd "$dir" && exec "$caseflow" run --config caseflow.toml > run.log 2>&1) &
pid=$!
for port in "${ports[@]}"; do
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/health/readyz" > /dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "caseflow exited while starting:"; tail -n 20 "$dir/run.log"; exit 1; }
    sleep 0.2
  done
done

status=0
names=(intake routing evaluation reporting)
for i in 0 1 2 3; do
  echo "== ${names[$i]}"
  SCHEMATHESIS_HOOKS=api_fuzz_hooks PYTHONPATH="$root/tests" \
  "$schemathesis" --config-file "$root/tests/api-fuzz.toml" run "http://127.0.0.1:${ports[$i]}/openapi.json" \
    -H "Authorization: Bearer dev-admin-key" \
    --checks "${API_FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance}" \
    --max-examples "${API_FUZZ_EXAMPLES:-10}" --seed "${API_FUZZ_SEED:-1}" --no-color || status=1
done
if ! kill -0 "$pid" 2>/dev/null; then
  echo "caseflow died during the fuzzing:"; tail -n 20 "$dir/run.log"; status=1
fi
exit $status
