/*
 * vk/pcache.c — the pipeline cache on disk: the context's VkPipelineCache is filled from a
 * file when a device opens and written back after new pipelines were built, so that a new
 * process (a new PostgreSQL backend) does not compile the shaders again.
 *
 * One file per device and driver, in the directory rv_set_pipeline_cache_dir names:
 *   relvec-pcache-VVVVVVVV-DDDDDDDD-RRRRRRRR-UUUU...UUUU.bin
 * (vendorID, deviceID, driverVersion in hex, the 16-byte pipelineCacheUUID in 32 hex
 * digits). The file is a header of 56 bytes followed by the driver's cache data:
 *   0  "RVPCACHE"   8  uint32 format version (1)   12 vendorID   16 deviceID
 *   20 driverVersion   24 pipelineCacheUUID[16]   40 uint64 data bytes
 *   48 uint64 FNV-1a 64 of the data
 * (host byte order: the file never leaves the machine it was made on). A file is used only
 * when its size, every header field and the checksum match the open device, and when the
 * data starts with a VkPipelineCacheHeaderVersionOne of the same device; anything else is
 * ignored (the driver then compiles as without a cache, and the next save replaces it).
 * Files over RV_PIPELINE_CACHE_MAX_BYTES are neither read nor written.
 *
 * Writing is atomic: the data goes to a temporary file of a name unique to the process in
 * the same directory, which is then renamed over the file, so a reader sees the old file or
 * the new one, never half of one; concurrent writers each rename a whole file and the last
 * one stays. Nothing here is an error for the caller: a cache that cannot be read or
 * written is logged at RV_LOG_DEBUG and the work goes on without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vk_internal.h"

#define PCACHE_MAGIC "RVPCACHE"
#define PCACHE_VERSION 1u
#define PCACHE_HEADER_BYTES 56

/* FNV-1a, 64 bits: detects a torn or damaged file (not an adversary: the directory is ours). */
static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
	uint64_t	h = 0xcbf29ce484222325ull;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The pipeline cache file of the open device in buf ("" when no directory is set). */
void
rvk_pcache_path(rv_ctx *ctx, char *buf, size_t size)
{
	const VkPhysicalDeviceProperties *p;
	char		uuid[2 * VK_UUID_SIZE + 1];
	uint32_t	i;

	buf[0] = '\0';
	if (ctx->pcache_dir[0] == '\0' || ctx->vk == NULL || ctx->vk->device == VK_NULL_HANDLE)
		return;
	p = &ctx->vk->props;
	for (i = 0; i < VK_UUID_SIZE; i++)
		snprintf(uuid + 2 * i, 3, "%02x", p->pipelineCacheUUID[i]);
	snprintf(buf, size, "%s/relvec-pcache-%08x-%08x-%08x-%s.bin", ctx->pcache_dir,
			 p->vendorID, p->deviceID, p->driverVersion, uuid);
}

/* Fill the 56-byte header for data of n bytes with checksum sum. */
static void
make_header(const VkPhysicalDeviceProperties *p, unsigned char *h, uint64_t n, uint64_t sum)
{
	uint32_t	v = PCACHE_VERSION;

	memset(h, 0, PCACHE_HEADER_BYTES);
	memcpy(h, PCACHE_MAGIC, 8);
	memcpy(h + 8, &v, 4);
	memcpy(h + 12, &p->vendorID, 4);
	memcpy(h + 16, &p->deviceID, 4);
	memcpy(h + 20, &p->driverVersion, 4);
	memcpy(h + 24, p->pipelineCacheUUID, VK_UUID_SIZE);
	memcpy(h + 40, &n, 8);
	memcpy(h + 48, &sum, 8);
}

/*
 * Does data of n bytes start with the driver's own header for this device
 * (VkPipelineCacheHeaderVersionOne: length, version one, vendor, device, UUID)?
 */
