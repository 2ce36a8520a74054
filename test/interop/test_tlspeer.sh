#!/usr/bin/env bash
# Smoke test of tlspeer, the independent (Go crypto/tls) mTLS peer of the
# interop tests: against itself, and against OpenSSL's own s_server and
# s_client, with certificates from `skiff certs`. Proves the tool before it is
# pointed at skiff. Prints `ok - ...` / `not ok - ...` and `N passed, N failed`;
# exits non-zero when anything failed. Traffic stays on 127.0.0.1, on ports
# the kernel picks (port 0), and every process it starts is stopped on exit.
#
#   BUILD=dir     build root (default build): tlspeer goes to $BUILD/interop
#   SKIFF=path    the skiff binary for `skiff certs` (default $BUILD/skiff)
set -uo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
SKIFF=${SKIFF:-$BUILD/skiff}
TLSPEER=$BUILD/interop/tlspeer

die() { echo "test_tlspeer: $*" >&2; exit 1; }

command -v openssl >/dev/null || die "openssl is not installed"
command -v python3 >/dev/null || die "python3 is not installed"
bash test/interop/go/build.sh >/dev/null || die "building tlspeer failed (test/interop/go/build.sh)"
if [[ ! -x $SKIFF ]]; then
	make -s "$SKIFF" >/dev/null || die "$SKIFF does not exist and does not build"
fi

