#!/usr/bin/env bash
# A roll-out on one machine: 8 daemons (one origin holding 16 MiB, every
# daemon uploading at most 4 MiB/s) and 7 `cairn get --out` of the repo at
# once. Fails unless every output's sha256 matches and the origin served
# at most 2 copies (the receivers serve each other what they have).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
go run ./bench swarm -bin "$CAIRN" -nodes 8 -size 16MiB -upload 4MiB -max-origin-copies 2 -timeout 5m ||
  fail "bench swarm failed"
echo "swarm: ok"
