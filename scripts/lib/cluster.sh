# cluster.sh — start and stop a throwaway PostgreSQL 15 cluster in a temporary directory on
# a free port. Sourced by the test, demo and benchmark scripts.
#
#   rv_cluster_start   initdb + start; exports PGHOST, PGPORT, PGUSER; registers the stop
#   rv_cluster_stop    stop and remove the directory (also run on exit)
#
# PostgreSQL refuses to run as root, so as root the server runs as the postgres OS user
# (created by the postgresql-15 package); clients connect over the socket directory.

rv_pgbin() { echo "$(pg_config --bindir)"; }

# Run a server-side command as the cluster's OS user.
rv_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

rv_free_port() {
	local p
	for p in $(seq 55432 56431); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	echo "no free port between 55432 and 56431" >&2
	return 1
}

rv_cluster_start() {
	local bin port
	bin=$(rv_pgbin)
	RV_CLUSTER_DIR=$(mktemp -d /tmp/relvec-pg.XXXXXX)
	chmod 755 "$RV_CLUSTER_DIR"
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$RV_CLUSTER_DIR"; fi
	port=$(rv_free_port) || return 1
	rv_as_owner "$bin/initdb" -D "$RV_CLUSTER_DIR/data" -U postgres -A trust -E UTF8 \
		--no-sync >"$RV_CLUSTER_DIR/initdb.log" 2>&1 || { cat "$RV_CLUSTER_DIR/initdb.log"; return 1; }
	rv_as_owner "$bin/pg_ctl" -D "$RV_CLUSTER_DIR/data" -l "$RV_CLUSTER_DIR/server.log" -w \
		-o "-p $port -k $RV_CLUSTER_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${RV_PG_OPTS:-}" \
		start >/dev/null || { cat "$RV_CLUSTER_DIR/server.log"; return 1; }
	export PGHOST="$RV_CLUSTER_DIR" PGPORT="$port" PGUSER=postgres
	trap rv_cluster_stop EXIT
	echo "cluster: PostgreSQL $(pg_config --version | awk '{print $2}') on port $port ($RV_CLUSTER_DIR)"
}

rv_cluster_stop() {
	if [ -n "${RV_CLUSTER_DIR:-}" ] && [ -d "$RV_CLUSTER_DIR/data" ]; then
		rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$RV_CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
		rm -rf "$RV_CLUSTER_DIR"
	fi
	RV_CLUSTER_DIR=""
}