static int
driver_header_matches(const VkPhysicalDeviceProperties *p, const unsigned char *d, size_t n)
{
	uint32_t	len,
				ver,
				vendor,
				device;

	if (n < 16 + VK_UUID_SIZE)
		return 0;
	memcpy(&len, d, 4);
	memcpy(&ver, d + 4, 4);
	memcpy(&vendor, d + 8, 4);
	memcpy(&device, d + 12, 4);
	return len >= 16 + VK_UUID_SIZE && len <= n &&
		ver == (uint32_t) VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
		vendor == p->vendorID && device == p->deviceID &&
		memcmp(d + 16, p->pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

/*
 * Read the open device's cache file: on success *data (allocated, freed by the caller) and
 * *n hold the driver's cache data; otherwise *data is NULL (no file, or a file ignored,
 * which stats->rejected and the log tell).
 */
void
rvk_pcache_load(rv_ctx *ctx, void **data, size_t *n)
{
	rvk_state  *s = ctx->vk;
	char		path[RV_PATH_MAX + 128];
	unsigned char hdr[PCACHE_HEADER_BYTES];
	unsigned char want[PCACHE_HEADER_BYTES];
	unsigned char *buf = NULL;
	struct stat sb;
	uint64_t	len,
				sum;
	int			fd;
	const char *why = NULL;

	*data = NULL;
	*n = 0;
	rvk_pcache_path(ctx, path, sizeof(path));
	if (path[0] == '\0')
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		if (errno != ENOENT)
			rv_log(ctx, RV_LOG_DEBUG, "pipeline cache \"%s\" not read: %s", path, strerror(errno));
		return;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		why = "not a regular file";
	else if ((uint64_t) sb.st_size < PCACHE_HEADER_BYTES ||
			 (uint64_t) sb.st_size > RV_PIPELINE_CACHE_MAX_BYTES + PCACHE_HEADER_BYTES)
		why = "size out of bounds";
	else if (read(fd, hdr, PCACHE_HEADER_BYTES) != PCACHE_HEADER_BYTES)
		why = "short read";
	if (why == NULL)
	{
		memcpy(&len, hdr + 40, 8);
		memcpy(&sum, hdr + 48, 8);
		make_header(&s->props, want, len, sum);
		if (memcmp(hdr, want, PCACHE_HEADER_BYTES) != 0)
			why = "header does not match the device or driver";
		else if (len != (uint64_t) sb.st_size - PCACHE_HEADER_BYTES || len == 0)
			why = "length does not match the file";
	}
	if (why == NULL && (buf = rv_alloc(ctx, (size_t) len)) == NULL)
		why = "out of memory";
	if (why == NULL)
	{
		size_t		got = 0;

		while (got < len)
		{
			ssize_t		r = read(fd, buf + got, (size_t) len - got);

			if (r <= 0)
				break;
			got += (size_t) r;
		}
		if (got != len)
			why = "short read";
		else if (fnv1a(buf, (size_t) len) != sum)
			why = "checksum mismatch";
		else if (!driver_header_matches(&s->props, buf, (size_t) len))
			why = "driver data of another device";
	}
	close(fd);
	if (why != NULL)
	{
		rv_free(ctx, buf);
		s->pcache_stats.rejected = 1;
		rv_log(ctx, RV_LOG_DEBUG, "pipeline cache \"%s\" ignored: %s", path, why);
		return;
	}
	s->pcache_sum = sum;
	s->pcache_stats.loaded = 1;
	s->pcache_stats.load_bytes = (long) len;
	*data = buf;
	*n = (size_t) len;
}

/* Write all of buf to fd; 0 on success. */
static int
write_all(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n > 0)
	{
		ssize_t		w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t) w;
	}
	return 0;
}

/*
 * Write the context's VkPipelineCache to its file when the data changed since it was read
 * or last written (a temporary file renamed over it). Never fails the caller.
 */
void
rvk_pcache_save(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	char		path[RV_PATH_MAX + 128];
	char		tmp[RV_PATH_MAX + 192];
	unsigned char hdr[PCACHE_HEADER_BYTES];
	unsigned char *buf = NULL;
	size_t		n = 0;
	uint64_t	sum;
	VkResult	r;
	int			fd = -1;
	const char *why = NULL;

	if (s == NULL || s->device == VK_NULL_HANDLE || s->pcache == VK_NULL_HANDLE)
		return;
	rvk_pcache_path(ctx, path, sizeof(path));
	if (path[0] == '\0')
		return;
	r = s->fn.vkGetPipelineCacheData(s->device, s->pcache, &n, NULL);
	if (r != VK_SUCCESS || n == 0 || n > RV_PIPELINE_CACHE_MAX_BYTES)
	{
		rv_log(ctx, RV_LOG_DEBUG, "pipeline cache not saved: %zu bytes of data (%s)", n,
			   rvk_result_name(r));
		return;
	}
	buf = rv_alloc(ctx, n);
	if (buf == NULL)
		return;
	r = s->fn.vkGetPipelineCacheData(s->device, s->pcache, &n, buf);
	if (r != VK_SUCCESS)
	{
		rv_log(ctx, RV_LOG_DEBUG, "pipeline cache not saved: %s", rvk_result_name(r));
		rv_free(ctx, buf);
		return;
	}
	sum = fnv1a(buf, n);
	if (sum == s->pcache_sum)
	{
		rv_free(ctx, buf);
		return;
	}
	make_header(&s->props, hdr, n, sum);

	/* the directory, once (its parent must exist) */
	if (mkdir(ctx->pcache_dir, 0700) != 0 && errno != EEXIST)
		why = "cannot create the directory";
	if (why == NULL)
	{
		snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long) getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			why = "cannot create the temporary file";
	}
	if (why == NULL && (write_all(fd, hdr, sizeof(hdr)) != 0 || write_all(fd, buf, n) != 0))
		why = "write failed";
	if (fd >= 0 && close(fd) != 0 && why == NULL)
		why = "close failed";
	if (why == NULL && rename(tmp, path) != 0)
		why = "rename failed";
	if (why != NULL)
	{
		rv_log(ctx, RV_LOG_DEBUG, "pipeline cache \"%s\" not saved: %s (%s)", path, why,
			   strerror(errno));
		if (fd >= 0)
			(void) unlink(tmp);
	}
	else
	{
		s->pcache_sum = sum;
		s->pcache_stats.saves++;
		s->pcache_stats.save_bytes = (long) n;
	}
	rv_free(ctx, buf);
}

/* What the cache did since the device opened (zeros when no device is open). */
void
rvk_get_pcache_stats(rv_ctx *ctx, rvk_pcache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (ctx->vk != NULL)
		*out = ctx->vk->pcache_stats;
}
