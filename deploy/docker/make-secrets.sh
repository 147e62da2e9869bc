#!/usr/bin/env bash
# Creates deploy/docker/secrets/ for compose.yaml: random passwords and keys,
# made once and never committed (.gitignore, Dockerfile.dockerignore). Prints
# nothing secret; the files are readable by their owner only.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets"
mkdir -p "$DIR"
chmod 700 "$DIR"
umask 077
rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
make() { # file generator...
  local f="$DIR/$1"
  shift
  [ -s "$f" ] || "$@" >"$f"
}
make proxy-backend-password rand 24
make proxy-client-password rand 24
make seal-key rand 32
make rabbitmq-password rand 24
make s3-access-key rand 10
make s3-secret-key rand 24
[ -s "$DIR/sftp-key" ] || ssh-keygen -q -t ed25519 -N '' -C haoka-batch -f "$DIR/sftp-key"
client="$(cat "$DIR/proxy-client-password")"
rabbit="$(cat "$DIR/rabbitmq-password")"
# The proxy's full config: the image's settings plus the client account.
{
  cat "$(dirname "$DIR")/config/proxy.toml"
  printf '\n[[users]]\nname = "haoka"\npassword = "%s"\nschemas = ["haoka"]\n' "$client"
} >"$DIR/proxy.toml"
printf 'HAOKA_DATABASE_URL=mysql://haoka:%s@lb-proxy:3307/haoka\nHAOKA_AMQP_URL=amqp://haoka:%s@rabbitmq:5672/%%2f\n' \
  "$client" "$rabbit" >"$DIR/haoka.env"
printf 'RABBITMQ_DEFAULT_USER=haoka\nRABBITMQ_DEFAULT_PASS=%s\n' "$rabbit" >"$DIR/rabbitmq.env"
printf 'MINIO_ROOT_USER=%s\nMINIO_ROOT_PASSWORD=%s\n' \
  "$(cat "$DIR/s3-access-key")" "$(cat "$DIR/s3-secret-key")" >"$DIR/s3.env"
echo "secrets in $DIR"