TMP=$(mktemp -d /tmp/skiff-tlspeer.XXXXXX)
STARTED=()
cleanup() {
	local pid
	for pid in "${STARTED[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0 FAIL=0
ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() {
	echo "not ok - $1"
	shift
	local l
	for l in "$@"; do echo "#   $l"; done
	FAIL=$((FAIL + 1))
}

# json_fields JSON KEY...: the fields of a JSON line, one per output line
# (strings bare, booleans true/false, lists comma-joined, missing empty).
# One python3 per line checked: its start-up is the slow part here.
json_fields() {
	python3 -I -S -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except Exception:
    d = {}
for k in sys.argv[2:]:
    v = d.get(k, "")
    if isinstance(v, bool): v = "true" if v else "false"
    if isinstance(v, list): v = ",".join(map(str, v))
    print(str(v).replace("\n", "\\n"))' "$@"
}
json_get() { json_fields "$1" "$2"; }

# ---- certificates ---------------------------------------------------------------
TD=example.org
C=$TMP/certs
certs() { "$SKIFF" certs "$@" >/dev/null 2>"$TMP/certs.err" || die "skiff certs $*: $(cat "$TMP/certs.err")"; }
certs ca --out "$C/ca" --trust-domain $TD
certs ca --out "$C/ca2" --trust-domain $TD
certs issue --ca "$C/ca" --spiffe spiffe://$TD/ns/t/sa/server --ttl 1h --out "$C/server"
certs issue --ca "$C/ca" --spiffe spiffe://$TD/ns/t/sa/client --ttl 1h --out "$C/client"
certs issue --ca "$C/ca2" --spiffe spiffe://$TD/ns/t/sa/client --ttl 1h --out "$C/client-other-ca"
certs issue --ca "$C/ca" --spiffe spiffe://$TD/ns/t/sa/client --out "$C/client-expired" \
	--not-before -2h --not-after -1h
SERVER_ID=spiffe://$TD/ns/t/sa/server
CLIENT_ID=spiffe://$TD/ns/t/sa/client

# client DIR [args]: tlspeer client with the cert of DIR, trusting the dev CA.
client_with() {
	local dir=$1
	shift
	"$TLSPEER" client --cert "$C/$dir/cert.pem" --key "$C/$dir/key.pem" --ca "$C/ca/ca.pem" \
		--timeout 5s "$@" 2>>"$TMP/client.err"
}

# ---- servers --------------------------------------------------------------------
# start_tlspeer NAME [args]: a tlspeer server on a free port; sets PORT_<NAME>.
start_tlspeer() {
	local name=$1 i port=""
	shift
	"$TLSPEER" server --listen 127.0.0.1:0 --cert "$C/server/cert.pem" --key "$C/server/key.pem" \
		--ca "$C/ca/ca.pem" "$@" >"$TMP/$name.log" 2>"$TMP/$name.err" &
	STARTED+=($!)
	for i in $(seq 50); do
		port=$(head -n 1 "$TMP/$name.log" 2>/dev/null | sed -n 's/.*"addr":"127\.0\.0\.1:\([0-9]*\)".*/\1/p')
		[[ -n $port ]] && break
		sleep 0.1
	done
	[[ -n $port ]] || die "tlspeer server $name did not start: $(cat "$TMP/$name.err")"
	printf -v "PORT_$name" '%s' "$port"
}

# start_s_server NAME [args]: openssl s_server on a free port; sets PORT_<NAME>.
start_s_server() {
	local name=$1 i port=""
	shift
	openssl s_server -accept 127.0.0.1:0 -cert "$C/server/cert.pem" -key "$C/server/key.pem" \
		-CAfile "$C/ca/ca.pem" "$@" </dev/null >"$TMP/$name.log" 2>&1 &
	STARTED+=($!)
	for i in $(seq 50); do
		port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/$name.log" 2>/dev/null)
		[[ -n $port ]] && break
		sleep 0.1
	done
	[[ -n $port ]] || die "openssl s_server $name did not start: $(cat "$TMP/$name.log")"
	printf -v "PORT_$name" '%s' "$port"
}

# server_line NAME CLIENT_JSON: the "conn" line server NAME logged for the
# connection of that client line (matched on the client's local address;
# waits up to 3 s, as the server logs when the connection ends).
server_line() {
	local local_addr i line
	local_addr=$(json_get "$2" local)
	[[ -n $local_addr ]] || return 1
	for i in $(seq 30); do
		line=$(grep -F "\"remote\":\"$local_addr\"" "$TMP/$1.log" | head -n 1)
		[[ -n $line ]] && { echo "$line"; return 0; }
		sleep 0.1
	done
	echo "(no line for $local_addr in $1's log)"
	return 1
}

# expect_fields DESC JSON [KEY=VALUE...]: each KEY of the JSON line has VALUE.
expect_fields() {
	local desc=$1 out=$2 kv i bad=() keys=() want=() got=()
	shift 2
	for kv in "$@"; do keys+=("${kv%%=*}"); want+=("${kv#*=}"); done
	mapfile -t got < <(json_fields "$out" "${keys[@]}")
	for i in "${!keys[@]}"; do
		[[ ${got[$i]:-} == "${want[$i]}" ]] || bad+=("${keys[$i]}: got '${got[$i]:-}', want '${want[$i]}'")
	done
	if [[ ${#bad[@]} -eq 0 ]]; then ok "$desc"; else not_ok "$desc" "${bad[@]}" "line: $out"; fi
}

# ---- tlspeer client <-> tlspeer server --------------------------------------------
start_tlspeer echo --echo --alpn skiff-tcp
start_tlspeer pong --reply 'pong\n'
start_tlspeer picky --echo --require-spiffe spiffe://$TD/ns/t/sa/someone-else

out=$(client_with client --addr 127.0.0.1:$PORT_echo --server-spiffe $SERVER_ID --alpn skiff-tcp \
	--send hello --expect hello)
rc=$?
expect_fields "tlspeer <-> tlspeer: mTLS accepted, TLS 1.3, ALPN, server id, echo (exit $rc)" "$out" \
	ok=true tls_version=TLS1.3 alpn=skiff-tcp peer_spiffe=$SERVER_ID reply=hello
line=$(server_line echo "$out")
expect_fields "tlspeer server logs the client's SPIFFE id" "$line" ok=true peer_spiffe=$CLIENT_ID alpn=skiff-tcp

out=$(client_with client --addr 127.0.0.1:$PORT_echo --alpn skiff-tcp --send ping --expect ping \
	--count 4 --new-conn-each)
expect_fields "tlspeer <-> tlspeer: 4 fresh connections, 3 resumed with a TLS 1.3 ticket" "$out" \
	ok=true ok_count=4 fail_count=0 full_count=1 resumed_count=3
sleep 0.2
if grep '"resumed":true' "$TMP/echo.log" | grep -qF "\"peer_spiffe\":\"$CLIENT_ID\""; then
	ok "tlspeer server: resumed connections still report the client's id"
else
	not_ok "tlspeer server: resumed connections still report the client's id" "$(tail -n 4 "$TMP/echo.log")"
fi

out=$(client_with client --addr 127.0.0.1:$PORT_echo --max-version 1.2 --send hi --expect hi)
expect_fields "tlspeer <-> tlspeer: TLS 1.2 when the client caps it" "$out" ok=true tls_version=TLS1.2

out=$(client_with client --addr 127.0.0.1:$PORT_echo --server-spiffe spiffe://$TD/ns/t/sa/not-the-server \
	--send hi --expect hi)
rc=$?
expect_fields "wrong expected server SPIFFE id: client refuses (exit $rc)" "$out" ok=false error_kind=verify
[[ $rc -eq 1 ]] || not_ok "wrong expected server SPIFFE id: exit status 1" "got $rc"
line=$(server_line echo "$out")
expect_fields "  ... and the server sees the client's alert" "$line" ok=false error_kind=peer_refused

out=$(client_with client --addr 127.0.0.1:$PORT_picky --send hi --expect hi)
expect_fields "server requiring another client SPIFFE id: client refused" "$out" ok=false error_kind=peer_refused
line=$(server_line picky "$out")
expect_fields "  ... server logs the id mismatch" "$line" ok=false error_kind=verify peer_spiffe=""
grep -q "peer id $CLIENT_ID, want spiffe://$TD/ns/t/sa/someone-else" <<<"$line" ||
	not_ok "  ... with both ids in the reason" "line: $line"

out=$(client_with client-other-ca --addr 127.0.0.1:$PORT_echo --send hi --expect hi)
expect_fields "client certificate from another CA: refused by tlspeer server" "$out" ok=false error_kind=peer_refused
line=$(server_line echo "$out")
expect_fields "  ... server logs an untrusted chain" "$line" ok=false error_kind=verify
grep -q "unknown authority" <<<"$line" || not_ok "  ... reason names the unknown authority" "line: $line"

out=$("$TLSPEER" client --addr 127.0.0.1:$PORT_echo --cert "$C/client/cert.pem" --key "$C/client/key.pem" \
	--ca "$C/ca2/ca.pem" --send hi --expect hi)
expect_fields "client trusting another CA: refuses the server's chain" "$out" ok=false error_kind=verify

out=$("$TLSPEER" client --addr 127.0.0.1:$PORT_echo --no-cert --ca "$C/ca/ca.pem" --send hi --expect hi)
expect_fields "no client certificate: refused" "$out" ok=false error_kind=peer_refused
line=$(server_line echo "$out")
expect_fields "  ... server logs no_peer_cert" "$line" ok=false error_kind=no_peer_cert

out=$(client_with client-expired --addr 127.0.0.1:$PORT_echo --send hi --expect hi)
expect_fields "expired client certificate: refused" "$out" ok=false error_kind=peer_refused
line=$(server_line echo "$out")
grep -q "expired" <<<"$line" && ok "  ... server logs it as expired" || not_ok "  ... server logs it as expired" "line: $line"

out=$(client_with client --addr 127.0.0.1:$PORT_echo --alpn h2 --send hi --expect hi)
expect_fields "ALPN with nothing in common: refused" "$out" ok=false

out=$("$TLSPEER" client --addr 127.0.0.1:$PORT_echo --plaintext --send 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
rc=$?
expect_fields "plaintext client to a TLS port: no reply (exit $rc)" "$out" ok=false error_kind=closed
line=$(server_line echo "$out")
expect_fields "  ... server logs plaintext" "$line" ok=false error_kind=plaintext

# ---- tlspeer client -> openssl s_server ---------------------------------------------
start_s_server ossl -Verify 1 -verify_return_error -www -alpn skiff-tcp
serial=$(openssl x509 -in "$C/server/cert.pem" -noout -serial | sed 's/^serial=//' | tr A-F a-f | sed 's/^0*//')

out=$(client_with client --addr 127.0.0.1:$PORT_ossl --server-spiffe $SERVER_ID --alpn skiff-tcp \
	--send 'GET / HTTP/1.0\r\n\r\n')
expect_fields "tlspeer -> openssl s_server: mTLS, TLS 1.3, ALPN, id and serial of the server" "$out" \
	ok=true tls_version=TLS1.3 alpn=skiff-tcp peer_spiffe=$SERVER_ID serial="$serial"
[[ $(json_get "$out" reply) == "HTTP/1.0 200 ok"* ]] && ok "  ... s_server answered the request" ||
	not_ok "  ... s_server answered the request" "line: $out"

out=$(client_with client --addr 127.0.0.1:$PORT_ossl --alpn skiff-tcp --send 'GET / HTTP/1.0\r\n\r\n' \
	--count 3 --new-conn-each)
expect_fields "tlspeer -> openssl s_server: OpenSSL's tickets resume Go sessions" "$out" \
	ok=true ok_count=3 full_count=1 resumed_count=2 serials_seen="$serial"

out=$(client_with client --addr 127.0.0.1:$PORT_ossl --max-version 1.2 --send 'GET / HTTP/1.0\r\n\r\n')
expect_fields "tlspeer -> openssl s_server: TLS 1.2" "$out" ok=true tls_version=TLS1.2

out=$(client_with client-other-ca --addr 127.0.0.1:$PORT_ossl --send 'GET / HTTP/1.0\r\n\r\n')
expect_fields "tlspeer -> openssl s_server: client certificate from another CA refused" "$out" \
	ok=false error_kind=peer_refused

out=$("$TLSPEER" client --addr 127.0.0.1:$PORT_ossl --no-cert --ca "$C/ca/ca.pem" --send 'GET / HTTP/1.0\r\n\r\n')
expect_fields "tlspeer -> openssl s_server: no client certificate refused" "$out" ok=false error_kind=peer_refused

out=$(client_with client --addr 127.0.0.1:$PORT_ossl --server-spiffe spiffe://$TD/ns/t/sa/not-the-server \
	--send 'GET / HTTP/1.0\r\n\r\n')
expect_fields "tlspeer -> openssl s_server: wrong expected SPIFFE id refused" "$out" ok=false error_kind=verify

# ---- openssl s_client -> tlspeer server ----------------------------------------------
# Only s_client talks to server "pong", one connection at a time: its Nth
# "conn" line is the Nth s_client's.
nth_line() {
	local i line
	for i in $(seq 30); do
		line=$(grep '"event":"conn"' "$TMP/$1.log" | sed -n "$2p")
		[[ -n $line ]] && { echo "$line"; return 0; }
		sleep 0.1
	done
	echo "(no conn line $2 in $1's log)"
}
reply=$(printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT_pong -quiet \
	-cert "$C/client/cert.pem" -key "$C/client/key.pem" -CAfile "$C/ca/ca.pem" \
	-verify_return_error -alpn skiff-tcp 2>"$TMP/s_client.err")
line=$(nth_line pong 1)
if [[ $reply == pong ]]; then ok "openssl s_client -> tlspeer server: reply"; else
	not_ok "openssl s_client -> tlspeer server: reply" "got '$reply'" "$(tail -n 3 "$TMP/s_client.err")"; fi
expect_fields "  ... tlspeer server verified OpenSSL's client certificate" "$line" \
	ok=true peer_spiffe=$CLIENT_ID tls_version=TLS1.3

reply=$(printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT_pong -quiet \
	-cert "$C/client-other-ca/cert.pem" -key "$C/client-other-ca/key.pem" -CAfile "$C/ca/ca.pem" \
	-verify_return_error 2>"$TMP/s_client.err")
line=$(nth_line pong 2)
expect_fields "openssl s_client with another CA's certificate: refused by tlspeer server" "$line" \
	ok=false error_kind=verify
[[ -z $reply ]] || not_ok "  ... and got no reply" "got '$reply'"

echo
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
