#!/bin/sh
# mk/deps.sh build|check|demo — make sure the Debian packages pgark needs are
# installed. As root, installs the missing ones with apt-get; otherwise prints
# the exact command to run and fails.
set -eu
what=${1:-build}

build_pkgs="gcc make pkgconf libc6-dev libpq-dev libssl-dev liblz4-dev libinih-dev libcurl4-openssl-dev libexpat1-dev"
test_pkgs="postgresql-15 postgresql-client-15 postgresql-server-dev-15 libipc-run-perl perl strace util-linux openssl curl"
case "$what" in
  build) pkgs=$build_pkgs ;;
  demo)  pkgs="$build_pkgs postgresql-15 postgresql-client-15" ;;
  check) pkgs="$build_pkgs $test_pkgs" ;;
  *) echo "usage: $0 build|check|demo" >&2; exit 2 ;;
esac

missing=""
# the S3 test server (t/s3/) runs on Node.js with npm; a machine may have them
# from elsewhere than Debian (nodesource), so look for the commands
if [ "$what" = check ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  missing=" nodejs npm"
fi
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "pgark: installing Debian packages:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends $missing >&2; then
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends $missing >&2
  fi
  exit 0
fi
echo "pgark: missing Debian packages:$missing" >&2
echo "pgark: install them with:  sudo apt-get install$missing" >&2
exit 1
