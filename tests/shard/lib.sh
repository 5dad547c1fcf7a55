# lib.sh — one coordinator and N shard clusters on loopback, for tests/shard and bench/.
# Sourced after scripts/lib/cluster.sh.
#
#   shard_clusters_start N   starts N+1 throwaway clusters: coordinator (PGHOST/PGPORT, as
#                            rv_cluster_start exports them) and shards 1..N, whose ports are in
#                            SHARD_PORT[i] and directories in SHARD_DIR[i]; every one has a
#                            database relvec_shard with relvec (shards) or relvec and
#                            postgres_fdw (coordinator), a foreign server shardI per shard
#                            with extensions 'relvec' and async_capable, and a user mapping.
#   shard_clusters_stop      stops all of them (also on exit)
#   sq I SQL...              psql on shard I (0 = coordinator), unaligned, stop on error

SHARD_DIR=(); SHARD_PORT=()

sq() {
	local i=$1; shift
	psql -X -q -At -v ON_ERROR_STOP=1 -h "${SHARD_DIR[$i]}" -p "${SHARD_PORT[$i]}" -U postgres -d relvec_shard "$@"
}

shard_clusters_start() {
	local n=$1 i opts=${RV_PG_OPTS:-}
	for i in $(seq 0 "$n"); do
		RV_PG_OPTS="$opts" rv_cluster_start >/dev/null || return 1
		SHARD_DIR[$i]=$RV_CLUSTER_DIR; SHARD_PORT[$i]=$PGPORT
		RV_CLUSTER_DIR=""   # rv_cluster_stop of the next start must not remove this one
		psql -X -q -h "${SHARD_DIR[$i]}" -p "${SHARD_PORT[$i]}" -U postgres -d postgres \
			-c "CREATE DATABASE relvec_shard" || return 1
		sq "$i" -c "CREATE EXTENSION relvec" || return 1
	done
	export PGHOST=${SHARD_DIR[0]} PGPORT=${SHARD_PORT[0]} PGUSER=postgres PGDATABASE=relvec_shard
	trap shard_clusters_stop EXIT
	sq 0 -c "CREATE EXTENSION postgres_fdw" || return 1
	for i in $(seq 1 "$n"); do
		sq 0 <<SQL || return 1
CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '127.0.0.1', port '${SHARD_PORT[$i]}', dbname 'relvec_shard',
	         extensions 'relvec', async_capable 'true');
CREATE USER MAPPING FOR PUBLIC SERVER shard$i OPTIONS (user 'postgres');
SQL
	done
}

shard_clusters_stop() {
	local d
	for d in "${SHARD_DIR[@]}"; do
		if [ -d "$d/data" ]; then
			rv_as_owner "$(rv_pgbin)/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null 2>&1 || true
			rm -rf "$d"
		fi
	done
	SHARD_DIR=(); SHARD_PORT=()
}
