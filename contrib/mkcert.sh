#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A private CA and a server certificate it signs, for TLS in the quick start
# (./quickstart.sh serve --tls) and the tests: DIR/ca.crt (what clients are given to trust),
# DIR/ca.key, DIR/server.crt and DIR/server.key, and DIR/server.pem (both, as lighttpd takes
# them). Made once: kept when DIR/server.pem exists. The certificate names every HOST given,
# localhost and 127.0.0.1. usage: mkcert.sh DIR [HOST...]
set -eu
dir=$1
shift
[ -s "$dir/server.pem" ] && exit 0
mkdir -p "$dir"
chmod 700 "$dir"
san=
for h in "$@" localhost 127.0.0.1; do
	case $h in
	*[!0-9.]*) san="$san,DNS:$h" ;;
	*) san="$san,IP:$h" ;;
	esac
done
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
	-subj "/CN=Octoserve quick start CA" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=${1:-localhost}" \
	-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
	"${san#,}" > "$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
	-days 825 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
cat "$dir/server.crt" "$dir/server.key" > "$dir/server.pem.tmp"
mv "$dir/server.pem.tmp" "$dir/server.pem"
chmod 644 "$dir/ca.crt" "$dir/server.crt"
rm -f "$dir/server.csr" "$dir/server.ext"
