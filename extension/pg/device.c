/*
 * device.c — the PostgreSQL face of device selection: the relvec.device GUC, and
 * relvec_devices() / relvec_backend(). Setting the GUC only records the choice in the
 * bridge context; Vulkan is opened by the bridge on the first heavy operation that needs
 * it, in a backend, never in the postmaster.
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "relvec_pg.h"

static char *device_spec = NULL;

/* Validate a relvec.device value with the bridge's own parser. */
static bool
check_device(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	rv_ctx	   *ctx = rvpg_ctx();
	char		previous[64];

	strlcpy(previous, rv_device_spec(ctx), sizeof(previous));
	if (rv_set_device(ctx, *newval) != RV_OK)
	{
		GUC_check_errmsg("%s", rv_errmsg(ctx));
		GUC_check_errdetail("Valid values are \"auto\", \"cpu\", \"gpu\" and \"vulkan:N\".");
		rv_clear_error(ctx);
		return false;
	}
	/* the assign hook makes it take effect */
	(void) rv_set_device(ctx, previous);
	return true;
}

static void
assign_device(const char *newval, void *extra pg_attribute_unused())
{
	(void) rv_set_device(rvpg_ctx(), newval);
}

void
rvpg_define_device_guc(void)
{
	DefineCustomStringVariable("relvec.device",
							   "Where relvec runs heavy operations: auto, cpu, gpu or vulkan:N.",
							   "auto: a GPU if one exists (never a CPU-type Vulkan device such as lavapipe), "
							   "else the CPU, and small work stays on the CPU; gpu: the GPU auto would pick, "
							   "an error if none; vulkan:N: Vulkan device N of relvec_devices(), any type.",
							   &device_spec, "auto", PGC_USERSET, 0,
							   check_device, assign_device, NULL);
}

/* The current relvec.device value (applied to a new bridge context). */
const char *
rvpg_device_spec(void)
{
	return device_spec ? device_spec : "auto";
}

PG_FUNCTION_INFO_V1(relvec_devices);
/* relvec_devices(): one row per Vulkan device. */
Datum
relvec_devices(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	rv_ctx	   *ctx = rvpg_ctx();
	rv_device_info info[16];
	size_t		count;
	size_t		i;

	InitMaterializedSRF(fcinfo, 0);
	RVPG_CHECK(rv_list_devices(ctx, info, lengthof(info), &count));
	for (i = 0; i < count && i < lengthof(info); i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = Int32GetDatum(info[i].index);
		values[1] = CStringGetTextDatum(info[i].name);
		values[2] = CStringGetTextDatum(info[i].type);
		values[3] = CStringGetTextDatum(info[i].driver);
		values[4] = Int64GetDatum((int64) info[i].memory_bytes);
		values[5] = BoolGetDatum(info[i].auto_pick != 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(relvec_backend);
/* relvec_backend(): which backend ran the last heavy operation in this session, and why. */
Datum
relvec_backend(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(rv_last_backend(rvpg_ctx())));
}
