/*
 * fewq_plain.comp — fewq.comp without subgroup operations, for devices whose compute
 * shaders lack subgroup arithmetic: one invocation per row (the body is in fewq.glsl).
 */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fewq.glsl"
