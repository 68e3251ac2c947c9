// Stored bytes of (possibly quantised) weights: packed elements plus their scales. int8/int4 are
// group-wise with one fp16 scale per group (GPTQ/AWQ group_size, default 128); nf4 keeps one absmax per
// 64-element block, fp32, or double-quantised to 8 bits with one fp32 scale per 256 blocks (Dettmers et al.
// 2023, QLoRA Sec. 3: 32/64 = 0.5 -> 8/64 + 32/(64*256) = 0.127 bits per parameter); fp8 one fp32 per matrix.
#pragma once

#include <cstdint>
#include <string>

#include "partition/dtype.hpp"
#include "partition/layer_assignment.hpp"
#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "partition/shard_plan.hpp"

namespace trainmem::sim {

struct WeightFormat {
  Dtype dtype = Dtype::bf16;
  std::int64_t group_size = 0;       // elements per scale; 0 = the format's default (int8/int4 128, nf4 64)
  bool double_quantization = false;  // nf4 only: absmax scales stored as int8 + fp32 per 256 blocks
};

// Default elements per scale: int8/int4 128 (GPTQ/AWQ group_size), nf4 64 (bitsandbytes blocksize), else 0.
std::int64_t default_group_size(Dtype dtype);
// Throws ConfigError for a bad group size, or a group size / double quantisation the dtype has no use for.
void check_weight_format(const WeightFormat& format);
bool is_quantized(Dtype dtype);  // int8, int4, nf4, fp8: carries scales

// One matrix of n elements: data bytes and scale bytes.
struct QuantizedTensor {
  Bytes data;
  Bytes scales;
  Bytes total() const { return data + scales; }
};
QuantizedTensor quantized_tensor(ElementCount n, const WeightFormat& format);
// Human label of the scales, e.g. "fp16 per 128", "int8 per 64 + fp32 per 256 blocks".
std::string scale_label(const WeightFormat& format);

// The weights one rank stores for one pipeline stage: the transformer layers' linear (matmul) weights in
// `format` (bitsandbytes, GPTQ and AWQ quantise exactly these; embeddings, LM head, norms, biases and
// routers stay in `other`), scales counted per matrix of each layer. `ways` > 1 shards both parts evenly
// (ZeRO-3 / FSDP over dp, ceil per part).
struct RankWeights {
  ElementCount quantized_elements;  // linear weights, after `ways` sharding
  ElementCount other_elements;      // everything else, after `ways` sharding
  std::int64_t matrices = 0;        // linear weight matrices of the stage (scale groups are per matrix)
  QuantizedTensor quantized;        // the linear weights in `format`
  Bytes other;                      // the rest in `other_dtype`
  Bytes total() const { return quantized.total() + other; }
};
RankWeights rank_weights(const ModelSpec& model, const ParallelConfig& parallel, const StageLayers& stage,
                         const RankParamShard& shard, const WeightFormat& format, Dtype other_dtype,
                         std::int64_t ways = 1);

}  // namespace trainmem::sim
