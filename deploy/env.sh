# The Compose deployment's secrets, read from deploy/secrets/ (see README.md, "Secrets").
# Source it from the repository root before any `docker compose -f deploy/compose.yaml ...`:
#   . deploy/env.sh
export POSTGRES_PASSWORD="$(cat deploy/secrets/postgres-password)"
export CLICKHOUSE_PASSWORD="$(cat deploy/secrets/clickhouse-password)"
export SPENDPILOT_SIGNING_KEY="$(cat deploy/secrets/signing-key.pem)"
export SPENDPILOT_SECRETS_KEY="$(cat deploy/secrets/secrets-key)"
