#!/usr/bin/env bash
# Back up the Compose deployment: a PostgreSQL dump and the usage table of ClickHouse, taken
# together so that a restore matches usage with the accounts that imported it. Run from the
# repository root after `. deploy/env.sh`; files go to deploy/backups/ (see README.md).
set -euo pipefail

compose=(docker compose -f deploy/compose.yaml)
stamp=$(date +%Y-%m-%dT%H%M)
out=deploy/backups
mkdir -p "$out"

"${compose[@]}" exec -T postgres \
  pg_dump -U spendpilot --format=custom spendpilot > "$out/spendpilot-$stamp.pgdump"

"${compose[@]}" exec -T clickhouse clickhouse-client \
  --user spendpilot --password "$CLICKHOUSE_PASSWORD" --database spendpilot \
  --query "SELECT * FROM llm_usage FORMAT Native" | gzip > "$out/llm_usage-$stamp.native.gz"

echo "wrote $out/spendpilot-$stamp.pgdump and $out/llm_usage-$stamp.native.gz"
