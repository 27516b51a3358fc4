#!/usr/bin/env bash
# Load test: one upstream and one Caddy per configuration of variants.txt, all running side by side,
# each measured with the same wrk settings (after a warm-up), in interleaved rounds; prints the median
# requests/s of each and its ratio against its baseline. A benchmark run by hand, on loopback only.
#
#   integration/load/run.sh [variant...]      (default: every variant of variants.txt)
#
# Settings (environment): THREADS=2 CONNECTIONS=32 DURATION=10s WARMUP=3s ROUNDS=3, and CADDY=<binary>
# to measure a given Caddy instead of building cmd/caddy. Needs wrk, curl, Go; the variants that use a
# user pool also need node (npm ci --prefix integration/js), the AWS CLI and python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
ROUNDS=${ROUNDS:-3}

die() { echo "run.sh: $*" >&2; exit 1; }
for tool in wrk curl go python3; do
	command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/caddy-cognito-load.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL LOG PID: until something answers HTTP at URL (any status), or fail showing LOG when
# the process PID has exited or 30 s have passed.
wait_http() {
	for _ in $(seq 1 300); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	cat "$2" >&2
	die "nothing answers at $1"
}

# The variants to run: all of variants.txt, or the ones named on the command line (in the file's order).
declare -A caddyfile lua baseline
names=()
while read -r name cf script base; do
	[[ -z "$name" || "$name" == \#* ]] && continue
	caddyfile[$name]=$cf lua[$name]=$script baseline[$name]=$base
	if [ $# -eq 0 ] || [[ " $* " == *" $name "* ]]; then names+=("$name"); fi
done <"$here/variants.txt"
for want in "$@"; do [ -n "${caddyfile[$want]:-}" ] || die "no variant $want in variants.txt"; done
[ ${#names[@]} -gt 0 ] || die "no variant to run"

# The Caddy binary.
if [ -z "${CADDY:-}" ]; then
	[ -d "$root/cmd/caddy" ] || die "cmd/caddy does not exist yet: set CADDY to a Caddy binary"
	echo "building cmd/caddy..."
	(cd "$root" && go build -o "$work/caddy" ./cmd/caddy)
	CADDY=$work/caddy
fi

# The upstream.
(cd "$here/upstream" && go build -o "$work/upstream" .)
upstream_port=$(free_port)
"$work/upstream" -addr "127.0.0.1:$upstream_port" >"$work/upstream.log" 2>&1 &
pids+=($!)
export UPSTREAM=127.0.0.1:$upstream_port
wait_http "http://$UPSTREAM/" "$work/upstream.log" $!

# A user pool in cognito-local, with a signed-in user, for the variants that mention one.
uses_user_pool=false
for name in "${names[@]}"; do
	files=("$here/variants/${caddyfile[$name]}")
	[ "${lua[$name]}" = - ] || files+=("$here/variants/${lua[$name]}")
	grep -qE 'USER_POOL_|ACCESS_TOKEN|ID_TOKEN' "${files[@]}" && uses_user_pool=true
done
if $uses_user_pool; then
	command -v aws >/dev/null || die "the AWS CLI is not installed (apt-get install awscli)"
	start_js="$root/integration/js/node_modules/cognito-local/lib/bin/start.js"
	[ -f "$start_js" ] || die "cognito-local is not installed: npm ci --prefix integration/js"
	cognito_port=$(free_port)
	mkdir "$work/cognito"
	(cd "$work/cognito" && PORT=$cognito_port HOST=127.0.0.1 AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1 \
		exec node "$start_js") >"$work/cognito.log" 2>&1 &
	pids+=($!)
	endpoint=http://127.0.0.1:$cognito_port
	wait_http "$endpoint/" "$work/cognito.log" $!
	idp() {
		env AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
			AWS_PAGER= AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDLOAD AWS_SECRET_ACCESS_KEY=load-dummy \
			aws cognito-idp --endpoint-url "$endpoint" --output text "$@"
	}
	user=load@example.com password=Load-Passw0rd!
	USER_POOL_ID=$(idp create-user-pool --pool-name load --username-attributes email --query UserPool.Id)
	USER_POOL_CLIENT_ID=$(idp create-user-pool-client --user-pool-id "$USER_POOL_ID" --client-name load \
		--explicit-auth-flows ALLOW_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH --query UserPoolClient.ClientId)
	idp admin-create-user --user-pool-id "$USER_POOL_ID" --username "$user" --message-action SUPPRESS \
		--user-attributes Name=email,Value="$user" >/dev/null
	idp admin-set-user-password --user-pool-id "$USER_POOL_ID" --username "$user" --password "$password" --permanent
	idp create-group --user-pool-id "$USER_POOL_ID" --group-name readers >/dev/null
	idp admin-add-user-to-group --user-pool-id "$USER_POOL_ID" --username "$user" --group-name readers
	read -r ACCESS_TOKEN ID_TOKEN < <(idp initiate-auth --no-sign-request --auth-flow USER_PASSWORD_AUTH \
		--client-id "$USER_POOL_CLIENT_ID" --auth-parameters "USERNAME=$user,PASSWORD=$password" \
		--query 'AuthenticationResult.[AccessToken,IdToken]')
	USER_POOL_ISSUER=$endpoint/$USER_POOL_ID
	USER_POOL_JWKS_URL=$USER_POOL_ISSUER/.well-known/jwks.json
	export USER_POOL_ID USER_POOL_CLIENT_ID USER_POOL_ISSUER USER_POOL_JWKS_URL ACCESS_TOKEN ID_TOKEN
	echo "user pool $USER_POOL_ID in cognito-local, client $USER_POOL_CLIENT_ID, $user signed in"
fi

# One Caddy per variant, all running before the first measurement.
declare -A url
for name in "${names[@]}"; do
	port=$(free_port)
	dir=$work/caddy-$name
	mkdir -p "$dir/storage"
	cat "$here/global.caddyfile" "$here/variants/${caddyfile[$name]}" >"$dir/Caddyfile"
	(cd "$dir" && SITE=http://127.0.0.1:$port STORAGE=$dir/storage XDG_CONFIG_HOME=$dir XDG_DATA_HOME=$dir \
		exec "$CADDY" run --config Caddyfile --adapter caddyfile) >"$dir/log" 2>&1 &
	pids+=($!)
	url[$name]=http://127.0.0.1:$port/
	wait_http "${url[$name]}" "$dir/log" $!
done

# The signer of the SigV4 variants' requests.
if grep -q SIGNED_REQUESTS "$here/variants/"*.lua && [[ " ${names[*]} " == *" sigv4"* ]]; then
	(cd "$root" && go build -o "$work/presign" ./integration/load/presign)
fi

# sign NAME: for a variant whose Lua script reads SIGNED_REQUESTS, signs its requests again (signatures
# are valid for 5 minutes) with guest credentials of the identity pool the variant serves.
sign() {
	local name=$1
	[ "${lua[$name]}" != - ] && grep -q SIGNED_REQUESTS "$here/variants/${lua[$name]}" || return 0
	local pool
	pool=$(grep -oE 'cognito_identity_pool /identity\* [a-z0-9-]+:[0-9a-f-]+' "$here/variants/${caddyfile[$name]}" | awk '{ print $3 }')
	"$work/presign" -identity "${url[$name]}identity" -pool "$pool" -api "${url[$name]%/}" \
		-out "$work/caddy-$name/signed.txt" || die "variant $name: could not sign its requests"
}

# measure NAME DURATION: runs wrk against the variant and prints its requests/s, or fails when any
# response was not 2xx/3xx or a socket failed (a fast 401 is no throughput).
measure() {
	local name=$1 script=()
	[ "${lua[$name]}" = - ] || script=(-s "$here/variants/${lua[$name]}")
	sign "$name"
	local out
	out=$(SIGNED_REQUESTS=$work/caddy-$name/signed.txt wrk -t "$THREADS" -c "$CONNECTIONS" -d "$2" "${script[@]}" "${url[$name]}")
	if grep -qE 'Non-2xx or 3xx responses|Socket errors' <<<"$out"; then
		echo "$out" >&2
		tail -n 20 "$work/caddy-$name/log" >&2
		die "variant $name: failed responses (above); its measurement would mean nothing"
	fi
	awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

echo "wrk -t $THREADS -c $CONNECTIONS -d $DURATION (warm-up $WARMUP), $ROUNDS round(s), $(nproc) cores; $("$CADDY" version | cut -d' ' -f1)"
: >"$work/results"
for round in $(seq 1 "$ROUNDS"); do
	for name in "${names[@]}"; do
		measure "$name" "$WARMUP" >/dev/null
		r=$(measure "$name" "$DURATION")
		echo "$name $r" >>"$work/results"
	done
	echo "round $round/$ROUNDS done" >&2
done

median() { # the median requests/s of a variant over the rounds
	awk -v n="$1" '$1 == n { print $2 }' "$work/results" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
declare -A rps
printf '%-18s %12s   %s\n' variant "requests/s" "ratio against baseline"
for name in "${names[@]}"; do
	rps[$name]=$(median "$name")
	base=${baseline[$name]}
	if [ "$base" = - ]; then
		printf '%-18s %12.0f   %s\n' "$name" "${rps[$name]}" "(baseline)"
	elif [ -n "${rps[$base]:-}" ]; then
		printf '%-18s %12.0f   %.3f of %s\n' "$name" "${rps[$name]}" "$(awk -v a="${rps[$name]}" -v b="${rps[$base]}" 'BEGIN { print a / b }')" "$base"
	else
		printf '%-18s %12.0f   (%s not run)\n' "$name" "${rps[$name]}" "$base"
	fi
done
