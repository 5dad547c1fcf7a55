/*
 * device.c — the PostgreSQL face of device selection: the relvec.device GUC, the
 * relvec.pipeline_cache_dir GUC, and relvec_devices() / relvec_backend(). Setting a GUC only
 * records the choice in the bridge context; Vulkan is opened by the bridge on the first
 * heavy operation that needs it, in a backend, never in the postmaster.
 *
 * The pipeline cache directory (default "relvec_pipeline_cache": relative paths are taken
 * from the data directory) keeps compiled shaders between backends, one file per device
 * and driver, so that only the first backend after an upgrade of the driver or of relvec
 * compiles them. Only a superuser may point it elsewhere (the server writes files there).
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "relvec_pg.h"

static char *device_spec = NULL;
static char *pipeline_cache_dir = NULL;

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

/* The directory a relvec.pipeline_cache_dir value names: relative to the data directory. */
static void
resolve_cache_dir(const char *val, char *buf, size_t size)
{
	if (val == NULL || val[0] == '\0')
		buf[0] = '\0';
	else if (is_absolute_path(val) || DataDir == NULL)
		snprintf(buf, size, "%s", val);
	else
		snprintf(buf, size, "%s/%s", DataDir, val);
}

/* A relvec.pipeline_cache_dir value is valid if the resolved path fits the bridge. */
static bool
check_cache_dir(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	char		path[RV_PATH_MAX + MAXPGPATH];

	resolve_cache_dir(*newval, path, sizeof(path));
	if (strlen(path) >= RV_PATH_MAX)
	{
		GUC_check_errmsg("pipeline cache directory of %zu bytes is too long", strlen(path));
		return false;
	}
	return true;
}

/* Apply relvec.pipeline_cache_dir to the bridge context (from the next device open). */
void
rvpg_apply_pipeline_cache_dir(rv_ctx *ctx)
{
	char		path[RV_PATH_MAX + MAXPGPATH];

	resolve_cache_dir(pipeline_cache_dir, path, sizeof(path));
	if (rv_set_pipeline_cache_dir(ctx, path) != RV_OK)
		rv_clear_error(ctx);	/* checked when set: cannot happen */
}

static void
assign_cache_dir(const char *newval, void *extra pg_attribute_unused())
{
	/* the hook runs before the variable changes: apply the new value, not the old one */
	char		path[RV_PATH_MAX + MAXPGPATH];

	resolve_cache_dir(newval, path, sizeof(path));
	if (rv_set_pipeline_cache_dir(rvpg_ctx(), path) != RV_OK)
		rv_clear_error(rvpg_ctx());
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
	DefineCustomStringVariable("relvec.pipeline_cache_dir",
							   "Directory where compiled Vulkan pipelines are kept between backends.",
							   "One file per device and driver, written atomically; a damaged or "
							   "foreign file is ignored. A relative path is taken from the data "
							   "directory; an empty string keeps no cache.",
							   &pipeline_cache_dir, "relvec_pipeline_cache", PGC_SUSET, 0,
							   check_cache_dir, assign_cache_dir, NULL);
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
