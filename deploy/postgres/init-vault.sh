#!/bin/sh
# Run once by the postgres image, when its volume is first initialised
# (/docker-entrypoint-initdb.d): the vault's own login role, owner of its
# database and nothing more — not a superuser. As the owner it may create the
# pg_trgm extension (trusted since PostgreSQL 13) the connection search uses.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v password="$VAULT_DB_PASSWORD" <<'SQL'
CREATE ROLE vault LOGIN PASSWORD :'password';
CREATE DATABASE vault OWNER vault;
SQL
