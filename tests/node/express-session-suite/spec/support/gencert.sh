#! /bin/sh
# Vendored from express-session v1.19.0 (test/support/gencert.sh). Changed for omnisession: the
# certificate is written to ../fixtures next to this script (not ./test/fixtures under the
# current directory), and openssl's progress output is kept out of the log unless it fails.
set -e

dir="$(dirname "$0")/../fixtures"
log="$dir/gencert.log"

openssl req -x509 -nodes -newkey rsa:2048 -keyout "$dir/server.key" -out "$dir/server.crt" -days 3650 \
-subj "/C=US/ST=Illinois/L=Chicago/O=node-express-session/CN=express-session.local" >"$log" 2>&1 \
  || { cat "$log" >&2; exit 1; }
rm -f "$log"
