/*
 * vk/pipeline.c — compute pipelines. For each kernel of the table one descriptor-set
 * layout (its storage buffers) and one pipeline layout (plus its push-constant range);
 * for each (kernel, specialization values) variant one pipeline, built on first use
 * through the context's VkPipelineCache and kept until the device closes. The shader
 * module is only needed while the pipeline is created, so it is destroyed right after.
 * After a new pipeline the cache goes to disk (pcache.c), when a directory is set.
 */
#include <string.h>

#include "vk_internal.h"

/* Create kernel k's set layout and pipeline layout unless they exist. */
static rv_status
ensure_layout(rv_ctx *ctx, rvk_kernel_id k)
{
	rvk_state  *s = ctx->vk;
	const rvk_kernel *kn = rvk_kernel_get(k);
	VkDescriptorSetLayoutBinding b[RVK_MAX_BINDINGS];
	VkDescriptorSetLayoutCreateInfo dli;
	VkPushConstantRange pcr;
	VkPipelineLayoutCreateInfo pli;
	uint32_t	i;
	rv_status	st = RV_OK;

	if (s->layout[k] != VK_NULL_HANDLE)
		return RV_OK;
	memset(b, 0, sizeof(b));
	for (i = 0; i < kn->nbindings; i++)
	{
		b[i].binding = i;
		b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		b[i].descriptorCount = 1;
		b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
	}
	memset(&dli, 0, sizeof(dli));
	dli.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
	dli.bindingCount = kn->nbindings;
	dli.pBindings = b;
	if (s->dsl[k] == VK_NULL_HANDLE)
		RVK_TRY(s->fn.vkCreateDescriptorSetLayout(s->device, &dli, NULL, &s->dsl[k]));

	memset(&pcr, 0, sizeof(pcr));
	pcr.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
	pcr.offset = 0;
	pcr.size = kn->push_bytes;
	memset(&pli, 0, sizeof(pli));
	pli.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
	pli.setLayoutCount = 1;
	pli.pSetLayouts = &s->dsl[k];
	pli.pushConstantRangeCount = 1;
	pli.pPushConstantRanges = &pcr;
	RVK_TRY(s->fn.vkCreatePipelineLayout(s->device, &pli, NULL, &s->layout[k]));
cleanup:
	return st;
}

/*
 * The pipeline of kernel k specialized with spec[0..nspec-1] (constant ids 0, 1, ...);
 * built on first use, owned by the context.
 */
rv_status
rvk_pipeline(rv_ctx *ctx, rvk_kernel_id k, const uint32_t *spec, VkPipeline *out)
{
	rvk_state  *s = ctx->vk;
	const rvk_kernel *kn = rvk_kernel_get(k);
	VkShaderModuleCreateInfo smi;
	VkShaderModule mod = VK_NULL_HANDLE;
	VkSpecializationMapEntry ent[RVK_MAX_SPEC];
	VkSpecializationInfo si;
	VkComputePipelineCreateInfo cpi;
	uint32_t	key[RVK_MAX_SPEC];
	int			i;
	rv_status	st = RV_OK;

	*out = VK_NULL_HANDLE;
	memset(key, 0, sizeof(key));
	for (i = 0; i < (int) kn->nspec; i++)
		key[i] = spec[i];
	for (i = 0; i < s->npipes; i++)
	{
		if (s->pipes[i].kernel == k && memcmp(s->pipes[i].spec, key, sizeof(key)) == 0)
		{
			*out = s->pipes[i].pipeline;
			return RV_OK;
		}
	}
	if (s->npipes >= RVK_MAX_PIPES)
		return rv_fail(ctx, RV_E_INTERNAL, "too many Vulkan pipeline variants");
	if ((st = rvk_check_kernel(ctx, k)) != RV_OK)
		return st;
	if ((st = ensure_layout(ctx, k)) != RV_OK)
		return st;

	memset(&smi, 0, sizeof(smi));
	smi.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
	smi.codeSize = kn->spv_bytes;
	smi.pCode = kn->spv;
	RVK_TRY(s->fn.vkCreateShaderModule(s->device, &smi, NULL, &mod));

	for (i = 0; i < (int) kn->nspec; i++)
	{
		ent[i].constantID = (uint32_t) i;
		ent[i].offset = (uint32_t) (i * sizeof(uint32_t));
		ent[i].size = sizeof(uint32_t);
	}
	memset(&si, 0, sizeof(si));
	si.mapEntryCount = kn->nspec;
	si.pMapEntries = ent;
	si.dataSize = kn->nspec * sizeof(uint32_t);
	si.pData = key;

	memset(&cpi, 0, sizeof(cpi));
	cpi.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
	cpi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
	cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
	cpi.stage.module = mod;
	cpi.stage.pName = "main";
	cpi.stage.pSpecializationInfo = kn->nspec > 0 ? &si : NULL;
	cpi.layout = s->layout[k];
	RVK_TRY(s->fn.vkCreateComputePipelines(s->device, s->pcache, 1, &cpi, NULL,
										   &s->pipes[s->npipes].pipeline));
	s->pipes[s->npipes].kernel = k;
	memcpy(s->pipes[s->npipes].spec, key, sizeof(key));
	*out = s->pipes[s->npipes].pipeline;
	s->npipes++;
	/* a new process finds this pipeline on disk (many at once save once, at the end) */
	if (!s->pcache_defer)
		rvk_pcache_save(ctx);

cleanup:
	if (mod != VK_NULL_HANDLE)
		s->fn.vkDestroyShaderModule(s->device, mod, NULL);
	return st;
}

/* Destroy every pipeline and layout, newest first. */
void
rvk_pipelines_destroy(rv_ctx *ctx)
{
	rvk_state  *s = ctx->vk;
	int			i;

	for (i = s->npipes - 1; i >= 0; i--)
		s->fn.vkDestroyPipeline(s->device, s->pipes[i].pipeline, NULL);
	s->npipes = 0;
	for (i = RVK_NKERNELS - 1; i >= 0; i--)
	{
		if (s->layout[i] != VK_NULL_HANDLE)
			s->fn.vkDestroyPipelineLayout(s->device, s->layout[i], NULL);
		if (s->dsl[i] != VK_NULL_HANDLE)
			s->fn.vkDestroyDescriptorSetLayout(s->device, s->dsl[i], NULL);
		s->layout[i] = VK_NULL_HANDLE;
		s->dsl[i] = VK_NULL_HANDLE;
	}
}
