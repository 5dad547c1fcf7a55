/*
 * fewq.comp — top-k of 1 to 16 queries in one pass over the corpus, with subgroup
 * reductions (the body, and what it computes, is in fewq.glsl).
 */
#version 450
#extension GL_GOOGLE_include_directive : require
#define RV_FEWQ_SUBGROUP 1
#include "fewq.glsl"
