#!/usr/bin/env bash
# Installs the system programs fraudstream's local infrastructure and tests need, when missing:
# Java 17+ and Maven (the Kafka broker, assembled from Maven Central), redis-server, kcat,
# chromium (the integration tests open the backtest report in it, headless) and prometheus (the
# integration tests evaluate every Grafana panel's query in it).
# Debian/Ubuntu only (apt-get); elsewhere it says what to install and fails.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: java, mvn, redis-server, kcat, chromium and prometheus are present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "error: installing ${missing[*]} needs root (or sudo)" >&2
    exit 1
  fi
fi

echo "system packages: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
