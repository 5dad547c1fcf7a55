/*
 * device.c — the connection's device setting, SQLite's counterpart of the relvec.device
 * GUC: relvec_device() shows it, relvec_device(spec) validates and sets it ("auto", "cpu",
 * "gpu", "vulkan:N"; the bridge's messages on a bad one), and relvec_backend() tells which
 * backend ran the last heavy operation of this connection, and why.
 */
#include "relvec_sqlite.h"

/* relvec_device([spec]): the device mode, after setting it when spec is given. */
void
rvsq_device(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);

	if (argc == 1)
	{
		const char *spec = rvsq_text(argv[0]);
		rv_status	s;

		if (spec == NULL)
		{
			rvsq_fail(c, "device must not be null");
			rvsq_result_error(ctx, c, SQLITE_ERROR);
			return;
		}
		s = rv_set_device(c->ctx, spec);
		if (s != RV_OK)
		{
			rvsq_result_error(ctx, c, rvsq_bridge_fail(c, s));
			return;
		}
	}
	sqlite3_result_text(ctx, rv_device_spec(c->ctx), -1, SQLITE_TRANSIENT);
}

/* relvec_backend(): which backend ran the last heavy operation, and why. */
void
rvsq_backend(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	rvsq_conn  *c = sqlite3_user_data(ctx);

	(void) argc;
	(void) argv;
	sqlite3_result_text(ctx, rv_last_backend(c->ctx), -1, SQLITE_TRANSIENT);
}
