#!/bin/sh
# Creates ./secrets/ for compose.yaml with random values (development and evaluation).
# Existing files are kept, so the KEK and passwords survive a re-run.
set -eu
cd "$(dirname "$0")"
umask 022
mkdir -p secrets
chmod 0700 secrets

new() { # new FILE VALUE: write once
  if [ ! -s "secrets/$1" ]; then
    printf '%s\n' "$2" > "secrets/$1"
    echo "created secrets/$1"
  fi
}
rand_alnum() { head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$1"; }

new postgres-password "$(rand_alnum 32)"
new database-url "postgres://sealpost:$(cat secrets/postgres-password)@postgres:5432/sealpost"
new s3-access-key-id "sealpost$(rand_alnum 12)"
new s3-secret-access-key "$(rand_alnum 40)"
# keys.server_kek: standard base64 WITHOUT padding of 32 random bytes (43 characters).
new server-kek "$(head -c 32 /dev/urandom | base64 | tr -d '=\n')"
# Readable by uid 10001 inside the containers (compose bind-mounts keep host owner and mode);
# the 0700 directory keeps other host users out.
chmod 0644 secrets/*
