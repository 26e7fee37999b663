#!/usr/bin/env bash
# Prints the configuration the replica benchmarks share: one route whose one
# branch has N replicas (each a branch of its own, with its own /metrics series).
#   tools/wide-conf.sh N
set -euo pipefail
[ $# = 1 ] || { echo "usage: tools/wide-conf.sh N" >&2; exit 2; }
cat <<CONF
workers = { loops = 1; pool = 1; };
routes = (
  { name = "wide"; http = "/wide/{id}"; policy = "besteffort"; budget_ms = 1000;
    branches = ( { name = "r"; downstream = "sim"; replicas = $1; } ); }
);
CONF
