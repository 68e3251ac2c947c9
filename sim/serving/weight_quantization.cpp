#include "sim/serving/weight_quantization.hpp"

#include <algorithm>
#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {

std::int64_t default_group_size(Dtype d) {
  switch (d) {
    case Dtype::int8:
    case Dtype::int4: return 128;
    case Dtype::nf4: return 64;
    default: return 0;
  }
}

bool is_quantized(Dtype d) { return d == Dtype::int8 || d == Dtype::int4 || d == Dtype::nf4 || d == Dtype::fp8; }

void check_weight_format(const WeightFormat& f) {
  if (f.group_size < 0 || f.group_size > (1 << 20))
    throw ConfigError("quant_group_size", std::to_string(f.group_size), "must be between 1 and 1048576 (0 = default)");
  if (f.group_size != 0 && f.dtype != Dtype::int8 && f.dtype != Dtype::int4 && f.dtype != Dtype::nf4)
    throw ConfigError("quant_group_size", std::to_string(f.group_size),
                      std::string("applies to int8, int4 and nf4 weights, not ") + std::string(dtype_name(f.dtype)));
  if (f.double_quantization && f.dtype != Dtype::nf4)
    throw ConfigError("double_quantization", "true",
                      std::string("quantises nf4 block scales; the weights are ") + std::string(dtype_name(f.dtype)));
}

QuantizedTensor quantized_tensor(ElementCount n, const WeightFormat& f) {
  QuantizedTensor t;
  t.data = bytes_of(n, f.dtype);
  const std::int64_t g = f.group_size != 0 ? f.group_size : default_group_size(f.dtype);
  switch (f.dtype) {
    case Dtype::int8:
    case Dtype::int4:
      // One fp16 scale per group (symmetric; asymmetric AWQ/GPTQ also keep a 4-bit zero point per group).
      t.scales = bytes_of(ElementCount(detail::ceil_div(n.value, static_cast<std::uint64_t>(g))), Dtype::fp16);
      break;
    case Dtype::nf4: {
      const std::uint64_t blocks = detail::ceil_div(n.value, static_cast<std::uint64_t>(g));
      if (f.double_quantization)
        // QLoRA Sec. 3: the fp32 absmax constants are quantised to 8 bits in blocks of 256, each block with
        // one fp32 second-level constant.
        t.scales = bytes_of(ElementCount(blocks), Dtype::int8) +
                   bytes_of(ElementCount(detail::ceil_div(blocks, 256)), Dtype::fp32);
      else
        t.scales = bytes_of(ElementCount(blocks), Dtype::fp32);
      break;
    }
    case Dtype::fp8:
      t.scales = n.value == 0 ? Bytes(0) : Bytes(4);  // one fp32 per-tensor scale
      break;
    default: break;
  }
  return t;
}

std::string scale_label(const WeightFormat& f) {
  const std::string g = std::to_string(f.group_size != 0 ? f.group_size : default_group_size(f.dtype));
  switch (f.dtype) {
    case Dtype::int8:
    case Dtype::int4: return "fp16 per " + g;
    case Dtype::nf4:
      return f.double_quantization ? "int8 absmax per " + g + " + fp32 per 256 blocks" : "fp32 absmax per " + g;
    case Dtype::fp8: return "fp32 per matrix";
    default: return "none";
  }
}

RankWeights rank_weights(const ModelSpec& m, const ParallelConfig& p, const StageLayers& stage,
                         const RankParamShard& shard, const WeightFormat& format, Dtype other_dtype,
                         std::int64_t ways) {
  RankWeights w;
  // DeepSeek's first_dense_layers (global index) hold a dense MLP instead of the MoE block.
  std::int64_t dense_layers = 0;
  for (const auto& chunk : stage.chunks)
    dense_layers += std::max<std::int64_t>(
        0, std::min(chunk.first_layer + chunk.num_layers, m.first_dense_layers) - chunk.first_layer);
  ElementCount quantized(0);
  QuantizedTensor stage_total;
  for (const bool dense : {false, true}) {
    const auto layers = static_cast<std::uint64_t>(dense ? dense_layers : stage.num_layers - dense_layers);
    if (layers == 0) continue;
    for (const auto& item : layer_param_items(m, TensorSplit{p.tp, p.etp, p.ep}, dense)) {
      const std::string& n = item.name;
      if (n.size() < 7 || n.compare(n.size() - 7, 7, " weight") != 0) continue;  // biases, norms, router
      quantized += item.count * layers;
      const QuantizedTensor q = quantized_tensor(item.count, format);
      stage_total.data += q.data * layers;
      stage_total.scales += q.scales * layers;
      w.matrices += static_cast<std::int64_t>(layers);
    }
  }
  const ElementCount other = shard.total() - quantized;
  const auto k = static_cast<std::uint64_t>(ways);
  w.quantized_elements = ElementCount(detail::ceil_div(quantized.value, k));
  w.other_elements = ElementCount(detail::ceil_div(other.value, k));
  w.quantized.data = Bytes(detail::ceil_div(stage_total.data.value, k));
  w.quantized.scales = Bytes(detail::ceil_div(stage_total.scales.value, k));
  w.other = bytes_of(w.other_elements, other_dtype);
  return w;
}

}  // namespace trainmem::sim
